"""One run, end to end: data → model → training → evaluation → run directory → leaderboard row."""
import datetime as dt
import io
import json
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .config import RunConfig
from .data import get_dataset
from .evaluate import NonFiniteSamples, draw_samples, evaluate
from .plots import scatter_samples
from .results import append_row, atomic_write
from .train import Diverged, seed_everything, train
from models import MODELS

CHECKPOINT = "checkpoint.pt"


def git_commit() -> str:
    """The commit of the genbench checkout this code runs from, '+dirty' if it has local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"


def build(cfg: RunConfig, shape) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """The model and, where its recipe uses one, an EMA copy for sampling (same initial weights)."""
    family = MODELS[cfg.model]
    model = family(cfg.hparams, shape).to(cfg.device)
    if cfg.hparams.ema is None:
        return model, None
    ema = family(cfg.hparams, shape).to(cfg.device)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    return model, ema


def new_run_id(cfg: RunConfig) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{cfg.model}-{cfg.dataset}-s{cfg.seed}-{stamp}-{uuid.uuid4().hex[:6]}"


def save_checkpoint(path: Path, cfg: RunConfig, step: int, model, ema) -> None:
    state = {"config": cfg.to_dict(), "step": step, "model": model.state_dict(),
             "ema": ema.state_dict() if ema is not None else None}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def run(cfg: RunConfig, results_dir: Path, progress: bool = True, log=print) -> dict:
    """Train, evaluate, save the run directory, then append the row (only once all that succeeded)."""
    results_dir = Path(results_dir)
    run_id = new_run_id(cfg)
    run_dir = results_dir / "runs" / run_id
    run_dir.mkdir(parents=True)
    data = get_dataset(cfg.dataset, n_reference=cfg.n_eval, data_seed=cfg.data_seed)
    seed_everything(cfg.seed)
    model, ema = build(cfg, data.shape)
    hp = cfg.hparams
    row = {"run_id": run_id, "model": cfg.model, "dataset": cfg.dataset, "seed": cfg.seed,
           "steps": hp.steps, "status": "ok", "params": sum(p.numel() for p in model.parameters())}
    try:
        cost = train(model, ema, data.train, hp.steps, hp.batch_size, cfg.seed, progress)
        row.update(cost)
        start = time.perf_counter()
        metrics, samples = evaluate(ema or model, data, cfg.n_eval, cfg.sample_batch, cfg.seed,
                                    cfg.sample_steps, cfg.timing_repeats)
        row.update(metrics, eval_sec=time.perf_counter() - start)
        scatter_samples(samples, data.reference, run_dir / "samples.png",
                        f"{cfg.model} on {cfg.dataset}, seed {cfg.seed}")
    except (Diverged, NonFiniteSamples) as e:
        log(f"{cfg.model} diverged: {e}")
        row["status"] = "diverged"
    save_checkpoint(run_dir / CHECKPOINT, cfg, hp.steps, model, ema)
    atomic_write(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2).encode())
    row.update(sample_steps=cfg.sample_steps or (ema or model).nfe(), n_eval=cfg.n_eval,
               config_hash=cfg.config_hash(), genbench_version=__version__, git_commit=git_commit(),
               torch_version=torch.__version__, device=cfg.device,
               timestamp=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               **{f"hp_{k}": v for k, v in cfg.to_dict()["hparams"].items()})
    append_row(results_dir, row)
    return row


def load_run(run_dir: Path) -> tuple[RunConfig, torch.nn.Module]:
    """The config and the sampling model (EMA weights where the run kept them) of a saved run."""
    run_dir = Path(run_dir)
    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    state = torch.load(run_dir / CHECKPOINT, map_location="cpu", weights_only=True)
    shape = get_dataset(cfg.dataset, n_reference=1, data_seed=cfg.data_seed).shape
    model = MODELS[cfg.model](cfg.hparams, shape)
    model.load_state_dict(state["ema"] if state["ema"] is not None else state["model"])
    return cfg, model.eval()


def write_samples(cfg: RunConfig, model, n: int, seed: int, out: Path) -> None:
    """n samples in data space to .pt, .npy or .png (a scatter over the real data)."""
    data = get_dataset(cfg.dataset, n_reference=min(n, 5000), data_seed=cfg.data_seed)
    samples, _ = draw_samples(model, n, cfg.sample_batch, seed, cfg.sample_steps)
    if out.suffix == ".pt":
        torch.save(samples, out)
    elif out.suffix == ".npy":
        np.save(out, samples.numpy())
    else:
        scatter_samples(samples, data.reference, out, f"{cfg.model} on {cfg.dataset}: {n} samples")
