"""Classifier-free guidance's trade-off, measured (issue 12).

    python benchmarks/guidance.py [--datasets digits,grid25,ring8] [--seeds 0] [--weights 0,0.5,1,2,4]
                                  [--sampler ddim --sample-steps 100] [--results results/bench-guidance]

For each dataset and seed: one `genbench run --model ddpm --set conditional=true` (the dataset's
default DDPM recipe, learning p(x | class) with the class dropped at p_uncond = 0.1), scored under
every guidance weight (one row each), then `genbench report`. Prints precision, recall, coverage,
modes and the headline quality per w, and checks the classic trade-off: precision at its best w
above w = 0's, and recall and coverage at the largest w below w = 0's.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from genbench.results import load_leaderboard


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="digits,grid25,ring8")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--weights", default="0,0.5,1,2,4")
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--sample-steps", default="100")
    ap.add_argument("--results", default="results/bench-guidance")
    args = ap.parse_args()
    results = Path(args.results)
    for dataset in args.datasets.split(","):
        for seed in args.seeds.split(","):
            subprocess.run([sys.executable, "-m", "genbench", "run", "--model", "ddpm", "--set", "conditional=true",
                            "--dataset", dataset, "--seed", seed, "--sampler", args.sampler, "--sample-steps",
                            args.sample_steps, "--guidance", args.weights, "--results", str(results), "--no-progress"],
                           check=True)
    subprocess.run([sys.executable, "-m", "genbench", "report", "--results", str(results)], check=True)
    board = load_leaderboard(results)
    for dataset, rows in board[board["model"] == "ddpm"].groupby("dataset", sort=False):
        quality = "fd_domain" if rows["fd_domain"].notna().any() else "fd"
        table = rows.groupby("guidance")[[quality, "precision", "recall", "coverage", "modes", "kl", "nfe"]].mean()
        with pd.option_context("display.width", 200, "display.precision", 4):
            print(f"== {dataset} (mean over {rows['seed'].nunique()} seed(s))\n{table}")
        first, last = table.iloc[0], table.iloc[-1]
        check(f"precision rises: best {table['precision'].max():.3f} (w={table['precision'].idxmax():g}) > "
              f"{first['precision']:.3f} at w=0", table["precision"].max() > first["precision"])
        for metric in ("recall", "coverage"):
            check(f"{metric} falls: {last[metric]:.3f} at w={table.index[-1]:g} < {first[metric]:.3f} at w=0",
                  last[metric] < first[metric])


def check(what: str, ok: bool) -> None:
    print(f"  {'PASS' if ok else 'FAIL'}  {what}")


if __name__ == "__main__":
    main()
