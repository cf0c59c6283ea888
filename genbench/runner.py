"""One run, end to end: data → model → training → evaluation → run directory → leaderboard row.

A run is named by what defines it (model, dataset, seed, config hash), so the same command on the
same results folder continues an interrupted run from its last checkpoint, and says so when the
run is already in the leaderboard.
"""
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import os
import pickle
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock, Timeout

from . import __version__, first_line
from .config import RunConfig, settings
from .data import dataset_classes, dataset_shape, files, get_dataset
from .evaluate import NonFiniteSamples, draw_samples, evaluate, sample_batches, sample_metrics
from .metrics import matmul_gflops
from .plots import plot_samples
from .results import append_row, atomic_write, check_writable, file_mode, load_leaderboard, read_rows
from .train import Diverged, Trainer, World, rng_state, seed_everything, set_rng_state, train
from models import MODELS, default_config

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_KEYS = ("format", "config", "step", "train_sec", "model", "ema", "optimizers", "rng")
FORMAT = 2  # 2: the trainer split (per-player optimisers, an EMA of the sampling networks only)


class RunError(RuntimeError):
    """A run cannot start or continue; the message is one line for the user."""


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


def count_params(model) -> int:
    """The row's `params`: every network the family holds, unless it counts its own (PD: one student)."""
    return model.num_params() if hasattr(model, "num_params") else sum(p.numel() for p in model.parameters())


def provenance() -> dict:
    """The code behind a row: genbench's version, the git commit, torch's version."""
    return {"genbench_version": __version__, "git_commit": git_commit(), "torch_version": torch.__version__}


def cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo, else what the platform module says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine(device: str) -> dict:
    """What a row's seconds were measured on: the processor and its matrix-product rate, measured
    now with the run's threads (another process on the same cores lowers it, as it lowers the
    row's speed)."""
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_name()
    return {"host": name, "host_gflops": round(matmul_gflops(device), 1)}


def build(cfg: RunConfig, shape) -> torch.nn.Module:
    model = MODELS[cfg.model](cfg.hparams, shape, num_classes=dataset_classes(cfg.dataset)).to(cfg.device)
    if len(shape) == 3:  # NHWC convolutions: faster on tensor cores, and on a 2-core CPU (README: "Precision")
        model = model.to(memory_format=torch.channels_last)
    return model


def run_name(cfg: RunConfig) -> str:
    return f"{cfg.model}-{cfg.dataset}-s{cfg.seed}-{cfg.config_hash()}"


