"""Datasets by name. Each is a seeded draw with a train split and a held-out reference split."""
from dataclasses import dataclass
from functools import partial

import torch

from . import toy


@dataclass(frozen=True)
class Dataset:
    name: str
    train: torch.Tensor             # (N, *shape), in data space
    reference: torch.Tensor         # held-out draw the metrics compare against
    means: torch.Tensor | None = None   # mixture modes (K, 2), for the mode metrics
    sigma: float | None = None

    @property
    def shape(self) -> tuple:
        return tuple(self.train.shape[1:])


# name -> (draw(n, generator), means, sigma)
_TOY = {
    "grid25": (partial(toy.mixture, toy.grid25_means(), 0.05), toy.grid25_means(), 0.05),
    "ring8": (partial(toy.mixture, toy.ring8_means(), 0.02), toy.ring8_means(), 0.02),
    "swissroll": (toy.swissroll, None, None),
}
DATASETS = tuple(_TOY)
N_TRAIN = 100_000


def get_dataset(name: str, n_reference: int = 10_000, data_seed: int = 0) -> Dataset:
    """The named dataset. The data seed is fixed and separate from the run seed, so every model
    sees the same draw; train and reference come from disjoint streams of that seed."""
    if name not in _TOY:
        raise KeyError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    draw, means, sigma = _TOY[name]
    g = torch.Generator().manual_seed(data_seed)
    train = draw(n=N_TRAIN, g=g)
    reference = draw(n=n_reference, g=g)
    return Dataset(name, train, reference, means, sigma)
