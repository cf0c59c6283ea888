"""Image data: scikit-learn's bundled 8×8 digits, stacked triples, and the pixel conventions.

Real images live on the uint8 grid (0..255) and are scaled to [−1, 1] for the models. Generated
images are quantised back to that grid before any feature extraction, so real and generated
images reach the metrics through the same path.
"""
import torch
import torch.nn.functional as F

DIGITS_HELD_OUT = 0.2   # share of the 1,797 digits kept out of training, as the reference set
CODE = torch.tensor([100, 10, 1])   # stacked label = d0·100 + d1·10 + d2


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [−1, 1]."""
    return x.float() / 127.5 - 1


def quantize(x: torch.Tensor) -> torch.Tensor:
    """float in [−1, 1] -> uint8, rounding to the nearest level and clipping what lies outside."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 images resampled (bilinear, antialiased) to size × size, back on the uint8 grid."""
    if size is None or size == x.shape[-1]:
        return x
    y = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y.round().clamp(0, 255).to(torch.uint8)


def load_digits(data_seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, held-out images, held-out labels): uint8 (N, 1, 8, 8) digits,
    split 80/20 by a permutation of the data seed."""
    from sklearn.datasets import load_digits as sklearn_digits  # bundled with scikit-learn, no download
    d = sklearn_digits()
    x = (torch.from_numpy(d.images).float() * (255 / 16)).round().to(torch.uint8)[:, None]  # 0..16 -> 0..255
    y = torch.from_numpy(d.target).long()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(data_seed))
    n_held = round(DIGITS_HELD_OUT * len(x))
    held, train = perm[:n_held], perm[n_held:]
    return x[train], y[train], x[held], y[held]


def stack(images: torch.Tensor, labels: torch.Tensor, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n images made of three independently drawn single-channel images as R, G, B, and their
    3-digit codes: the 1,000-mode construction of Stacked MNIST (Metz et al. 2017)."""
    idx = torch.randint(len(images), (n, 3), generator=g)
    x = images[idx].flatten(1, 2)  # (n, 3, 1, H, W) -> (n, 3, H, W)
    return x, labels[idx] @ CODE
