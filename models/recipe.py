"""How a family is optimised, as opposed to what it is: the settings the training loop
(`genbench.train`) owns for every family, and the pure schedules it applies.

Each family's `Config` extends `Recipe` and overrides the defaults it needs.
"""
import math
from dataclasses import dataclass

from .family import check_ranges

LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Recipe:
    steps: int = 4000
    batch_size: int = 512
    ema: float | None = None        # decay of the EMA of the sampling networks; None = sample the raw weights
    ema_warmup: bool = True         # decay min(ema, (1 + n)/(10 + n)) at update n, see `ema_decay`
    lr_schedule: str = "constant"   # or "cosine": half-cosine decay from each rate to lr_min
    lr_warmup: int = 0              # linear warm-up steps (DDPM's CIFAR-10 run: 5,000)
    lr_min: float = 0.0
    lazy_reg: int = 1               # the family's regulariser (DDGAN's R1) every k steps, not rescaled,
                                    # as DDGAN's official code does (`--lazy_reg 15` on CIFAR-10)
    grad_clip: float = 0.0          # clip each optimiser's gradient norm to this (0 = off; DDPM's CIFAR-10: 1)
    hflip: bool = False             # images: random horizontal flips of the training batch (DDPM, DDGAN on CIFAR-10)

    def __post_init__(self):
        check_ranges(self, positive=("steps", "batch_size", "lazy_reg"), non_negative=("lr_warmup", "lr_min", "grad_clip"),
                     fraction=("ema",))
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")


def learning_rate(base: float, step: int, recipe: Recipe) -> float:
    """The rate at (0-based) `step`: linear warm-up to `base` over lr_warmup steps, then constant or
    a half-cosine from `base` down to lr_min at the last step (SGDR's annealing without restarts,
    as `torch.optim.lr_scheduler.CosineAnnealingLR` over the run)."""
    if step < recipe.lr_warmup:
        return base * (step + 1) / recipe.lr_warmup
    if recipe.lr_schedule == "constant":
        return base
    progress = (step - recipe.lr_warmup) / max(1, recipe.steps - recipe.lr_warmup)
    return recipe.lr_min + (base - recipe.lr_min) * 0.5 * (1 + math.cos(math.pi * progress))


def ema_decay(step: int, recipe: Recipe) -> float:
    """The EMA decay of update number `step` (0-based). With warm-up, min(ema, (1 + n)/(10 + n))
    (TensorFlow's ExponentialMovingAverage with num_updates): early averages forget the random
    initial weights, which a fixed 0.999 over 2,000 steps still holds at 0.999²⁰⁰⁰ = 13.5 %."""
    if not recipe.ema_warmup:
        return recipe.ema
    return min(recipe.ema, (1 + step) / (10 + step))


def regularise(step: int, recipe: Recipe) -> bool:
    """Whether `step` applies the family's lazy regulariser (every lazy_reg-th step, from step 0)."""
    return step % recipe.lazy_reg == 0
