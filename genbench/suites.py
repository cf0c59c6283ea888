"""Declared grids of runs (models × datasets × training variants × seeds, each with its sampler
settings), run resumably: a run whose every setting is in the leaderboard is skipped."""
import ctypes
import dataclasses
import math
import multiprocessing
import os
import shlex
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import first_line
from .config import RunConfig, make_config, settings
from .data import dataset_shape
from .runner import build, checkpoint_step, done_settings, link_teacher, run_name, setting_key, teacher_of
from models import default_config
from models.ldm import DEFAULT_AUTOENCODER
from models.pd import DEFAULT_TEACHER, PD, chain


@dataclass(frozen=True)
class Entry:
    model: str
    datasets: tuple[str, ...]
    assignments: dict = field(default_factory=dict)   # --set NAME=VALUE
    options: dict = field(default_factory=dict)       # other `genbench run` options (sample_steps, ...)


def _grid(datasets: tuple[str, ...], ddpm_steps: tuple[int, ...], images: bool = False) -> list[Entry]:
    """Every model with its defaults; DDPM under a sweep of sampler steps (ancestral and DDIM);
    DDGAN trained for T ∈ {1, 2, 4, 8} (the paper's ablation: T = 1 is close to a GAN); progressive
    distillation after its teacher, the DDPM in v-prediction, with DDIM at the students' steps; on
    `images`, latent diffusion after its autoencoder under DDPM's sweep, and the class-conditional
    DDPM under classifier-free guidance w ∈ {0, 0.5, 1, 2, 4} (DDIM, 100 steps)."""
    sweep = {"samplers": ("ancestral", "ddim"), "sample_steps": ddpm_steps}
    ddgans = [Entry("ddgan", datasets, {"T": str(t)}) for t in (1, 2, 4, 8)]
    teacher = Entry("ddpm", datasets, _strings(DEFAULT_TEACHER), {"samplers": ("ddim",), "sample_steps": tuple(chain(PD.Config()))})
    more = [Entry("vae", datasets, _strings(DEFAULT_AUTOENCODER)), Entry("ldm", datasets, options=sweep),
            Entry("ddpm", datasets, {"conditional": "true"},
                  {"samplers": ("ddim",), "sample_steps": (100,), "guidance": (0.0, 0.5, 1.0, 2.0, 4.0)})] if images else []
    return [Entry("vae", datasets), Entry("gan", datasets), Entry("ddpm", datasets, options=sweep), *ddgans, teacher,
            Entry("pd", datasets), *more]


def _strings(assignments: dict) -> dict:
    return {k: str(v) for k, v in assignments.items()}


# DDPM's CIFAR-10 model (Ho et al. 2020, App. B and its run_cifar.py: 35.7M parameters, attention at 16×16 and
# the middle, warm-up 5,000 steps, gradient clip 1, flips) and DDGAN's (Xiao et al. 2022, App. C: 128 channels,
# 2 residual blocks, z of 100, batch 256 over 4 GPUs, ~1,800 epochs ≈ 350k steps, R1 γ 0.02 every 15th step,
# cosine decay to 1e-5, flips, EMA 0.9999); DDGAN's G is genbench's U-Net, not NCSN++ (see the README)
DDPM_CIFAR10 = {"ch": "128", "res_blocks": "2", "attn_lowest": "false", "dropout": "0.1", "lr": "2e-4",
                "lr_warmup": "5000", "grad_clip": "1.0", "hflip": "true", "batch_size": "128", "steps": "800000",
                "ema": "0.9999"}
DDGAN_CIFAR10 = {"ch": "128", "res_blocks": "2", "nz": "100", "lr_g": "1.6e-4", "lr_d": "1.25e-4", "adam_beta1": "0.5",
                 "r1_gamma": "0.02", "lazy_reg": "15",
                 "lr_schedule": "cosine", "lr_min": "1e-5", "hflip": "true", "batch_size": "256", "steps": "350000",
                 "ema": "0.9999"}
DCGAN = {"ch": "64", "nz": "100", "steps": "100000"}

