"""Progressive distillation against its own teacher's DDIM at equal NFE (issue 12's targets).

    python benchmarks/pd.py [--datasets grid25,ring8,swissroll] [--seeds 0] [--results results/bench-pd]

For each dataset and seed: `genbench run --model pd` (which first trains the default teacher, the
dataset's default DDPM predicting v on the cosine schedule, and scores its DDIM at the students'
steps), then the same teacher run once more with `--sampler ddim --sample-steps 50` for its DDIM-50
row. Each command is a real subprocess. Prints, per dataset, PD and DDIM side by side at every NFE
and the targets as PASS/FAIL: on 2-D, the 4-step student has >= 24 of 25 modes (grid25) and
precision within 0.05 of the teacher's DDIM-50, and beats DDIM on precision at 4 and 2 NFE; on
images, the 4-step student is closer to the real-data floor in FD-domain than DDIM-4.
"""
import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from genbench.results import load_leaderboard


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="grid25,ring8,swissroll")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--results", default="results/bench-pd")
    args = ap.parse_args()
    results = Path(args.results)
    for dataset in args.datasets.split(","):
        for seed in args.seeds.split(","):
            common = ["--dataset", dataset, "--seed", seed, "--results", str(results), "--no-progress"]
            genbench("run", "--model", "pd", *common)
            genbench("run", "--model", "ddpm", "--set", "prediction=v", "--set", "schedule=cosine", "--sampler", "ddim",
                     "--sample-steps", "50", *common)
    board = load_leaderboard(results)
    for dataset, rows in board.groupby("dataset", sort=False):
        report(dataset, rows)


def genbench(*args):
    subprocess.run([sys.executable, "-m", "genbench", *args], check=True)


def report(dataset: str, rows: pd.DataFrame) -> None:
    image = rows["fd_domain"].notna().any() if "fd_domain" in rows else False
    quality = "fd_domain" if image else "fd"
    cols = [quality, "precision", "recall", "coverage", "modes", "sample_sec_per_1k"]
    runs = rows[rows["model"].isin(["pd", "ddpm"])]
    table = runs.groupby(["model", "nfe"])[cols].mean().unstack(0).swaplevel(0, 1, axis=1).sort_index(axis=1)
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.precision", 4):
        print(f"== {dataset} (mean over {runs['seed'].nunique()} seed(s))\n{table.sort_index(ascending=False)}")
    pd_row = lambda nfe: runs[(runs["model"] == "pd") & (runs["nfe"] == nfe)][cols].mean()  # noqa: E731
    ddim = lambda nfe: runs[(runs["model"] == "ddpm") & (runs["nfe"] == nfe)][cols].mean()  # noqa: E731
    if image:
        floor = rows[rows["model"] == "real"][quality].mean()
        check(f"4-step student closer to the floor ({floor:.3g}) in FD-domain than DDIM-4",
              pd_row(4)[quality] - floor < ddim(4)[quality] - floor)
        return
    if "modes" in rows and rows["modes"].notna().any() and dataset == "grid25":
        check(f"4-step student >= 24/25 modes ({pd_row(4)['modes']:.1f})", pd_row(4)["modes"] >= 24)
    check(f"4-step precision {pd_row(4)['precision']:.3f} within 0.05 of DDIM-50's {ddim(50)['precision']:.3f}",
          pd_row(4)["precision"] >= ddim(50)["precision"] - 0.05)
    for nfe in (4, 2):
        check(f"{nfe} NFE: PD precision {pd_row(nfe)['precision']:.3f} > DDIM's {ddim(nfe)['precision']:.3f}",
              pd_row(nfe)["precision"] > ddim(nfe)["precision"])


def check(what: str, ok: bool) -> None:
    print(f"  {'PASS' if ok else 'FAIL'}  {what}")


if __name__ == "__main__":
    main()
