"""Latent against pixel-space diffusion at equal NFE (issue 12): is diffusion in latent space cheaper?

    python benchmarks/latent.py [--datasets digits] [--seeds 0] [--steps 1000,100,10]
                                [--results results/bench-latent]

For each dataset and seed: the default `genbench run --model ldm` (which first trains its VAE
autoencoder) and the default pixel-space `genbench run --model ddpm`, both scored with the
ancestral and DDIM samplers at the same steps; each a real subprocess, one after the other, so
their sampling times are measured alike. Prints FD-domain (against the real-data floor), precision,
recall, coverage, NFE and seconds per 1,000 samples side by side, and the time ratio.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from genbench.results import load_leaderboard


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="digits")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--steps", default="1000,100,10")
    ap.add_argument("--results", default="results/bench-latent")
    args = ap.parse_args()
    results = Path(args.results)
    for dataset in args.datasets.split(","):
        for seed in args.seeds.split(","):
            for model in ("ldm", "ddpm"):
                subprocess.run([sys.executable, "-m", "genbench", "run", "--model", model, "--dataset", dataset,
                                "--seed", seed, "--sampler", "ancestral,ddim", "--sample-steps", args.steps,
                                "--results", str(results), "--no-progress"], check=True)
    board = load_leaderboard(results)
    cols = ["fd_domain", "precision", "recall", "coverage", "nfe", "sample_sec_per_1k", "train_sec"]
    for dataset, rows in board.groupby("dataset", sort=False):
        floor = rows[rows["model"] == "real"]["fd_domain"].mean()
        runs = rows[rows["model"].isin(["ldm", "ddpm"])]
        table = runs.groupby(["sampler", "sample_steps", "model"])[cols].mean().unstack("model")
        with pd.option_context("display.width", 250, "display.max_columns", 50, "display.precision", 4):
            print(f"== {dataset}: real-data floor FD-domain {floor:.3g}\n{table}")
        ratio = table["sample_sec_per_1k"]["ddpm"] / table["sample_sec_per_1k"]["ldm"]
        print("pixel / latent sampling time at equal steps:\n" + ratio.round(1).to_string())


if __name__ == "__main__":
    main()
