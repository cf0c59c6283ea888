"""Figures for one run: generated points over the real data (2-D), or a grid of images."""
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from .results import atomic_write  # noqa: E402


def save_figure(fig, path: Path) -> None:
    """Render to memory, then write atomically: a full disk leaves no truncated picture."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    atomic_write(Path(path), buf.getvalue())


def plot_samples(samples: torch.Tensor, reference: torch.Tensor, path: Path, title: str) -> None:
    if samples.dim() == 4:
        image_grid(samples, path, title, reference)
    else:
        scatter_samples(samples, reference, path, title)


def scatter_samples(samples: torch.Tensor, reference: torch.Tensor, path: Path, title: str) -> None:
    """2-D scatter of generated points (orange) over held-out real points (grey)."""
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    ax.scatter(*reference[:5000].T, s=2, c="0.6", alpha=0.5, label="real (held-out)", rasterized=True)
    ax.scatter(*samples[:5000].T, s=2, c="tab:orange", alpha=0.6, label="generated", rasterized=True)
    # a square window on the real data (a user's data need not sit around the origin)
    lo, hi = reference.min(0).values, reference.max(0).values
    centre, half = (lo + hi) / 2, float((hi - lo).max()) * 0.625
    ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
           xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    ax.set_title(title, fontsize=10, wrap=True)
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def image_grid(samples: torch.Tensor, path: Path, title: str, reference: torch.Tensor | None = None, n: int = 64) -> None:
    """The first n images in [−1, 1] as an 8-wide grid, pixels drawn as blocks (no smoothing); with
    `reference`, its first n real images in a second grid beside them, to compare by eye."""
    grids = [("generated", samples)] + ([("real (held-out)", reference)] if reference is not None else [])
    fig, axes = plt.subplots(1, len(grids), figsize=(5 * len(grids), 5.3), dpi=120, squeeze=False)
    for ax, (name, images) in zip(axes[0], grids):
        grid = make_grid((images[:n].float().clamp(-1, 1) + 1) / 2, nrow=8, padding=1, pad_value=1.0)  # (3, H, W)
        ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set(title=name if reference is not None else title, xticks=[], yticks=[])
    if reference is not None:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
