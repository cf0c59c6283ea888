"""Performance targets of the main job and the 2-D families, optionally against an older commit.

    python benchmarks/perf.py [--baseline REV] [--repeats 5] [--skip-main-job]

Measures, for this tree (and for REV, checked out into a temporary git worktree, interleaved so
both see the same machine state):
  main job     wall seconds of `genbench run --model ddpm` into an empty results folder (target <= 60 s)
  ddgan step   ms per DDGAN training step on grid25 (defaults: R1 every step, EMA) through genbench's
               Trainer, and the same for a plain-MLP DDGAN of the same widths written inline here,
               same Adam (target: genbench <= 1.3x plain)
  image step   ms per DDGAN training step on digits (8x8, the image defaults: U-Net G, R1 every 15th
               step, so the median is a step without it) through genbench's Trainer
  sampling     seconds per 1,000 grid25 samples at batch 1,000: DDPM ancestral 1,000 steps and DDGAN
               4 steps (target: ratio >= 200x)
Each number is the median of --repeats after a warm-up (the main job: one run per tree). Run alone:
two torch processes on 2 cores slow each other down several times.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def plain_ddgan_step_ms(repeats: int) -> float:
    """A DDGAN training step as a researcher would write it in one function: G and D plain MLPs of
    the default widths (3 x 256, one-hot t, z of 8), the VP posterior, R1 on real x_t, the same Adam."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from models.ddgan import Config
    from models.diffusion import betas_from_alpha_bars, vp_alpha_bars
    cfg, d = Config(), 2

    def mlp(d_in, d_out, act):
        layers, w = [], d_in
        for _ in range(cfg.depth):
            layers += [nn.Linear(w, cfg.hidden), act()]
            w = cfg.hidden
        return nn.Sequential(*layers, nn.Linear(w, d_out))

    G = mlp(d + cfg.T + cfg.nz, d, nn.ReLU)
    D = mlp(2 * d + cfg.T, 1, lambda: nn.LeakyReLU(0.2))
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=(0.5, 0.9), fused=True)
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr_d, betas=(0.5, 0.9), fused=True)
    ab = vp_alpha_bars(cfg.T, cfg.beta_min, cfg.beta_max).float()
    ab = ab / ab[0]
    betas = betas_from_alpha_bars(ab)
    x = torch.randn(cfg.batch_size, d)

    def pairs():
        t = torch.randint(0, cfg.T, (len(x),))
        x_t = ab[t, None].sqrt() * x + (1 - ab[t, None]).sqrt() * torch.randn_like(x)
        x_tp1 = (1 - betas[t, None]).sqrt() * x_t + betas[t, None].sqrt() * torch.randn_like(x)
        return t, F.one_hot(t, cfg.T).float(), x_t, x_tp1

    def fake(t, onehot, x_tp1):
        x0 = G(torch.cat([x_tp1, onehot, torch.randn(len(x), cfg.nz)], 1))
        b, a1, a0 = betas[t, None], ab[t + 1, None], ab[t, None]
        mean = (a0.sqrt() * b * x0 + (1 - b).sqrt() * (1 - a0) * x_tp1) / (1 - a1)
        var = b * (1 - a0) / (1 - a1)
        return mean + (t > 0).float()[:, None] * var.sqrt() * torch.randn_like(x)

    def step():
        t, onehot, x_t, x_tp1 = pairs()
        x_t.requires_grad_(True)
        d_real = D(torch.cat([x_t, x_tp1, onehot], 1))
        grad, = torch.autograd.grad(d_real.sum(), x_t, create_graph=True)
        with torch.no_grad():
            x_fake = fake(t, onehot, x_tp1)
        loss_d = F.softplus(-d_real).mean() + F.softplus(D(torch.cat([x_fake, x_tp1, onehot], 1))).mean()
        opt_d.zero_grad()
        (loss_d + cfg.r1_gamma / 2 * grad.square().sum(1).mean()).backward()
        opt_d.step()
        t, onehot, _, x_tp1 = pairs()
        loss_g = F.softplus(-D(torch.cat([fake(t, onehot, x_tp1), x_tp1, onehot], 1))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    return _median_ms(step, repeats)


def genbench_step_ms(model: str, repeats: int, dataset: str = "grid25", shape=(2,), calls: int = 50) -> float:
    import torch
    from genbench.config import make_config
    from genbench.runner import build
    from genbench.train import Trainer
    trainer = Trainer(build(make_config(model, dataset, 0, {}), shape), seed=0)
    x = torch.randn(trainer.recipe.batch_size, *shape)
    step = iter(range(10 ** 9))
    return _median_ms(lambda: trainer.step(x, next(step)), repeats, calls)


def sampling_sec_per_1k(model: str, repeats: int) -> float:
    from genbench.config import make_config
    from genbench.metrics import median_seconds
    from genbench.runner import build
    net = build(make_config(model, "grid25", 0, {}), (2,)).eval()
    return median_seconds(lambda: net.sample(1000), repeats=repeats)


def _median_ms(fn, repeats: int, calls: int = 50) -> float:
    """Median over `repeats` of the mean ms of `calls` calls, after `calls` warm-up calls."""
    for _ in range(calls):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(times)


def worker(repeats: int) -> dict:
    """The in-process measurements of the tree this process imports genbench from."""
    import genbench
    print(f"measuring {Path(genbench.__file__).parent}", file=sys.stderr)
    return {"ddgan_step_ms": genbench_step_ms("ddgan", repeats), "plain_ddgan_step_ms": plain_ddgan_step_ms(repeats),
            "ddgan_image_step_ms": genbench_step_ms("ddgan", repeats, "digits", (1, 8, 8), calls=10),
            "ddpm_sample_s": sampling_sec_per_1k("ddpm", repeats), "ddgan_sample_s": sampling_sec_per_1k("ddgan", repeats)}


def in_tree(tree: Path, args: list[str], **kw) -> subprocess.CompletedProcess:
    """Run `python ARGS` with `tree`'s genbench and models packages first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, *args], cwd=tree, env=env, check=True, **kw)


def measure(tree: Path, repeats: int, main_job: bool) -> dict:
    script = str(ROOT / "benchmarks" / "perf.py")  # this file's worker, importing the tree's packages
    out = json.loads(in_tree(tree, [script, "--worker", "--repeats", str(repeats)], stdout=subprocess.PIPE,
                             text=True).stdout.splitlines()[-1])
    if main_job:
        with tempfile.TemporaryDirectory() as results:
            start = time.perf_counter()
            in_tree(tree, ["-m", "genbench", "run", "--model", "ddpm", "--results", results], capture_output=True)
            out["main_job_s"] = time.perf_counter() - start
    return out


def table(results: dict[str, dict]) -> None:
    rows = [("main job s (genbench run --model ddpm)", "main_job_s", "<= 60"),
            ("DDGAN 2-D step ms, genbench", "ddgan_step_ms", ""),
            ("DDGAN 2-D step ms, plain MLP inline", "plain_ddgan_step_ms", ""),
            ("DDGAN step, genbench / plain", "step_ratio", "<= 1.3"),
            ("DDGAN digits (8x8) step ms", "ddgan_image_step_ms", ""),
            ("DDPM-1000 s / 1k samples", "ddpm_sample_s", ""),
            ("DDGAN-4 s / 1k samples", "ddgan_sample_s", ""),
            ("DDPM-1000 / DDGAN-4 sampling time", "sample_ratio", ">= 200")]
    for r in results.values():
        r["step_ratio"] = r["ddgan_step_ms"] / r["plain_ddgan_step_ms"]
        r["sample_ratio"] = r["ddpm_sample_s"] / r["ddgan_sample_s"]
    names = list(results)
    print("| measurement | " + " | ".join(names) + " | target |")
    print("|---|" + "---|" * len(names) + "---|")
    for label, key, target in rows:
        cells = [f"{results[n][key]:.4g}" if key in results[n] else "-" for n in names]
        print(f"| {label} | " + " | ".join(cells) + f" | {target} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline", help="a git revision to measure too, e.g. HEAD~3")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-main-job", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.repeats)))
        return 0
    print(f"load average {os.getloadavg()[0]:.1f} (run alone)", flush=True)
    trees = {"this tree": ROOT}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            base = Path(tmp) / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
                           check=True, capture_output=True)
            trees = {args.baseline: base, **trees}
        try:
            results = {name: measure(tree, args.repeats, not args.skip_main_job) for name, tree in trees.items()}
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=True)
    table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
