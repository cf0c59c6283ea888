"""What every family shares: the sampler setting value, range checks for Config dataclasses (so a
bad `--set` fails before any work), the per-sample noise of a training batch, and the `sampling`,
`frozen` and `eager` helpers. The contract itself is the README's "Adding a model"."""
import contextlib
import dataclasses
import functools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplerSetting:
    """One way of sampling a trained family, resolved by the family's class (`resolve`) without
    building a model: the sampler, its steps, its options (DDIM's η) and the network evaluations
    per sample it costs (NFE need not equal steps: a 2nd-order step or guidance costs two)."""
    sampler: str
    steps: int
    nfe: int
    options: tuple[tuple[str, float], ...] = ()   # sorted (name, value) pairs: hashable, comparable

    def option(self, name: str, default: float = 0.0) -> float:
        return dict(self.options).get(name, default)

    @property
    def eta(self) -> float:
        return self.option("eta")

    @property
    def guidance(self) -> float:
        return self.option("guidance")


def check_sampler(family, sampler: str | None, options: dict, guided: bool = False) -> str:
    """The sampler's name (the family's first, its default, when None), or a ValueError naming the
    choices; options only where the sampler takes them (η: ddim, >= 0; guidance w >= 0: a
    class-conditional model, `guided`)."""
    name = sampler or family.SAMPLERS[0]
    if name not in family.SAMPLERS:
        raise ValueError(f"{family.__name__} samplers are {', '.join(family.SAMPLERS)}; got {sampler!r}")
    for key, value in options.items():
        if key not in ("eta", "guidance"):
            raise ValueError(f"unknown sampler option {key!r}")
        if value < 0:
            raise ValueError(f"{'η' if key == 'eta' else 'guidance'} must be >= 0, got {value}")
        if key == "eta" and value and name != "ddim":
            raise ValueError(f"η applies to the ddim sampler, not {name}")
        if key == "guidance" and value and not guided:
            raise ValueError("guidance needs a class-conditional diffusion model (ddpm with --set conditional=true)")
    return name


def setting(sampler: str, steps: int, nfe: int, options: dict) -> SamplerSetting:
    """A SamplerSetting with zero-valued options dropped (η = 0 is DDIM's default, not an option)."""
    return SamplerSetting(sampler, int(steps), int(nfe), tuple(sorted((k, float(v)) for k, v in options.items() if v)))


def one_step(family, sampler=None, steps=None, **options) -> SamplerSetting:
    """`resolve` of a family that samples with one network call (a VAE's decoder, a GAN's generator)."""
    name = check_sampler(family, sampler, options)
    if steps not in (None, 1):
        raise ValueError(f"{family.__name__} samples in one step; got steps={steps}")
    return setting(name, 1, 1, options)


def adopt(cfg, defaults, teacher, fields: dict[str, str], what: str):
    """`cfg` with the fields that come from the run it builds on copied from that run's config
    `teacher` (`fields`: the teacher's name -> this config's); one set here away from its default
    (`defaults`) to another value than the teacher's is a ValueError."""
    for theirs, mine in fields.items():
        if getattr(cfg, mine) not in (getattr(defaults, mine), getattr(teacher, theirs)):
            raise ValueError(f"{mine} comes from the {what} ({getattr(teacher, theirs)}); set {theirs} on its run instead")
    return dataclasses.replace(cfg, **{mine: getattr(teacher, theirs) for theirs, mine in fields.items()})


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


class BatchNoise:
    """The per-sample random draws of one training step (t, ε, z, ...). Each draw is made for the
    whole global batch from one generator that every rank seeds alike, and this rank keeps its
    share: N data-parallel ranks see exactly the numbers one process would."""

    def __init__(self, generator: torch.Generator, rank: int = 0, world: int = 1):
        self.generator, self.rank, self.world = generator, rank, world

    def _share(self, draw, n: int):
        return draw(n * self.world)[self.rank * n:(self.rank + 1) * n]

    def randn(self, n: int, *shape) -> torch.Tensor:
        g = self.generator
        return self._share(lambda m: torch.randn((m, *shape), generator=g, device=g.device), n)

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        return self.randn(x.shape[0], *x.shape[1:]).to(x.dtype)

    def rand(self, n: int) -> torch.Tensor:
        g = self.generator
        return self._share(lambda m: torch.rand((m,), generator=g, device=g.device), n)

    def randint(self, low: int, high: int, n: int) -> torch.Tensor:
        g = self.generator
        return self._share(lambda m: torch.randint(low, high, (m,), generator=g, device=g.device), n)


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


@contextlib.contextmanager
def frozen(net: torch.nn.Module):
    """No gradients for `net`'s weights inside (still through it): a generator's step reads the
    discriminator without training it, as the official GAN and DDGAN code does."""
    net.requires_grad_(False)
    try:
        yield
    finally:
        net.requires_grad_(True)


def eager(when: bool = True):
    """Compiled networks run as plain PyTorch inside (when `when`): a gradient penalty's double
    backward (DDGAN's R1) needs it, which torch.compile's autograd does not support. A no-op for
    networks that are not compiled."""
    return torch.compiler.set_stance("force_eager") if when else contextlib.nullcontext()
