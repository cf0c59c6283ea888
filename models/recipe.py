"""How a family is optimised, as opposed to what it is: the settings the training loop
(`genbench.train`) owns for every family, and the pure schedules it applies.

Each family's `Config` extends `Recipe` and overrides the defaults it needs.
"""
import math
from dataclasses import dataclass

from .family import check_ranges

LR_SCHEDULES = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class Recipe:
    steps: int = 4000
    batch_size: int = 512
    ema: float | None = None        # decay of the EMA of the sampling networks; None = sample the raw weights
    ema_warmup: bool = True         # decay min(ema, (1 + n)/(10 + n)) at update n, see `ema_decay`
    lr_schedule: str = "constant"   # or "cosine": half-cosine decay from each rate to lr_min; "linear": a
                                    # straight line down to lr_min (progressive distillation's, per stage)
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


def learning_rate(base: float, step: int, recipe: Recipe, steps: int | None = None) -> float:
    """The rate at (0-based) `step` of a schedule `steps` long (default: the run; a staged family's
    stage, see `stage_of`): linear warm-up to `base` over lr_warmup steps, then constant, a
    half-cosine from `base` down to lr_min at the last step (SGDR's annealing without restarts, as
    `torch.optim.lr_scheduler.CosineAnnealingLR` over the run) or a straight line down to lr_min."""
    if step < recipe.lr_warmup:
        return base * (step + 1) / recipe.lr_warmup
    if recipe.lr_schedule == "constant":
        return base
    progress = (step - recipe.lr_warmup) / max(1, (steps or recipe.steps) - recipe.lr_warmup)
    shape = 1 - progress if recipe.lr_schedule == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
    return recipe.lr_min + (base - recipe.lr_min) * shape


def stage_of(step: int, steps: int, stages: int) -> tuple[int, int, int]:
    """(stage, its first step, its length) of `step` when `steps` are split into `stages` nearly
    equal consecutive stages (a family that trains in stages, as progressive distillation's halvings)."""
    stage = step * stages // steps
    first = -(-stage * steps // stages)  # ceil: the first step s with s * stages // steps == stage
    return stage, first, -(-(stage + 1) * steps // stages) - first


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
