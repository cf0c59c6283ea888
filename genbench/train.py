"""The training loop: it owns how every family is optimised. A family says what it is (its players,
the losses of one step, the networks that sample); the `Trainer` builds one Adam per player, sets
the recipe's learning rate each step, steps each player on its loss in the family's order (a GAN's
D then G), clips gradients, applies the lazy regulariser's schedule, keeps the EMA of the sampling
networks only, and runs the step under bf16 autocast and data-parallel over torchrun's ranks when asked.
`train` draws the batches, checks losses, checkpoints and shows progress."""
import contextlib
import copy
import datetime
import math
import os
import random
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from models.family import BatchNoise
from models.recipe import ema_decay, learning_rate, regularise, stage_of


class Diverged(RuntimeError):
    """A loss became NaN or inf: a result to record, not a crash."""


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel job (torchrun's RANK and WORLD_SIZE)."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:  # the rank that writes results
        return self.rank == 0

    def agree(self, go: bool) -> bool:
        """Rank 0's decision (here: whether to train), sent to every rank; rank 0 passes its own."""
        if self.size == 1:
            return go
        flag = [go]
        torch.distributed.broadcast_object_list(flag, src=0)
        return flag[0]


def join_torchrun(device: str) -> tuple[World, str]:
    """This process's World under torchrun (RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous in the
    environment; NCCL on CUDA, gloo on CPU) and its device: cuda → cuda:LOCAL_RANK. Without
    torchrun, one process on `device`."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), device
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.startswith("cuda"):
        device = f"cuda:{world.local_rank}"
        torch.cuda.set_device(device)
    # rank 0 may train the domain classifier before the others hear from it: a generous timeout
    torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                         timeout=datetime.timedelta(hours=2))
    return world, device


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
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)  # one call, not one per tensor
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


class Trainer:
    """Optimises one family instance `model` with its recipe (`model.cfg`, a `models.recipe.Recipe`)."""

    def __init__(self, model: torch.nn.Module, seed: int, precision: str = "fp32", world: World = World(),
                 compile: bool = False):
        device = next(model.parameters()).device
        self.model, self.recipe, self.world = model, model.cfg, world
        self.nets = {name: getattr(model, name) for name in model.players()}
        # fused: one kernel for the whole update (torch defaults to a Python loop over tensors on CPU)
        self.opts = {name: torch.optim.Adam(self.nets[name].parameters(), **{"fused": True, **adam})
                     for name, adam in model.players().items()}
        for opt in self.opts.values():
            for group in opt.param_groups:  # the base rate the schedule scales, saved with the optimiser's state
                group["initial_lr"] = group["lr"]
        # per-sample noise from its own generator on the training device: saved, so resuming is exact there too
        self.noise = BatchNoise(torch.Generator(device).manual_seed(seed), world.rank, world.size)
        self.autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" \
            else contextlib.nullcontext
        if world.size > 1:  # every rank starts from rank 0's weights
            for tensor in [*model.parameters(), *model.buffers()]:
                torch.distributed.broadcast(tensor.data, src=0)
        self.ema = ({name: copy.deepcopy(getattr(model, name)).requires_grad_(False) for name in model.SAMPLING_NETS}
                    if self.recipe.ema is not None else {})
        if compile:  # in place, so the state-dict keys stay those of the plain networks
            for net in [*self.nets.values(), *self.ema.values()]:
                net.compile()

    def step(self, x: torch.Tensor, step: int, y: torch.Tensor | None = None) -> dict[str, float]:
        """One training step at (0-based) `step` on the batch x (labels y, for a conditional family;
        the others ignore them); returns the family's logged values. A family with
        `stages` > 1 is told `start_stage(k)` at each stage's first step, and its learning-rate
        schedule runs once per stage."""
        stages = getattr(self.model, "stages", 1)
        stage, first, length = stage_of(step, self.recipe.steps, stages)
        if stages > 1 and step == first:
            self.model.start_stage(stage)
        for opt in self.opts.values():
            for group in opt.param_groups:
                group["lr"] = learning_rate(group["initial_lr"], step - first, self.recipe, length)
        logs = {}
        phases = self.model.train_step(x, self.noise, regularise(step, self.recipe), y)
        try:
            while True:
                with self.autocast():
                    players, loss, out = next(phases, (None, None, None))
                if players is None:
                    break
                self._optimise((players,) if isinstance(players, str) else players, loss)
                logs.update(out)
        finally:
            phases.close()  # leaves the family's `frozen` blocks if a step failed
        for name, ema in self.ema.items():
            ema_update(ema, self.nets[name], ema_decay(step, self.recipe))
        values = torch.stack([v.detach().float() for v in logs.values()])
        if self.world.size > 1:  # the global batch's losses, the same on every rank (a NaN stops all)
            torch.distributed.all_reduce(values)  # a sum: gloo has no average
            values /= self.world.size
        return dict(zip(logs, values.tolist()))

    def _optimise(self, players: tuple[str, ...], loss: torch.Tensor) -> None:
        """Zero the players' gradients, backward, average them over the ranks, clip their joint
        norm (grad_clip), step each."""
        for name in players:
            self.opts[name].zero_grad(set_to_none=True)
        loss.backward()
        params = [p for n in players for p in self.nets[n].parameters() if p.grad is not None]
        if self.world.size > 1:
            average_gradients(params, self.world.size)
        if self.recipe.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, self.recipe.grad_clip)
        for name in players:
            self.opts[name].step()

    def sampling_model(self) -> torch.nn.Module:
        """The model with its sampling networks replaced by their EMA (the end of training)."""
        for name, ema in self.ema.items():
            setattr(self.model, name, ema)
        return self.model

    def state_dict(self) -> dict:
        return {"optimizers": {k: opt.state_dict() for k, opt in self.opts.items()},
                "ema": {k: net.state_dict() for k, net in self.ema.items()} or None,
                "noise": self.noise.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        for k, opt in self.opts.items():
            opt.load_state_dict(state["optimizers"][k])
        for k, net in self.ema.items():
            net.load_state_dict(state["ema"][k])
        self.noise.generator.set_state(state["noise"])


def average_gradients(params: list, world_size: int) -> None:
    """Data parallelism's gradient: the mean over ranks of each rank's mean over its share of the
    batch, i.e. the mean over the global batch, by one all-reduce of the flattened gradients.
    (Not DistributedDataParallel's hooks: they do not support double backward, and DDGAN's R1 is
    one; through DDP the 2-rank DDGAN drifted from one process by 7e-4 in 50 steps.)"""
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
    grads = [p.grad for p in params]
    flat = _flatten_dense_tensors(grads)
    torch.distributed.all_reduce(flat)
    flat /= world_size
    for g, mean in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(mean)


def draw_batch(x_train: torch.Tensor, batch_size: int, data_rng: torch.Generator, hflip: bool, world: World,
               y_train: torch.Tensor | None = None):
    """This rank's share of one global minibatch drawn uniformly (with replacement) from x_train,
    each image mirrored left-right with probability 1/2 when `hflip`; all ranks draw the same global
    batch. Returns (x, its labels), the labels None without `y_train`."""
    i = torch.randint(len(x_train), (batch_size,), generator=data_rng)
    x = x_train[i]
    if hflip and x.dim() == 4:
        flip = torch.rand(batch_size, generator=data_rng) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    share = slice(world.rank * batch_size // world.size, (world.rank + 1) * batch_size // world.size)
    return x[share], None if y_train is None else y_train[i][share]


LOG_EVERY = 60.0  # seconds between progress lines when stderr is not a terminal


def train(trainer: Trainer, x_train: torch.Tensor, data_rng: torch.Generator, start: int = 0, checkpoint=None,
          every: int = 1000, progress: bool = True, y_train: torch.Tensor | None = None) -> float:
    """Training steps start..steps−1 of the recipe (with the batches' labels when `y_train` is given).

    `checkpoint(step, seconds)` is called every `every` steps and after the last one, once the step's
    update (and EMA) is done, with the seconds trained so far in this call. Raises Diverged on a
    non-finite loss. Returns the seconds up to the end of the last step: the number the last
    checkpoint holds, so a row written later from that checkpoint says the same.
    """
    recipe, model = trainer.recipe, trainer.model
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    bar = tqdm(range(start, recipe.steps), initial=start, total=recipe.steps, desc=f"train {type(model).__name__}",
               disable=not progress or None, mininterval=0.5, leave=False)
    # no terminal (nohup, SLURM logs): no bar, but one plain line every LOG_EVERY seconds
    lines, last, seconds = progress and not sys.stderr.isatty(), t0, 0.0
    for step in bar:
        x, y = draw_batch(x_train, recipe.batch_size, data_rng, recipe.hflip, trainer.world, y_train)
        losses = trainer.step(x.to(device), step, None if y is None else y.to(device))
        if not all(math.isfinite(v) for v in losses.values()):
            raise Diverged(f"non-finite loss at step {step}: {losses}")
        if step % 100 == 0:
            bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        if lines and time.perf_counter() - last >= LOG_EVERY:
            last, done = time.perf_counter(), step + 1 - start
            print(f"train {type(model).__name__}: step {step + 1}/{recipe.steps}, {done / (last - t0):.1f} steps/s, "
                  f"~{(recipe.steps - step - 1) * (last - t0) / done / 60:.1f} min left, "
                  + " ".join(f"{k} {v:.3g}" for k, v in losses.items()), file=sys.stderr, flush=True)
        seconds = time.perf_counter() - t0
        if checkpoint is not None and ((step + 1) % every == 0 or step + 1 == recipe.steps):
            checkpoint(step + 1, seconds)
    return seconds