# PacGAN's synthetic protocol (Lin et al. 2018, Table 1; its code's config): G 4×400 BN-ReLU, maxout D,
# Adam 1e-4 (β1 0.8), 100 packs a batch, 400 epochs of 100k samples, raw coordinates, 2,500 samples scored
def _pacgan(m: int) -> Entry:
    hp = {"arch": "pacgan", "pack": str(m), "nz": "2", "lr": "1e-4", "adam_beta1": "0.8", "adam_beta2": "0.999",
          "lr_schedule": "constant", "batch_size": str(100 * m), "steps": "400000"}
    return Entry("gan", ("grid25", "pacgan-ring"), hp, {"n_eval": 2500, "standardise": False})


SUITES = {
    "toy": _grid(("grid25", "ring8", "swissroll"), (1000, 250, 50, 10)),
    "digits": _grid(("digits", "stacked-digits"), (1000, 100, 10), images=True),
    "paper-cifar10": [
        Entry("ddpm", ("cifar10",), DDPM_CIFAR10, {"samplers": ("ancestral", "ddim"), "sample_steps": (1000, 50)}),
        Entry("ddgan", ("cifar10",), DDGAN_CIFAR10)],
    # the DDGAN paper reports Stacked MNIST without its own settings table: its CIFAR-10 ones here
    "paper-stacked-mnist": [Entry("ddgan", ("stacked-mnist",), DDGAN_CIFAR10), Entry("gan", ("stacked-mnist",), DCGAN)],
    "paper-pacgan": [_pacgan(m) for m in (1, 2, 3, 4)],
}


def plan(name: str, seeds: list[int], results_dir: Path = Path("results"), **run_options) -> list[RunConfig]:
    """The suite's runs, seed by seed (entries × datasets within a seed), so that a suite stopped
    early still holds whole tables for its first seeds; a taught run (PD) names its teacher."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    return [link_teacher(make_config(e.model, d, s, dict(e.assignments), **{**e.options, **run_options}), results_dir)[0]
            for s in seeds for e in SUITES[name] for d in e.datasets]


def is_done(cfg: RunConfig, results_dir: Path) -> bool:
    done = done_settings(results_dir, run_name(cfg))
    return all(setting_key(s) in done for s in settings(cfg))


def command(cfg: RunConfig, results_dir: Path) -> str:
    """The `genbench run` command line that makes exactly this run (same run id), for a scheduler."""
    defaults = default_config(cfg.model, dataset_shape(cfg.dataset, cfg.image_size))
    args = ["genbench", "run", "--model", cfg.model, "--dataset", cfg.dataset_file or cfg.dataset,
            "--seed", str(cfg.seed), "--n-eval", str(cfg.n_eval), "--sample-batch", str(cfg.sample_batch)]
    for f in dataclasses.fields(cfg.hparams):
        value = getattr(cfg.hparams, f.name)
        if value != getattr(defaults, f.name):
            args += ["--set", f"{f.name}={value}"]
    if cfg.samplers:
        args += ["--sampler", ",".join(cfg.samplers)]
    if cfg.sample_steps:
        args += ["--sample-steps", ",".join(map(str, cfg.sample_steps))]
    if cfg.eta:
        args += ["--eta", str(cfg.eta)]
    if cfg.guidance:
        args += ["--guidance", ",".join(f"{w:g}" for w in cfg.guidance)]
    if cfg.image_size:
        args += ["--image-size", str(cfg.image_size)]
    if not cfg.standardise:
        args.append("--no-standardise")
    if cfg.precision != "fp32":
        args += ["--precision", cfg.precision]
    args += ["--device", cfg.device, "--results", str(results_dir), "--no-progress"]
    return shlex.join(args)


PROBE_BATCH = 16  # an image run's step is timed on at most this many images (README: "Suites and reports")


def train_step_seconds(cfg: RunConfig, threads: int | None = None, repeats: int = 3) -> float:
    """Median seconds of a training step at the run's batch size over `repeats` steps after one
    warm-up step, with `threads` CPU threads (a suite's worker's share); the estimate behind
    --dry-run (on a busy machine it runs high). A larger image batch is timed at PROBE_BATCH / 2 and
    PROBE_BATCH images (whole packs) and extrapolated along the line through the two: a
    paper-size network's step at its real batch takes minutes and tens of GiB on a CPU."""
    from .metrics import median_seconds
    from .train import Trainer
    shape = dataset_shape(cfg.dataset, cfg.image_size)
    model = build(cfg, shape)
    trainer = Trainer(model, cfg.seed)
    classes = getattr(model, "num_classes", None)  # a class-conditional run trains on labels
    steps = iter(min(i, cfg.hparams.steps - 1) for i in range(2 * (repeats + 1)))  # the run's (a staged family's stage)

    def seconds(batch: int) -> float:
        x = torch.rand(batch, *shape, device=cfg.device) * 2 - 1
        y = torch.randint(classes, (batch,), device=cfg.device) if classes else None
        return median_seconds(lambda: trainer.step(x, next(steps), y), repeats=repeats, device=cfg.device)

    batch = cfg.hparams.batch_size
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        pack = getattr(cfg.hparams, "pack", 1)  # a PacGAN batch holds whole packs
        small = math.ceil(PROBE_BATCH / 2 / pack) * pack
        large = 2 * small
        if len(shape) == 1 or batch <= large:
            return seconds(batch)
        t_small, t_large = seconds(small), seconds(large)
        return t_large + max(0.0, t_large - t_small) / (large - small) * (batch - large)
    finally:
        torch.set_num_threads(before)


