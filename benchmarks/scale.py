"""Training step time of DDPM and DDGAN on digits: one process vs `torchrun --nproc_per_node 2`
with the same global batch (gloo on CPU). Prints the median ms per step of each.

    python benchmarks/scale.py [--steps 20] [--ranks 2]
"""
import argparse
import os
import subprocess
import sys

import torch

STEP = """
import dataclasses, statistics, sys, time, torch
from genbench.data import get_dataset
from genbench.train import Trainer, draw_batch, join_torchrun, seed_everything
from models import MODELS, default_config
world, _ = join_torchrun("cpu")
data = get_dataset("digits")
for name in ("ddpm", "ddgan"):
    cfg = default_config(name, data.shape)
    seed_everything(0)
    trainer = Trainer(MODELS[name](cfg, data.shape), seed=0, world=world)
    rng, times = torch.Generator().manual_seed(0), []
    for step in range({steps} + 3):
        x, _ = draw_batch(data.train, cfg.batch_size, rng, False, world)
        t0 = time.perf_counter()
        trainer.step(x, step)
        times.append(time.perf_counter() - t0)
    if world.main:
        print(f"{{name}} {{world.size}} {{1000 * statistics.median(times[3:]):.0f}}", flush=True)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--ranks", type=int, default=2)
    args = ap.parse_args()
    code = STEP.format(steps=args.steps)
    cores = os.cpu_count()
    runs = {1: [sys.executable, "-c", code],
            args.ranks: ["torchrun", "--nproc_per_node", str(args.ranks), "--no-python", sys.executable, "-c", code]}
    print(f"torch {torch.__version__}, {cores} cores; global batch = each family's digits default; "
          f"ranks get {max(1, cores // args.ranks)} thread(s) each, one process gets {cores}")
    print(f"{'model':<6} {'processes':>9} {'ms/step':>8}")
    for ranks, cmd in runs.items():
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // ranks))}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
        for line in out.split("\n"):
            if line.strip():
                name, world, ms = line.split()
                print(f"{name:<6} {world:>9} {ms:>8}")


if __name__ == "__main__":
    main()
