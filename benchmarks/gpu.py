"""Speed of the `paper-cifar10` networks on one GPU: training images/s at each paper's per-GPU batch
(DDPM 128; DDGAN 64, its 256 over 4 GPUs) in fp32 eager against bf16 + torch.compile, and sampling
seconds per 100 images (DDPM 1000 ancestral steps, DDIM 50, DDGAN 4; fp32, as genbench evaluates),
beside DDGAN Table 1's V100 figures (DDPM 80.5 s, DDGAN 0.21 s per 100 images). The data are random
tensors of CIFAR-10's shape: speed only, so the dataset need not be on the machine.

    python benchmarks/gpu.py [--device cuda] [--budget 420] [--out gpu.json]
    python benchmarks/gpu.py --device cpu --tiny     # checks this script on a CPU (~8 min here, compiling)

Measurements run in order of importance and stop at `--budget` seconds (compiling takes minutes);
what was skipped is printed.
"""
import argparse
import dataclasses
import json
import time

import torch

from genbench.data import dataset_shape
from genbench.metrics.timing import timed
from genbench.runner import build
from genbench.suites import plan
from genbench.train import Trainer, seed_everything

PER_GPU_BATCH = {"ddpm": 128, "ddgan": 64}
SAMPLERS = [("ddpm", "ancestral", 1000, 80.5), ("ddpm", "ddim", 50, None), ("ddgan", "posterior", 4, 0.21)]
TINY = {"ch": 16, "res_blocks": 1}   # --tiny: the same code on small networks, for a CPU


def configs(device: str, tiny: bool) -> dict:
    cfgs = {}
    for cfg in plan("paper-cifar10", [0]):
        hp = dataclasses.replace(cfg.hparams, batch_size=2 if tiny else PER_GPU_BATCH[cfg.model],
                                 **(TINY if tiny else {}))
        cfgs[cfg.model] = dataclasses.replace(cfg, hparams=hp, device=device)
    return cfgs


def train_speed(cfg, precision: str, compile: bool, steps: int) -> dict:
    """Images/s over `steps` timed training steps, after warm-up steps that compile (timed apart);
    DDGAN's steps include its lazy R1 (every 15th) in their share."""
    seed_everything(0)
    trainer = Trainer(build(cfg, dataset_shape(cfg.dataset)), seed=0, precision=precision, compile=compile)
    batch = cfg.hparams.batch_size
    x = torch.rand((batch, *dataset_shape(cfg.dataset)), device=cfg.device) * 2 - 1
    _, warm = timed(lambda: [trainer.step(x, i) for i in range(2)], cfg.device)
    _, sec = timed(lambda: [trainer.step(x, i) for i in range(2, 2 + steps)], cfg.device)
    return {"warmup_s": round(warm, 1), "images_per_s": round(batch * steps / sec, 1),
            "ms_per_step": round(1000 * sec / steps, 2), "params": sum(p.numel() for p in trainer.model.parameters())}


def sample_speed(model, sampler: str, steps: int, n: int, device: str) -> float:
    """Seconds per 100 samples of one batch of n, after one untimed batch (warm-up, compilation)."""
    setting = type(model).resolve(model.cfg, sampler, steps)
    draw = lambda: model.sample(n, generator=torch.Generator(device).manual_seed(0), setting=setting)
    draw()
    return timed(draw, device)[1] * 100 / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--budget", type=float, default=420, help="seconds; later measurements are skipped past it")
    ap.add_argument("--tiny", action="store_true", help="small networks and batches: check the script on a CPU")
    ap.add_argument("--out", help="also write the results to this JSON file")
    args = ap.parse_args()
    start, results, skipped = time.perf_counter(), {"device": args.device, "torch": torch.__version__}, []
    if args.device.startswith("cuda"):  # as genbench run does on CUDA
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        results["gpu"] = torch.cuda.get_device_name()
    cfgs, steps, n = configs(args.device, args.tiny), 3 if args.tiny else 30, 4 if args.tiny else 100
    print(f"{results.get('gpu', args.device)}, torch {torch.__version__}")

    def within_budget(what: str) -> bool:
        if time.perf_counter() - start < args.budget:
            return True
        skipped.append(what)
        return False

    models = {}
    for precision, compile in (("fp32", False), ("bf16", True)):
        for name, cfg in cfgs.items():
            what = f"train {name} {precision}{' compiled' if compile else ''}"
            if within_budget(what):
                results[what] = train_speed(cfg, precision, compile, steps)
                print(what, results[what], flush=True)
        if not compile:  # sampling as genbench evaluates: fp32, eager (weights untrained: speed only)
            for name, sampler, k, v100 in SAMPLERS:
                what = f"sample {name} {sampler} {k}"
                if within_budget(what):
                    if name not in models:
                        seed_everything(0)
                        models[name] = build(cfgs[name], dataset_shape(cfgs[name].dataset))
                    results[what] = {"s_per_100": round(sample_speed(models[name], sampler, k, n, args.device), 3),
                                     "v100_paper_s_per_100": v100}
                    print(what, results[what], flush=True)
    results["skipped (budget)"] = skipped
    results["total_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
