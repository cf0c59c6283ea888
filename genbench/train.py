"""The training loop: seeding, batches, the recipe's schedules (learning rate, EMA decay, lazy
regularisation; `models.recipe`), optimiser steps via the model, EMA, checkpoints, progress bar."""
import math
import random
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from models.recipe import ema_decay, learning_rate, regularise


class Diverged(RuntimeError):
    """A loss became NaN or inf: a result to record, not a crash."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state(data_rng: torch.Generator) -> dict:
    """Every random stream training draws from, as tensors and plain numbers (weights_only-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "data": data_rng.get_state(),
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": list(random.getstate()[1])}


def set_rng_state(state: dict, data_rng: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    data_rng.set_state(state["data"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    random.setstate((3, tuple(state["python"]), None))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def train(model, ema, x_train: torch.Tensor, steps: int, batch_size: int, data_rng: torch.Generator,
          start: int = 0, checkpoint=None, every: int = 1000, progress: bool = True) -> float:
    """Optimiser steps start..steps−1 on minibatches drawn uniformly (with replacement) from x_train.

    `checkpoint(step)` is called every `every` steps and after the last one, once the step's
    update (and EMA) is done. Raises Diverged on a non-finite loss. Returns wall seconds.
    """
    device, recipe = next(model.parameters()).device, model.cfg
    for opt in model.opts.values():
        for group in opt.param_groups:  # the base rate, saved with the optimiser's state for resuming
            group.setdefault("initial_lr", group["lr"])
    t0 = time.perf_counter()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=f"train {type(model).__name__}",
               disable=not progress or None, mininterval=0.5, leave=False)
    for step in bar:
        x = x_train[torch.randint(len(x_train), (batch_size,), generator=data_rng)]
        if recipe.hflip and x.dim() == 4:  # images: each one mirrored left-right with probability 1/2
            flip = torch.rand(batch_size, generator=data_rng) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        x = x.to(device)
        for opt in model.opts.values():
            for group in opt.param_groups:
                group["lr"] = learning_rate(group["initial_lr"], step, recipe)
        losses = model.train_step(x, regularise=regularise(step, recipe))
        if not all(math.isfinite(v) for v in losses.values()):
            raise Diverged(f"non-finite loss at step {step}: {losses}")
        if ema is not None:
            ema_update(ema, model, ema_decay(step, recipe))
        if step % 100 == 0:
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        if checkpoint is not None and ((step + 1) % every == 0 or step + 1 == steps):
            checkpoint(step + 1)
    return time.perf_counter() - t0
