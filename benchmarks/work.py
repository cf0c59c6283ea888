"""The work in a suite, counted: FLOPs of training and of sampling for evaluation, per run, against
this machine's measured matrix-product throughput (issue 14's "how far from the compute bound").

    python benchmarks/work.py [--suite toy] [--seeds 3] [--threads 1] [--time]

For each run of the suite's first seed (every seed costs the same): floating-point operations of one
training step (`torch.utils.flop_counter`, which counts matrix products and convolutions: the
elementwise work is not counted) times its steps, and of the evaluation's sampling passes (every
sampler setting, `n_eval` samples). The compute floor divides the suite's FLOPs by the throughput
of one float32 matrix product of the networks' typical shape on `--threads` threads, times the
processes that share the cores (`cores / threads`). `--time` also times each run's training step
(median of 5 after a warm-up, on `--threads` threads), which is what tells overhead from compute:
measure alone. Evaluation metrics, plots and start-up are not counted (the closing note's profile
puts them at seconds a run).
"""
import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from genbench.config import settings  # noqa: E402
from genbench.data import dataset_shape  # noqa: E402
from genbench.metrics import matmul_gflops  # noqa: E402
from genbench.runner import build  # noqa: E402
from genbench.suites import plan, train_step_seconds  # noqa: E402
from genbench.train import Trainer  # noqa: E402


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def train_flops(cfg, shape) -> int:
    """FLOPs of one training step at the run's batch size (after one step, so that every lazy state exists)."""
    trainer = Trainer(build(cfg, shape), cfg.seed)
    x = torch.rand(cfg.hparams.batch_size, *shape) * 2 - 1
    y = torch.zeros(len(x), dtype=torch.long) if getattr(cfg.hparams, "conditional", False) else None
    trainer.step(x, 0, y)
    return flops(lambda: trainer.step(x, 1, y))


def sample_flops(cfg, shape, n: int = 64) -> int:
    """FLOPs of the evaluation's sampling: every setting, n_eval samples (counted on n, scaled)."""
    model = build(cfg, shape).eval()
    return sum(flops(lambda: model.sample(n, setting=s)) * cfg.n_eval // n for s in settings(cfg))


def variant(cfg) -> str:
    hp = cfg.hparams
    return f"T={hp.T}" if cfg.model == "ddgan" else ("v" if getattr(hp, "prediction", "eps") == "v" else "")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="toy")
    p.add_argument("--seeds", type=int, default=3, help="seeds the suite runs (the totals scale by it)")
    p.add_argument("--threads", type=int, default=1, help="threads of each process (a `--workers` suite: cores / workers)")
    p.add_argument("--time", action="store_true", help="also time each run's training step (run alone)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cores = os.cpu_count() or 1
    rate = matmul_gflops(calls=200)  # with the threads just set
    procs = max(1, cores // args.threads)
    print(f"matrix product {rate:.0f} GFLOP/s per process on {args.threads} thread(s), {procs} process(es) on {cores} cores")
    head = f"{'model':6} {'dataset':10} {'var':5} {'GFLOP/step':>10} {'steps':>6} {'train TFLOP':>11} {'sample TFLOP':>12}"
    print(head + (f" {'ms/step':>8} {'matmul share':>12}" if args.time else ""))
    total, by_family, step_sec = defaultdict(float), defaultdict(float), 0.0
    for cfg in plan(args.suite, [0]):
        shape = dataset_shape(cfg.dataset, cfg.image_size)
        step = train_flops(cfg, shape)
        train, sample = step * cfg.hparams.steps / 1e12, sample_flops(cfg, shape) / 1e12
        line = (f"{cfg.model:6} {cfg.dataset:10} {variant(cfg):5} {step / 1e9:10.3f} {cfg.hparams.steps:6} "
                f"{train:11.2f} {sample:12.2f}")
        if args.time:
            sec = train_step_seconds(cfg, args.threads, repeats=5)
            step_sec += sec * cfg.hparams.steps
            line += f" {sec * 1e3:8.2f} {step / 1e9 / rate / sec:12.0%}"
        print(line, flush=True)
        total["train"] += train
        total["sample"] += sample
        by_family[cfg.model] += train + sample
    s = args.seeds
    floor = (total["train"] + total["sample"]) * s * 1e3 / (rate * procs)
    print(f"\n{args.suite} suite, {s} seed(s): training {total['train'] * s:.0f} TFLOP, sampling {total['sample'] * s:.0f} "
          f"TFLOP; compute floor {floor / 60:.0f} min at {rate:.0f} GFLOP/s x {procs}")
    print("by family (TFLOP, all seeds): " + ", ".join(f"{m} {v * s:.0f}" for m, v in sorted(by_family.items(), key=lambda kv: -kv[1])))
    if args.time:
        print(f"training steps as timed: {step_sec * s / procs / 60:.0f} min of wall time with {procs} process(es)")


if __name__ == "__main__":
    main()
