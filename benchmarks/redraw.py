"""How much of a run's score is the luck of its evaluation draw: the metrics of saved runs over K
independent sample draws, and the real-data floor over K draws of real training samples.

    python benchmarks/redraw.py RUN_DIR [RUN_DIR ...] [--draws 10] [--floor-draws 50]

A run's row holds one draw (seed = the run's seed) of as many samples as the reference set has:
359 on digits, so its FD-domain moves by ±2-5 from draw to draw of the same trained model,
as much as many recipe changes do. Each run here is sampled again with seeds 100..100+K-1 and
scored against the same reference set; the floor is the mean over --floor-draws random subsets of
the training split (cheap: no sampling; the leaderboard's floor row averages up to 10, under the
data seed). Prints mean ± standard deviation over the draws and each run's mean FD against the
floor's mean.
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from genbench.evaluate import draw_samples, sample_metrics
from genbench.runner import RunError, image_features, load_data, load_run, real_draw

METRICS = ("fd_domain", "fd", "hq", "precision", "recall", "coverage", "modes", "kl")


def real_draws(data, features, draws: int) -> list[dict]:
    return [sample_metrics(real_draw(data, torch.Generator().manual_seed(1000 + k)), data, features)
            for k in range(draws)]


def model_draws(model, data, features, draws: int) -> list[dict]:
    return [sample_metrics(data.to_data(draw_samples(model, len(data.reference), 1000, 100 + k)[0]), data, features)
            for k in range(draws)]


def summary(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """Mean and sample sd of each metric over the draws (numpy: a KL of inf, no high-quality
    2-D sample in a draw, gives a mean of inf and an sd of nan, not an error)."""
    out = {}
    for k in METRICS:
        if k not in rows[0]:
            continue
        v = np.array([float(r[k]) for r in rows])
        out[k] = float(v.mean()), float(v.std(ddof=1)) if np.isfinite(v).all() else float("nan")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--floor-draws", type=int, default=50)
    args = ap.parse_args()
    if min(args.draws, args.floor_draws) < 2:
        ap.error("--draws and --floor-draws must be at least 2 (a standard deviation needs two)")
    floors = {}  # (dataset, n) -> (data, features, summary of the real draws)
    for run in args.runs:
        try:
            cfg, model = load_run(run)
        except RunError as e:
            raise SystemExit(f"redraw: error: {e}") from None
        if (cfg.dataset, cfg.n_eval) not in floors:
            data = load_data(cfg)
            features = image_features(cfg, data, log=lambda *a: None, progress=False)
            floors[cfg.dataset, cfg.n_eval] = data, features, summary(real_draws(data, features, args.floor_draws))
            print_row(f"real floor ({cfg.dataset}, n={len(data.reference)})", floors[cfg.dataset, cfg.n_eval][2])
        data, features, floor = floors[cfg.dataset, cfg.n_eval]
        stats = summary(model_draws(model, data, features, args.draws))
        fd = "fd_domain" if "fd_domain" in stats else "fd"
        print_row(f"{run.name} ({stats[fd][0] / floor[fd][0]:.2f}x the floor's mean {fd})", stats)


def print_row(name: str, stats: dict) -> None:
    print(f"{name}: " + "  ".join(f"{k} {m:.4g} ± {s:.2g}" for k, (m, s) in stats.items()), flush=True)


if __name__ == "__main__":
    main()