def save_checkpoint(path: Path, cfg: RunConfig, step: int, trainer: Trainer, data_rng, train_sec: float) -> None:
    """Everything needed to continue bit-identically, written atomically."""
    opt = trainer.state_dict()
    state = {"format": FORMAT, "config": cfg.to_dict(), "step": step, "train_sec": train_sec,
             "model": trainer.model.state_dict(), "ema": opt["ema"], "optimizers": opt["optimizers"],
             "rng": {**rng_state(data_rng), "noise": opt["noise"]}}
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    """torch.load with weights_only=True; refusals and damage become one-line RunErrors."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e):  # the weights-only unpickler met a Python object it will not build
            raise RunError(f"{path} refused: it holds pickled Python objects, not only tensors; nothing of it was run") from None
        raise RunError(f"{path} is not a torch checkpoint (corrupt, truncated or another kind of file)") from None
    except OSError as e:
        raise RunError(f"cannot read {path}: {e.strerror or e}") from None
    except (RuntimeError, EOFError, ValueError) as e:
        raise RunError(f"{path} is not a readable checkpoint (corrupt or truncated: {first_line(e)})") from None
    if not isinstance(state, dict):
        raise RunError(f"{path} is not a genbench checkpoint")
    if "format" not in state and "model" in state:
        raise RunError(f"{path} was written before genbench's trainer split and cannot be resumed or sampled; "
                       "delete its run folder and run again")
    missing = [k for k in CHECKPOINT_KEYS if k not in state]
    if missing:
        raise RunError(f"{path} is not a genbench checkpoint (missing {', '.join(missing)})")
    if not isinstance(state["config"], dict) or not isinstance(state["optimizers"], dict):
        raise RunError(f"{path} is damaged: its config and optimizers must be dictionaries")
    if type(state["step"]) is not int or state["step"] < 0:
        raise RunError(f"{path} is damaged: step {state['step']!r} is not a step count")
    return state


def check_model(state: dict, cfg: RunConfig, path: Path) -> None:
    theirs = state["config"].get("model")  # load_checkpoint made sure config is a dict
    if theirs != cfg.model:
        raise RunError(f"{path} holds a {theirs} model, not {cfg.model}")


def check_resumable(state: dict, cfg: RunConfig, path: Path) -> None:
    """What a run resumed from `state` needs beyond the weights: its model, a step within the run,
    random-number states of the right sizes. Checked before anything is written."""
    check_model(state, cfg, path)
    if state["step"] > cfg.hparams.steps:  # never an `ok` row for training that did not happen here
        raise RunError(f"{path} is at step {state['step']}, past this run's {cfg.hparams.steps} steps")
    rng, size = state["rng"], lambda t: t.numel() if isinstance(t, torch.Tensor) else None
    if not (isinstance(rng, dict) and size(rng.get("torch")) == torch.get_rng_state().numel()
            and size(rng.get("data")) == torch.Generator().get_state().numel()
            and size(rng.get("noise")) == torch.Generator(cfg.device).get_state().numel()):
        raise RunError(f"{path} has a damaged random-number state")


def restore(model, state: dict, cfg: RunConfig, path: Path, trainer: Trainer | None = None) -> None:
    """Load the weights and, for a trainer, its optimiser, EMA and noise states; or say which model
    and shapes disagree. Without a trainer the sampling networks get the EMA weights."""
    check_model(state, cfg, path)
    try:
        model.load_state_dict(state["model"])
        if trainer is not None:
            trainer.load_state_dict({**state, "noise": state["rng"]["noise"]})
        else:
            for name, weights in (state["ema"] or {}).items():
                getattr(model, name).load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        detail = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), first_line(e))
        raise RunError(f"{path} does not fit this {cfg.model} ({detail})") from None


SETTING_COLUMNS = ("sampler", "sample_steps", "eta", "guidance")


def _key(sampler, steps, eta, guidance) -> tuple:
    return str(sampler), int(float(steps)), float(eta), float(guidance)


def setting_key(s) -> tuple:
    """A SamplerSetting as the leaderboard's (sampler, sample_steps, eta, guidance) columns hold it."""
    return _key(s.sampler, s.steps, s.eta, s.guidance)


def done_settings(results_dir: Path, run_id: str) -> set[tuple]:
    """(sampler, steps, eta, guidance) of the rows this run already has in the leaderboard (a
    leaderboard from before the guidance column: 0)."""
    return {_key(r.get("sampler") or "", r.get("sample_steps") or 0, r.get("eta") or 0, r.get("guidance") or 0)
            for r in read_rows(results_dir)[1] if r["run_id"] == run_id}


def link_teacher(cfg: RunConfig, results_dir: Path) -> tuple[RunConfig, RunConfig | None, Path | None]:
    """For a family that builds on another run (progressive distillation's teacher, latent
    diffusion's autoencoder): this config with that run named and its network copied in (so a new
    teacher is a new run), the teacher's config and its run folder. The teacher is the family's
    TEACHER_FIELD: a run id in `results_dir`, a run folder, or "" for the family's default teacher
    (`default_teacher`). (cfg, None, None) for other families. Reads files only; a bad teacher is a RunError."""
    family = MODELS[cfg.model]
    if not hasattr(family, "TEACHER"):
        return cfg, None, None
    field = family.TEACHER_FIELD
    spec, shape, teacher = teacher_of(cfg), dataset_shape(cfg.dataset, cfg.image_size), default_teacher(cfg)
    folder = Path(results_dir) / "runs" / run_name(teacher)
    if spec and spec != run_name(teacher):
        folder = teacher_dir(spec, results_dir)
        try:
            teacher = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
        except FileNotFoundError:
            raise RunError(f"{field} {spec}: no run folder with a config.json at {folder}; train it first "
                           f"(or leave {field} unset to train the default one)") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunError(f"{field} {spec}: {folder / 'config.json'} is unreadable ({first_line(e)})") from None
        if teacher.model != family.TEACHER:
            raise RunError(f"{field} {spec} is a {teacher.model} run; {cfg.model} builds on a {family.TEACHER} run")
        theirs = dataset_shape(teacher.dataset, teacher.image_size)
        if (teacher.dataset, theirs, teacher.standardise) != (cfg.dataset, shape, cfg.standardise):
            raise RunError(f"{field} {spec} was trained on other data ({teacher.dataset} {theirs}"
                           f"{'' if teacher.standardise else ', raw'}) than this run's ({cfg.dataset} {shape}"
                           f"{'' if cfg.standardise else ', raw'})")
    name = run_name(teacher) if folder.parent == Path(results_dir) / "runs" else str(folder.resolve())
    try:
        hparams = family.taught_by(cfg.hparams, default_config(cfg.model, shape), teacher.hparams, name)
    except ValueError as e:
        raise RunError(str(e)) from None
    return dataclasses.replace(cfg, hparams=hparams), teacher, folder


