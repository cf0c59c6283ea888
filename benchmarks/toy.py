"""The 2-D trilemma benchmark: default `genbench run` of every model, seeds 0-2.

    python benchmarks/toy.py [--seeds 0,1,2] [--models vae,gan,ddpm,ddgan] [--datasets grid25]
                             [--results results/bench-toy]

Datasets: any genbench name, or `rotated-grid` (grid25 turned by 30°, scaled ×40 and shifted to
(1000, −500)) and `random-mixture` (12 Gaussians at seeded random places, σ 0.05 of the spread):
mixtures no recipe was tuned on, written as .npz files into the results folder and run through
`--dataset PATH.npz`. Each run is a real `genbench run` subprocess (the command users type), timed
end to end. Prints per-dataset, per-model mean ± std over seeds, the ddpm/ddgan sampling-time
ratio from this one benchmark, and each issue target as PASS/FAIL.
"""
import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from genbench.data.toy import grid25_means, mixture
from genbench.results import load_leaderboard

COLS = ["modes", "hq", "kl", "fd", "precision", "recall", "coverage", "nfe", "sample_sec_per_1k", "train_sec", "wall_sec"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--models", default="vae,gan,ddpm,ddgan")
    ap.add_argument("--datasets", default="grid25")
    ap.add_argument("--results", default="results/bench-toy")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="passed to every run")
    args = ap.parse_args()
    results = Path(args.results)
    datasets = [untuned_mixture(name, results) if name in UNTUNED else name for name in args.datasets.split(",")]
    walls = []
    for seed in args.seeds.split(","):
        for dataset in datasets:
            for model in args.models.split(","):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "genbench", "run", "--model", model, "--seed", seed,
                                "--dataset", dataset, "--results", str(results), "--no-progress",
                                *[f"--set={a}" for a in args.set]], check=True)
                walls.append(time.perf_counter() - start)
                print(f"[{model} on {dataset}, seed {seed}: {walls[-1]:.0f} s wall]", flush=True)
    board = load_leaderboard(results)
    board = board[board["model"] != "real"].tail(len(walls)).assign(wall_sec=walls)
    table = board.groupby(["dataset", "model"], sort=False)[COLS].agg(["mean", "std"])
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.precision", 4):
        print(table)
    for dataset, rows in board.groupby("dataset", sort=False):
        print(f"-- {dataset}")
        report_targets(rows)


UNTUNED = ("rotated-grid", "random-mixture")


def untuned_mixture(name: str, results: Path) -> str:
    """Write one of the UNTUNED mixtures as an .npz (train 100k, test 10k, modes, sigma); its path."""
    g = torch.Generator().manual_seed(123)
    if name == "rotated-grid":
        a = math.radians(30)
        rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        means, sigma = grid25_means() @ rot.T * 40 + torch.tensor([1000.0, -500.0]), 0.05 * 40
    else:  # 12 means uniform in a 10 × 10 box, at least 1.5 apart (≥ 6σ between neighbours' 3σ discs)
        means = torch.empty(0, 2)
        while len(means) < 12:
            m = 10 * torch.rand(1, 2, generator=g)
            if len(means) == 0 or torch.cdist(m, means).min() >= 1.5:
                means = torch.cat([means, m])
        sigma = 0.05 * float(means.std(0).mean())
    path = results / f"{name}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # same bytes every time: the runs are named by the file's content
        np.savez(path, train=mixture(means, sigma, 100_000, g).numpy(), test=mixture(means, sigma, 10_000, g).numpy(),
                 modes=means.numpy(), sigma=np.float64(sigma))
    return str(path)


def report_targets(board: pd.DataFrame) -> None:
    by = dict(tuple(board.groupby("model")))
    checks = [("every run (train + evaluate) <= 600 s wall", (board["wall_sec"] <= 600).all())]
    all_modes = board["modes"] == board["modes_total"]
    if "gan" in by:
        d = by["gan"]
        checks.append(("gan >= 80 % of the modes", (d["modes"] >= 0.8 * d["modes_total"]).all()))
    if "ddpm" in by:
        d = by["ddpm"]
        checks.append(("ddpm all modes and hq >= 0.90", (all_modes[d.index] & (d["hq"] >= 0.9)).all()))
    if "ddgan" in by:
        d = by["ddgan"]
        checks.append(("ddgan all modes, hq >= 0.90, kl <= 0.05",
                       (all_modes[d.index] & (d["hq"] >= 0.9) & (d["kl"] <= 0.05)).all()))
    if "ddpm" in by and "ddgan" in by:
        ratio = by["ddpm"]["sample_sec_per_1k"].median() / by["ddgan"]["sample_sec_per_1k"].median()
        checks.append((f"sample_sec_per_1k ddpm / ddgan = {ratio:.0f} >= 100", ratio >= 100))
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
