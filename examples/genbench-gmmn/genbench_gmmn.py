"""GMMN: a generative moment matching network (Li, Swersky & Zemel 2015), an example genbench plugin.

A generator G maps z ~ N(0, I) to a sample and is trained alone, without a discriminator, by
minimising the squared maximum mean discrepancy between a generated batch Y and a data batch X
(the paper's Eq. 3, the biased estimate, with a mixture of Gaussian kernels as in its §3):
    MMD² = mean k(x, x') − 2 mean k(x, y) + mean k(y, y'),  k = Σ_σ exp(−‖a − b‖² / 2σ²).
Departure: the bandwidths are σ ∈ {0.05, 0.1, 0.2, 0.5, 1, 2} · √d for d-dimensional data (genbench's
2-D points are standardised and images lie in [−1, 1]); the paper picked its σ per dataset.

This file and its pyproject.toml are the whole plugin: `pip install ./examples/genbench-gmmn`,
then `genbench list`, `genbench check-model gmmn` and `genbench run --model gmmn` see it.
"""
from dataclasses import dataclass
from math import prod, sqrt

import torch
from torch import nn

from models.family import check_ranges, one_step, sampling
from models.nets import mlp
from models.recipe import Recipe

BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Config(Recipe):
    nz: int = 8
    hidden: int = 256
    depth: int = 3
    lr: float = 1e-3
    batch_size: int = 512
    steps: int = 4000
    lr_schedule: str = "cosine"

    def __post_init__(self):
        super().__post_init__()
        check_ranges(self, positive=("nz", "hidden", "depth", "lr"))


IMAGE_CONFIG = Config(nz=32, hidden=512, lr=2e-4, batch_size=256)


def mmd2(x: torch.Tensor, y: torch.Tensor, sigmas) -> torch.Tensor:
    """The biased squared MMD between the rows of x and y under a sum of Gaussian kernels."""
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).square()
    k = sum(torch.exp(-d2 / (2 * s * s)) for s in sigmas)
    n = x.shape[0]
    return k[:n, :n].mean() - 2 * k[:n, n:].mean() + k[n:, n:].mean()


class GMMN(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("generator",)
    SAMPLING_NETS = ("generator",)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape = cfg, tuple(data_shape)
        d = prod(self.data_shape)
        self.generator = mlp(cfg.nz, d, cfg.hidden, cfg.depth, act=nn.ReLU)
        self.sigmas = [s * sqrt(d) for s in BANDWIDTHS]

    def players(self) -> dict[str, dict]:
        return {"generator": dict(lr=self.cfg.lr)}

    def train_step(self, x, noise, regularise=True, y=None):
        fake = self.generator(noise.randn(x.shape[0], self.cfg.nz))
        loss = mmd2(x.reshape(x.shape[0], -1), fake, self.sigmas)
        yield "generator", loss, {"mmd2": loss}

    @classmethod
    def resolve(cls, cfg, sampler=None, steps=None, **options):
        return one_step(cls, sampler, steps, **options)

    @sampling
    def sample(self, n, generator=None, setting=None, on_step=None):
        device = next(self.generator.parameters()).device
        z = torch.randn((n, self.cfg.nz), generator=generator, device=device)
        return self.generator(z).view(n, *self.data_shape)
