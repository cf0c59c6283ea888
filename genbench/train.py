"""The training loop: seeding, batches, optimiser steps via the model, EMA, progress bar."""
import math
import random
import time

import numpy as np
import torch
from tqdm.auto import tqdm


class Diverged(RuntimeError):
    """A loss became NaN or inf: a result to record, not a crash."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def train(model, ema, x_train: torch.Tensor, steps: int, batch_size: int, seed: int,
          progress: bool = True) -> dict:
    """Run `steps` optimiser steps on minibatches drawn uniformly (with replacement) from x_train.

    Raises Diverged on a non-finite loss. Returns the training cost figures for the row.
    """
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    decay = model.cfg.ema
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=f"train {type(model).__name__}", disable=not progress or None,
               mininterval=0.5, leave=False)
    for step in bar:
        x = x_train[torch.randint(len(x_train), (batch_size,), generator=g)].to(device)
        losses = model.train_step(x)
        if not all(math.isfinite(v) for v in losses.values()):
            raise Diverged(f"non-finite loss at step {step}: {losses}")
        if ema is not None:
            ema_update(ema, model, decay)
        if step % 100 == 0:
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
    return {"train_sec": time.perf_counter() - start, "train_steps": steps,
            "images_seen": steps * batch_size}
