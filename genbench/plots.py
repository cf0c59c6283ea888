"""Figures for one run: samples drawn over the real data."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def scatter_samples(samples: torch.Tensor, reference: torch.Tensor, path: Path, title: str) -> None:
    """2-D scatter of generated points (orange) over held-out real points (grey)."""
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.scatter(*reference[:5000].T, s=2, c="0.6", alpha=0.5, label="real (held-out)", rasterized=True)
    ax.scatter(*samples[:5000].T, s=2, c="tab:orange", alpha=0.6, label="generated", rasterized=True)
    lim = float(reference.abs().max()) * 1.25
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="$x_1$", ylabel="$x_2$", title=title, aspect="equal")
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
