"""Mode metrics for Gaussian mixtures with known means (VEEGAN / PacGAN convention)."""
import math

import torch


def mixture_modes(samples: torch.Tensor, means: torch.Tensor, sigma: float) -> dict:
    """A sample is high-quality if it lies within 3σ of its nearest mean; a mode is covered if at
    least one high-quality sample is nearest to it. KL is the reverse KL(p ‖ uniform) of the
    high-quality samples' mode histogram p: 0 when balanced, log K when all in one mode, and
    inf when there is no high-quality sample at all."""
    d = torch.cdist(samples.double(), means.double())  # (N, K)
    dist, nearest = d.min(1)
    hq = dist < 3 * sigma
    return {**class_modes(nearest[hq], len(means)), "hq": float(hq.double().mean())}


def class_modes(labels: torch.Tensor, num_classes: int) -> dict:
    """Modes = distinct labels among the samples (PacGAN's count on Stacked MNIST: a 3-digit code
    per sample); KL = reverse KL(p ‖ uniform) of the label histogram p, inf when there are none."""
    counts = torch.bincount(labels, minlength=num_classes).double()
    total = counts.sum()
    if total == 0:
        kl = math.inf
    else:
        p = counts[counts > 0] / total
        kl = float((p * (p * num_classes).log()).sum())
    return {"modes": int((counts > 0).sum()), "modes_total": num_classes, "kl": kl}