def teacher_of(cfg: RunConfig) -> str | None:
    """The run `cfg` builds on (its teacher, its autoencoder) as its config names it: a run id, a run
    folder, "" (the default one, before `link_teacher`); None for a family that builds on none."""
    family = MODELS[cfg.model]
    return getattr(cfg.hparams, family.TEACHER_FIELD) if hasattr(family, "TEACHER") else None


def teacher_dir(spec: str, results_dir: Path) -> Path:
    """The run folder of a teacher named by its run id (in `results_dir`) or by its folder."""
    return Path(spec) if os.sep in spec or Path(spec).is_dir() else Path(results_dir) / "runs" / spec


def default_teacher(cfg: RunConfig) -> RunConfig:
    """The run a taught run trains first when none is named: the family's choice of the dataset's
    default teacher-family run (same seed and data); a teacher with several samplers (PD's DDPM) is
    scored with DDIM at its students' steps, the comparison at equal NFE."""
    family = MODELS[cfg.model]
    defaults = default_config(family.TEACHER, dataset_shape(cfg.dataset, cfg.image_size))
    teacher = dataclasses.replace(cfg, model=family.TEACHER, hparams=family.default_teacher(defaults), samplers=None,
                                  sample_steps=None, eta=0.0, guidance=None)
    if hasattr(family, "default_steps"):
        teacher = dataclasses.replace(teacher, samplers=("ddim",), sample_steps=tuple(family.default_steps(cfg.hparams)))
    return teacher


def run(cfg: RunConfig, results_dir: Path, progress: bool = True, log=print, every: int = 1000,
        resume: bool = False, world: World = World()) -> list[dict]:
    """Train (or continue), evaluate under each sampler setting not yet in the leaderboard, save
    the run directory, then append one row per setting. Returns the rows (old ones included).

    Under torchrun every rank trains; rank 0 alone checks, writes and evaluates, and tells the
    others whether there is training to do. A family taught by another run gets its teacher
    first: the default teacher is trained (resumably) if it is not finished; a named one must be."""
    results_dir = Path(results_dir)
    cfg, teacher, folder = link_teacher(cfg, results_dir)
    if teacher is not None and not trained(folder):
        if teacher != default_teacher(cfg):
            raise RunError(f"{MODELS[cfg.model].TEACHER_FIELD} {teacher_of(cfg)} has not finished training; finish it first")
        log(f"training the {MODELS[cfg.model].TEACHER_FIELD} {run_name(teacher)} first")
        run(teacher, results_dir, progress, log, every, world=world)
    if not world.main:
        return _follow(cfg, results_dir, every, world)
    told = []  # whether the other ranks were told to train

    def start_training():
        told.append(world.agree(True))

    try:
        return _lead(cfg, results_dir, progress, log, every, resume, world, start_training)
    finally:
        if not told:  # nothing to train, or rank 0 stopped with an error: release the others
            world.agree(False)


