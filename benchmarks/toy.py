"""The 2-D trilemma benchmark: default `genbench run` of every model on grid25, seeds 0-2.

    python benchmarks/toy.py [--seeds 0,1,2] [--models vae,gan,ddpm,ddgan] [--results results/bench-toy]

Each run is a real `genbench run` subprocess (the command users type), timed end to end.
Prints per-model mean ± std over seeds, the ddpm/ddgan sampling-time ratio from this one
benchmark, and each issue target as PASS/FAIL.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from genbench.results import load_leaderboard

COLS = ["modes", "hq", "kl", "fd", "precision", "recall", "coverage", "nfe", "sample_sec_per_1k", "train_sec", "wall_sec"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--models", default="vae,gan,ddpm,ddgan")
    ap.add_argument("--results", default="results/bench-toy")
    args = ap.parse_args()
    results = Path(args.results)
    walls = []
    for seed in args.seeds.split(","):
        for model in args.models.split(","):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "genbench", "run", "--model", model, "--seed", seed,
                            "--results", str(results), "--no-progress"], check=True)
            walls.append(time.perf_counter() - start)
            print(f"[{model} seed {seed}: {walls[-1]:.0f} s wall]", flush=True)
    board = load_leaderboard(results).tail(len(walls)).assign(wall_sec=walls)
    table = board.groupby("model", sort=False)[COLS].agg(["mean", "std"])
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.precision", 4):
        print(table)
    report_targets(board)


def report_targets(board: pd.DataFrame) -> None:
    by = dict(tuple(board.groupby("model")))
    checks = [("every run (train + evaluate) <= 300 s wall", (board["wall_sec"] <= 300).all())]
    if "ddpm" in by:
        d = by["ddpm"]
        checks.append(("ddpm 25/25 modes and hq >= 0.90", ((d["modes"] == 25) & (d["hq"] >= 0.9)).all()))
    if "ddgan" in by:
        d = by["ddgan"]
        checks.append(("ddgan 25/25 modes, hq >= 0.90, kl <= 0.05, nfe 4",
                       ((d["modes"] == 25) & (d["hq"] >= 0.9) & (d["kl"] <= 0.05) & (d["nfe"] == 4)).all()))
    if "ddpm" in by and "ddgan" in by:
        ratio = by["ddpm"]["sample_sec_per_1k"].median() / by["ddgan"]["sample_sec_per_1k"].median()
        checks.append((f"sample_sec_per_1k ddpm / ddgan = {ratio:.0f} >= 100", ratio >= 100))
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
