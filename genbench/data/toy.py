"""Procedural 2-D data: Gaussian mixtures with known modes, and the swiss roll."""
import math

import torch


def grid25_means() -> torch.Tensor:
    """The 25 means {−4, −2, 0, 2, 4}² (VEEGAN/PacGAN's 2-D grid)."""
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(axis, axis)


def ring8_means(radius: float = 2.0) -> torch.Tensor:
    """8 means evenly spaced on a circle (radius 2; PacGAN's 2D-ring: 1)."""
    angle = torch.arange(8) * (2 * math.pi / 8)
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


def mixture(means: torch.Tensor, sigma: float, n: int, g: torch.Generator) -> torch.Tensor:
    """n draws from the equal-weight isotropic mixture Σ_k N(means[k], σ² I) / K."""
    k = torch.randint(len(means), (n,), generator=g)
    return means[k] + sigma * torch.randn(n, 2, generator=g)


def swissroll(n: int, g: torch.Generator, noise: float = 0.05) -> torch.Tensor:
    """The 2-D swiss roll: θ ~ U[1.5π, 4.5π], x = θ(cos θ, sin θ)/5 plus N(0, noise²) jitter."""
    theta = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    x = theta[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1) / 5
    return x + noise * torch.randn(n, 2, generator=g)
