"""Shared by every family: range checks for Config dataclasses (so a bad `--set` fails before any
work), sampler validation, and the `sampling` decorator."""
import functools

import torch


def check_ranges(cfg, positive=(), non_negative=(), fraction=()) -> None:
    """Raise ValueError naming the first field out of range (fraction: None or 0 <= v < 1)."""
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(cfg, name)}")
    for name in non_negative:
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    for name in fraction:
        v = getattr(cfg, name)
        if v is not None and not 0 <= v < 1:
            raise ValueError(f"{name} must be in [0, 1) or None, got {v}")


def sampling(method):
    """Decorate a family's `sample`: no gradients, and every network in eval mode (dropout off,
    batch norm on its running statistics), so samples depend on the generator alone; the
    previous mode is restored afterwards."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return method(self, *args, **kwargs)
        finally:
            self.train(was_training)
    return wrapper


def check_sampler(family, sampler: str | None, eta: float) -> str:
    """The sampler's name (the family's first, its default, when None), or a ValueError naming the
    choices; η (DDIM's stochasticity) only goes with a `ddim` sampler."""
    name = sampler or family.SAMPLERS[0]
    if name not in family.SAMPLERS:
        raise ValueError(f"{family.__name__} samplers are {', '.join(family.SAMPLERS)}; got {sampler!r}")
    if eta and name != "ddim":
        raise ValueError(f"η applies to the ddim sampler, not {name}")
    if eta < 0:
        raise ValueError(f"η must be >= 0, got {eta}")
    return name