def _lead(cfg, results_dir, progress, log, every, resume, world, start_training) -> list[dict]:
    """Rank 0's (or the only process's) run: the checks, the lock, the floor row; then
    `start_training()` tells the other ranks to join, and the run trains and is evaluated."""
    check_writable(results_dir)
    run_id = run_name(cfg)
    done = done_settings(results_dir, run_id)
    todo = [s for s in settings(cfg) if setting_key(s) not in done]
    if not todo:
        log(f"{run_id} is already in the leaderboard under these sampler settings; use another --results folder to run it again")
        board = load_leaderboard(results_dir)
        return board[board["run_id"] == run_id].to_dict("records")
    run_dir = results_dir / "runs" / run_id
    if resume and not (run_dir / CHECKPOINT).exists():
        raise RunError(f"nothing to resume: no checkpoint in {run_dir}")
    data = load_data(cfg)   # before the run folder exists: missing data leaves nothing behind
    features = image_features(cfg, data, log, progress)
    run_dir.mkdir(parents=True, exist_ok=True)  # for the run's lock; nothing else is written before the checks
    try:
        with FileLock(str(run_dir / ".lock"), timeout=0):
            done = done_settings(results_dir, run_id)  # again, under the lock: another process may have added some
            todo = [s for s in todo if setting_key(s) not in done]
            if not todo:
                log(f"{run_id} was finished by another process meanwhile")
                board = load_leaderboard(results_dir)
                return board[board["run_id"] == run_id].to_dict("records")
            path = run_dir / CHECKPOINT
            state = load_checkpoint(path) if path.exists() else None  # read once, under the lock
            if state is not None:  # a damaged or foreign checkpoint stops the run before the floor row
                check_resumable(state, cfg, path)
            real_floor(cfg, data, features, results_dir, log)
            start_training()
            return _run(cfg, data, features, todo, run_id, run_dir, results_dir, progress, log, every, state, world)
    except Timeout:
        raise RunError(f"{run_id} is being run by another process") from None


def _follow(cfg: RunConfig, results_dir: Path, every: int, world: World) -> list[dict]:
    """A rank other than 0: once rank 0 has checked the run (and holds its lock), train in step with
    it from the same checkpoint; write nothing."""
    if not world.agree(False):
        return []
    path = results_dir / "runs" / run_name(cfg) / CHECKPOINT
    state = load_checkpoint(path) if path.exists() else None
    _run(cfg, load_data(cfg), None, [], run_name(cfg), path.parent, results_dir, False, lambda m: None, every, state, world)
    return []


def checkpoint_step(run_dir: Path) -> int:
    """Training steps the run folder's checkpoint holds (0 without one, or a damaged one: the run
    (re)trains, as `genbench run` will say)."""
    try:  # memory-mapped: only the step is read
        return int(torch.load(Path(run_dir) / CHECKPOINT, weights_only=True, mmap=True)["step"])
    except Exception:  # noqa: BLE001 -- missing or damaged, whatever the way
        return 0