def trained_steps(cfg: RunConfig, results_dir: Path) -> int:
    """Training steps the run's checkpoint holds (0 without one): what a --dry-run need not count again."""
    return checkpoint_step(Path(results_dir) / "runs" / run_name(cfg))


def _run_one(cfg_dict: dict, results_dir: str) -> str:
    """One run in a worker process; returns its run_id or raises a one-line error."""
    from .runner import run
    cfg = RunConfig.from_dict(cfg_dict)
    run(cfg, Path(results_dir), progress=False, log=lambda m: None)
    return run_name(cfg)


def _init_worker(workers: int) -> None:
    _die_with_parent()
    # tqdm's default lock is a named semaphore per process: a worker stopped by the suite's SIGTERM
    # would leave it behind ("leaked semaphore" at exit); workers draw no bars, a thread lock does
    tqdm.set_lock(threading.RLock())
    # parallel runs each with every core would oversubscribe the CPU (spinning OpenMP threads)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the suite process dies, even by SIGKILL, so no
    orphan keeps training and holding its run's lock (elsewhere: a no-op)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the suite died before the call: do not start orphaned
            os._exit(1)


def run_suite(cfgs: list[RunConfig], results_dir: Path, workers: int = 1, log=print) -> list[str]:
    """Run every config not done yet (in `workers` processes), in the plan's order (seed by seed),
    a taught run as soon as its teacher is done; returns the one-line failures."""
    queue = [c for c in cfgs if not is_done(c, results_dir)]
    log(f"{len(cfgs) - len(queue)} of {len(cfgs)} runs already in the leaderboard; {len(queue)} to go")
    unfinished, total, jobs, failures = {run_name(c) for c in queue}, len(queue), {}, []

    def next_ready():  # the first run in the plan whose teacher (if it is among the runs to do) is done
        ready = next((c for c in queue if teacher_of(c) not in unfinished), None)
        if ready is not None:
            queue.remove(ready)
        return ready

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker,
                               initargs=(workers,))
    try:
        while queue or jobs:
            while len(jobs) < workers and (cfg := next_ready()) is not None:  # as many in flight as workers
                jobs[pool.submit(_run_one, cfg.to_dict(), str(results_dir))] = run_name(cfg)
            done, _ = wait(jobs, return_when=FIRST_COMPLETED)
            for job in done:
                name = jobs.pop(job)
                unfinished.discard(name)
                try:
                    job.result()
                    log(f"[{total - len(queue) - len(jobs)}/{total}] {name} done")
                except Exception as e:  # one failed run must not stop the others
                    failures.append(f"{name}: {first_line(e)}")
                    log(f"[{total - len(queue) - len(jobs)}/{total}] {failures[-1]}")
    except BaseException:  # SIGTERM or Ctrl-C: stop the runs in flight (each keeps its last checkpoint)
        for worker in multiprocessing.active_children():  # instead of waiting for every queued run
            worker.terminate()
        raise
    finally:
        pool.shutdown(cancel_futures=True)
    return failures
