"""Latent against pixel-space diffusion at equal NFE (issue 12): is diffusion in latent space cheaper?

    python benchmarks/latent.py [--datasets digits] [--seeds 0] [--steps 1000,100,10]
                                [--models ldm,ldm-f2,ddpm] [--results results/bench-latent]

For each dataset and seed: the default `genbench run --model ldm` (which first trains its VAE
autoencoder: a flat latent), `ldm-f2` (a VAE with a spatial latent, factor 2 and 4 channels,
kl_weight 0.01, trained first by `genbench run --model vae`, then the LDM on it: the paper's
spatial latent) and the default pixel-space `genbench run --model ddpm`, all scored with the
ancestral and DDIM samplers at the same steps; each a real subprocess, one after the other, so
their sampling times are measured alike. Prints FD-domain (against the real-data floor), precision,
recall, coverage, NFE and seconds per 1,000 samples side by side, and the time ratio to pixels.
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
    ap.add_argument("--models", default="ldm,ldm-f2,ddpm")
    ap.add_argument("--results", default="results/bench-latent")
    args = ap.parse_args()
    results = Path(args.results)
    for dataset in args.datasets.split(","):
        for seed in args.seeds.split(","):
            common = ["--dataset", dataset, "--seed", seed, "--results", str(results), "--no-progress"]
            for model in args.models.split(","):
                extra = []
                if model == "ldm-f2":
                    genbench("run", "--model", "vae", *SPATIAL_VAE, *common)
                    board = load_leaderboard(results)
                    vae = board[(board["model"] == "vae") & (board["hp_factor"] == 2) & (board["dataset"] == dataset)
                                & (board["seed"] == int(seed))]
                    model, extra = "ldm", ["--set", f"autoencoder={vae.iloc[-1]['run_id']}"]
                genbench("run", "--model", model, *extra, "--sampler", "ancestral,ddim", "--sample-steps", args.steps,
                         *common)
    board = load_leaderboard(results)
    board["variant"] = board["model"].where(board.get("hp_ae_factor", 0).fillna(0) == 0, "ldm-f2")
    cols = ["fd_domain", "precision", "recall", "coverage", "nfe", "sample_sec_per_1k", "train_sec"]
    for dataset, rows in board.groupby("dataset", sort=False):
        floor = rows[rows["model"] == "real"]["fd_domain"].mean()
        runs = rows[rows["model"].isin(["ldm", "ddpm"])]
        table = runs.groupby(["sampler", "sample_steps", "variant"])[cols].mean().unstack("variant")
        with pd.option_context("display.width", 250, "display.max_columns", 50, "display.precision", 4):
            print(f"== {dataset}: real-data floor FD-domain {floor:.3g}\n{table}")
        times = table["sample_sec_per_1k"]
        if "ddpm" in times:
            ratio = times.drop(columns="ddpm").rdiv(times["ddpm"], axis=0)
            print("pixel / latent sampling time at equal steps:\n" + ratio.round(1).to_string())


# the first stage of `ldm-f2`: 4 channels at half the side (digits: 4×4×4 = 64 numbers), nearly deterministic
SPATIAL_VAE = ["--set", "factor=2", "--set", "latent=4", "--set", "kl_weight=0.01"]


def genbench(*args):
    subprocess.run([sys.executable, "-m", "genbench", *args], check=True)


if __name__ == "__main__":
    main()