def trained(run_dir: Path) -> bool:
    """Whether the run folder's checkpoint holds all its training steps."""
    try:
        steps = json.loads((run_dir / "config.json").read_text())["hparams"]["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return checkpoint_step(run_dir) >= steps


def load_data(cfg: RunConfig):
    try:
        if cfg.dataset_file and files.file_dataset_name(cfg.dataset_file) != cfg.dataset:
            raise ValueError(f"{cfg.dataset_file} has changed since this run was made from it (as {cfg.dataset})")
        return get_dataset(cfg.dataset, n_reference=cfg.n_eval, data_seed=cfg.data_seed, image_size=cfg.image_size,
                           root=cfg.data_root, download=cfg.download, file=cfg.dataset_file, standardise=cfg.standardise)
    except ValueError as e:  # a user's .npz that moved or changed since the run was made
        raise RunError(str(e)) from None


def image_features(cfg: RunConfig, data, log=print, progress=True):
    """The domain classifier (trained and cached on first use) and, when its weights are on disk,
    pytorch-fid's Inception, with the reference set's features and FID's reference statistics
    (`cfg.fid_protocol`, `cfg.fid_ref`); None for 2-D data."""
    if not data.is_image:
        return None
    from .features import FidRefError, domain_extractor, prepare, read_fid_ref
    domain = domain_extractor(data, cfg.image_size, cfg.data_seed, cfg.data_root, cfg.download, log, progress)
    asked = cfg.fid_ref is not None or cfg.fid_protocol != "genbench"  # FID asked for by name: no silent skip
    inception = inception_extractor(cfg, None if asked else log)
    if inception is None:
        return prepare(data, cfg.data_seed, domain)
    ref = None
    if cfg.fid_ref_file:
        try:
            ref = read_fid_ref(cfg.fid_ref_file)
        except FidRefError as e:
            raise RunError(str(e)) from None
        if ref[0] != cfg.fid_ref:
            raise RunError(f"--fid-ref {cfg.fid_ref_file} is now {ref[0]}, not the {cfg.fid_ref} this run was started with")
    return prepare(data, cfg.data_seed, domain, inception, cfg.fid_protocol, ref)


def inception_extractor(cfg, skipped=None):
    """pytorch-fid's Inception from its weights file (`--inception-weights`, the environment or the
    hub cache; downloaded with `--download`). Without the file: None after `skipped(message)`, or,
    with no `skipped`, a RunError; a wrong file is never swapped for another."""
    from .features.inception import InceptionFeatures, InceptionUnavailable, WeightsRejected, download_weights, find_weights
    try:
        try:
            weights = find_weights(cfg.inception_weights)
        except InceptionUnavailable as e:
            if not cfg.download:
                if skipped is None:
                    raise
                skipped(f"FID skipped: {e}")
                return None
            weights = download_weights()
    except (InceptionUnavailable, WeightsRejected) as e:
        raise RunError(str(e)) from None
    return InceptionFeatures(weights, cfg.device)


def write_fid_stats(cfg, split: str, n: int | None, out: Path, log=print) -> int:
    """pytorch-fid's statistics of the first n (None: all) images of a split of cfg's dataset,
    written to `out`; returns how many images they are of."""
    from .data.images import quantize
    from .features import pytorch_fid_stats, write_fid_stats as write
    data = load_data(cfg)
    if not data.is_image:
        raise RunError(f"{cfg.dataset} is not an image dataset: FID statistics are of Inception features of images")
    images = quantize((data.train if split == "train" else data.reference)[:n])
    inception = inception_extractor(cfg)
    log(f"Inception features of {len(images)} {split} images of {cfg.dataset} ...")
    write(out, *pytorch_fid_stats(inception(images)))
    return len(images)


def extractor_columns(data, features) -> dict:
    fid = getattr(features, "inception", None) is not None
    return {"feature_extractor": features.name if features else "identity", "n_samples": len(data.reference),
            "fid_ref": features.fid_ref if fid else None,
            "fid_protocol": ("paper" if features.fid_samples else "genbench") if fid else None,
            "fid_samples": (features.fid_samples or len(data.reference)) if fid else None,
            "image_size": data.shape[-1] if data.is_image else None,
            "domain_accuracy": features.domain.accuracy if features else None}


FLOOR_SAMPLES = 10_000  # real samples the floor scores in all, in draws of the reference set's size (≤ 10 draws)


def floor_draws(n: int) -> int:
    """How many draws of n real samples the floor averages: one from n = 10,000 up, up to 10 for a
    small reference set, whose one-draw floor is as noisy as a model's row (digits, n = 359: FD-domain
    9.3 ± 2.3 over 50 draws, `benchmarks/redraw.py`)."""
    return max(1, min(10, FLOOR_SAMPLES // n))


def real_draw(data, generator: torch.Generator) -> torch.Tensor:
    """A random draw of as many training samples as the reference set has: one draw of the floor."""
    return data.train[torch.randperm(len(data.train), generator=generator)[:len(data.reference)]]


def real_floor(cfg: RunConfig, data, features, results_dir: Path, log=print) -> None:
    """Append, once per (dataset, image size, N, extractor), the metrics of real training samples
    against the reference set: what a perfect model scores, the floor every row is read against.
    (Training images, because the held-out images are the reference; the domain classifier has
    seen them, which it would also have for a model that learned the data perfectly.) Each metric
    is the mean over `floor_draws(N)` random draws of N training samples (column `floor_draws`)."""
    cols = extractor_columns(data, features)
    n, draws = cols["n_samples"], floor_draws(cols["n_samples"])
    key = [cfg.dataset, cfg.data_seed, cols["image_size"], n, cols["feature_extractor"]]
    if cols["fid_ref"] is not None and (cfg.fid_ref or cfg.fid_protocol != "genbench"):
        key += [cols["fid_protocol"], cols["fid_ref"]]  # another FID reference: another floor (older ids unchanged)
    if draws > 1:
        key += [f"draws={draws}"]  # an older one-draw floor of a small reference set is not reused
    key = json.dumps(key)
    run_id = f"real-{cfg.dataset}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if any(r["run_id"] == run_id for r in read_rows(results_dir)[1]):
        return
    g = torch.Generator().manual_seed(cfg.data_seed)  # the first draw is the one-draw floor of before
    scores = [sample_metrics(real_draw(data, g), data, features) for _ in range(draws)]
    if cols["fid_samples"] is not None:  # FID of these real images, also under the paper protocol
        cols["fid_samples"] = n
    row = {"run_id": run_id, "model": "real", "dataset": cfg.dataset, "seed": cfg.data_seed, "status": "ok",
           **{k: statistics.mean(s[k] for s in scores) for k in scores[0]}, "floor_draws": draws,
           **cols, "config_hash": run_id.rsplit("-", 1)[1],
           **provenance(), "device": "cpu", "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if append_row(results_dir, row, unique=("run_id",)):  # parallel runs may both have computed it
        log(f"real-data floor for {cfg.dataset} ({cols['feature_extractor']}, n={cols['n_samples']}) added to the leaderboard")


def _run(cfg, data, features, todo, run_id, run_dir, results_dir, progress, log, every, state, world) -> list[dict]:
    """Train from scratch, or from `state` (the run's checkpoint, already checked), then evaluate
    (rank 0: the other ranks of a torchrun job only train)."""
    seed_everything(cfg.seed)
    if cfg.device.startswith("cuda"):  # TF32 matmuls and convolutions: fp32 storage, tensor-core speed
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    host = machine(cfg.device)  # draws no random numbers
    model = build(cfg, data.shape)
    trainer = Trainer(model, cfg.seed, cfg.precision, world, cfg.compile)
    data_rng = torch.Generator().manual_seed(cfg.seed)
    path, start, prior_sec = run_dir / CHECKPOINT, 0, 0.0
    if state is None and hasattr(model, "from_teacher"):  # a fresh student: what it takes from its teacher's run
        model.from_teacher(load_run(teacher_dir(teacher_of(cfg), results_dir))[1], data.to_model(data.train).to(cfg.device))
    if state is not None:
        restore(model, state, cfg, path, trainer)
        try:
            set_rng_state(state["rng"], data_rng)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise RunError(f"{path} has a damaged random-number state ({first_line(e)})") from None
        start, prior_sec = state["step"], state["train_sec"]
        log(f"reusing the trained {run_id}" if start == cfg.hparams.steps else f"resuming {run_id} from step {start}")
    if world.main:
        atomic_write(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2).encode())
    hp = cfg.hparams
    row = {"run_id": run_id, "model": cfg.model, "dataset": cfg.dataset, "seed": cfg.seed,
           "steps": hp.steps, "status": "ok", "params": count_params(model)}

    def checkpoint(step, sec):  # sec: the training loop's own seconds, as a fresh run's row counts them
        if world.main:
            save_checkpoint(path, cfg, step, trainer, data_rng, prior_sec + sec)

    row.update(**extractor_columns(data, features), config_hash=cfg.config_hash(), **provenance(), device=cfg.device,
               standardise=cfg.standardise if not data.is_image else None, train_precision=cfg.precision,
               compile=cfg.compile, threads=torch.get_num_threads(), world_size=world.size, **host,
               **{f"hp_{k}": v for k, v in cfg.to_dict()["hparams"].items()})
    try:
        train_sec = prior_sec + train(trainer, data.to_model(data.train), data_rng, start, checkpoint, every, progress,
                                       data.train_labels)
        row.update(train_sec=train_sec, images_seen=hp.steps * hp.batch_size)
    except Diverged as e:
        log(f"{run_id} diverged: {e}")
        row["status"] = "diverged"
    if not world.main:
        return []
    model = trainer.sampling_model()
    return [_evaluate_one(cfg, data, features, model, dict(row), setting, run_dir, results_dir, progress, log)
            for setting in todo]


def samples_png(sampler: str, steps: int, eta: float, guidance: float = 0.0) -> str:
    """The picture of a run's samples under one sampler setting."""
    return f"samples-{sampler}-{int(steps)}" + (f"-eta{eta:g}" if eta else "") + (f"-w{guidance:g}" if guidance else "") + ".png"


def _evaluate_one(cfg, data, features, model, row, setting, run_dir, results_dir, progress, log) -> dict:
    """Evaluate the trained model under one sampler setting and append its row."""
    name, steps, eta, guidance = setting_key(setting)
    row.update(sampler=name, sample_steps=steps, eta=eta, guidance=guidance)
    if row["status"] == "ok":
        if progress:
            log(f"evaluating {len(data.reference)} samples ({name}, {steps} steps) and timing the sampler ...")
        t1 = time.perf_counter()
        try:
            metrics, samples = evaluate(model, data, cfg.sample_batch, cfg.seed, setting, cfg.timing_repeats, features)
            row.update(metrics, eval_sec=time.perf_counter() - t1)
            plot_samples(samples, data.reference, run_dir / samples_png(name, steps, eta, guidance),
                         f"{cfg.model} on {cfg.dataset}, seed {cfg.seed}, {name} {steps} steps"
                         + (f", guidance {guidance:g}" if guidance else ""))
        except NonFiniteSamples as e:
            log(f"{cfg.model} diverged: {e}")
            row["status"] = "diverged"
    row["timestamp"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    if not append_row(results_dir, row, unique=("run_id", *SETTING_COLUMNS)):
        log(f"{row['run_id']} ({name}, {steps} steps) was added by another process meanwhile; not added twice")
    return row


def load_run(run_dir: Path) -> tuple[RunConfig, torch.nn.Module]:
    """The config and the sampling model (EMA weights where the run kept them) of a saved run."""
    run_dir = Path(run_dir)
    try:
        cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunError(f"{run_dir} has no readable config.json ({type(e).__name__}: {e})") from None
    state = load_checkpoint(run_dir / CHECKPOINT)
    shape = dataset_shape(cfg.dataset, cfg.image_size)
    model = build(dataclasses.replace(cfg, device="cpu"), shape)
    restore(model, state, cfg, run_dir / CHECKPOINT)
    return cfg, model.eval()


IN_MEMORY_LIMIT = 2 ** 30   # bytes of samples a .pt file is built from in memory; .npy streams any number
PLOTTED = {2: 5000, 4: 64}  # points or images a picture shows (more would not be drawn)


def write_samples(cfg: RunConfig, model, n: int, seed: int, out: Path) -> None:
    """n samples in data space to .npy (streamed batch by batch into a memory-mapped file), .pt
    or .png (a scatter over the real data, or an image grid); written atomically either way."""
    shape = dataset_shape(cfg.dataset, cfg.image_size)
    data = load_data(cfg) if len(shape) == 1 else None  # 2-D: standardised -> data space; images need no data
    to_data = data.to_data if data is not None else (lambda x: x)
    setting = settings(cfg)[0]
    size = n * math.prod(shape) * 4
    if out.suffix == ".pt" and size > IN_MEMORY_LIMIT:
        raise RunError(f"{n} samples are {size / 2**30:.1f} GiB, more than a .pt file is built from in memory "
                       f"({IN_MEMORY_LIMIT / 2**30:.0f} GiB); write .npy, which streams them")
    try:
        if out.suffix == ".npy":
            _stream_npy(out, (n, *shape), (to_data(b) for b in sample_batches(model, n, cfg.sample_batch, seed, setting)))
            return
        n_drawn = n if out.suffix == ".pt" else min(n, PLOTTED[len(shape) + 1])
        samples = to_data(draw_samples(model, n_drawn, cfg.sample_batch, seed, setting)[0])
        if out.suffix == ".pt":
            buf = io.BytesIO()
            torch.save(samples, buf)
            atomic_write(out, buf.getvalue())
        else:
            name, steps, eta, guidance = setting_key(setting)
            plot_samples(samples, data.reference if data else None, out, f"{cfg.model} on {cfg.dataset}: {n_drawn} samples, "
                         f"{name} {steps:g} steps" + (f", η {eta:g}" if eta else "")
                         + (f", guidance {guidance:g}" if guidance else ""))
    except OSError as e:
        raise RunError(f"cannot write {out}: {e.strerror or e}") from None


def _stream_npy(out: Path, shape: tuple, batches) -> None:
    """Batches into a memory-mapped .npy beside `out`, then renamed over it: nothing half-written."""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        # reserve the blocks now: a mapped page the disk has no room for kills the process with SIGBUS
        # when written, where a reservation fails as an OSError (ENOSPC) that is one line
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, os.path.getsize(tmp))
        finally:
            os.close(fd)
        i = 0
        for b in batches:
            array[i:i + len(b)] = b.numpy()
            i += len(b)
        array.flush()
        del array
        os.chmod(tmp, file_mode(out))
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
