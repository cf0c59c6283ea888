"""A run's configuration: a frozen dataclass, saved with every checkpoint and results row."""
import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass
from pathlib import Path

import torch

from . import first_line
from .data import dataset_classes, dataset_shape, default_n, files
from .names import PRECISIONS  # noqa: F401 -- re-exported
from models import MODELS, default_config


NOT_HASHED = ("seed", "device", "data_root", "download", "inception_weights", "samplers", "sample_steps", "eta", "guidance",
              "dataset_file", "compile", "threads", "fid_ref_file")
# hashed only when set away from these defaults, so run ids from before they existed stay the same
HASHED_WHEN_SET = {"fid_protocol": "genbench", "fid_ref": None}


@dataclass(frozen=True)
class RunConfig:
    model: str
    dataset: str = "grid25"
    seed: int = 0
    hparams: typing.Any = None      # the family's own frozen Config (steps, batch size, rates, ...)
    n_eval: int = 10_000            # generated and held-out real samples the metrics compare (capped
                                    # at the held-out images a dataset has)
    sample_batch: int = 1000        # batch size of the sampling-speed measurement, recorded
    image_size: int | None = None   # images: resample to this side; None = the dataset's own
    standardise: bool = True        # 2-D: models see standardised points (False: raw, as PacGAN's protocol)
    # evaluation settings, kept out of the hash: one trained model, one row per (sampler, steps)
    samplers: tuple[str, ...] | None = None       # None = the model's own (first in its SAMPLERS)
    sample_steps: tuple[int, ...] | None = None   # None = the model's own number of steps
    eta: float = 0.0                # DDIM's η (0 = deterministic), for the ddim sampler
    guidance: tuple[float, ...] | None = None     # classifier-free guidance weights w (conditional models); None = 0
    timing_repeats: int = 5
    data_seed: int = 0              # fixed, so every model and seed trains on the same draw
    device: str = "cpu"
    precision: str = "fp32"         # "bf16": training under bf16 autocast (fp32 master weights); hashed, it changes the numbers
    compile: bool = False           # torch.compile the networks (the same model, compiled kernels: not hashed)
    threads: int | None = None      # CPU threads of this process; None = torch's default (all cores)
    # where things are, not what the experiment is: kept out of the hash
    data_root: str | None = None    # torchvision datasets; None = $GENBENCH_DATA or ~/.cache/genbench/data
    download: bool = False          # allow downloading datasets and the FID weights
    inception_weights: str | None = None  # the FID weights file; None = $GENBENCH_INCEPTION_WEIGHTS or hub cache
    dataset_file: str | None = None # a user's .npz; `dataset` is then its content's name (files.file_dataset_name)
    # images: what FID compares with (genbench.features): "genbench" (the held-out reference set, as
    # many samples) or "paper" (50,000 samples against the training set); or a pytorch-fid statistics
    # file, named in fid_ref by its name and content hash (hashed), found at fid_ref_file (not hashed)
    fid_protocol: str = "genbench"
    fid_ref: str | None = None
    fid_ref_file: str | None = None

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "hparams": dataclasses.asdict(self.hparams)}

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        family = MODELS[d["model"]]
        return cls(**{**d, "hparams": family.Config(**d["hparams"])})

    def config_hash(self) -> str:
        """Hash of what defines the trained model: everything except the seed, the device, paths
        and the sampler settings it is evaluated under."""
        d = {k: v for k, v in self.to_dict().items()
             if k not in NOT_HASHED and not (k in HASHED_WHEN_SET and v == HASHED_WHEN_SET[k])}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _coerce(field: dataclasses.Field, text: str):
    """Parse a --set value into the field's declared type: int, float, str, bool, or X | None."""
    args = typing.get_args(field.type)
    if text.lower() == "none" and type(None) in args:
        return None
    kind = next((a for a in args if a is not type(None)), field.type)
    if kind is bool:
        if text.lower() not in BOOLS:
            raise ValueError(text)
        return BOOLS[text.lower()]
    return kind(text)


BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def override(hparams, assignments: dict[str, str]):
    """A copy of a family Config with `name=value` strings applied, type-checked by field."""
    fields = {f.name: f for f in dataclasses.fields(hparams)}
    changes = {}
    for name, text in assignments.items():
        if name not in fields:
            raise ValueError(f"unknown hyperparameter {name!r}; choose from {', '.join(fields)}")
        try:
            changes[name] = _coerce(fields[name], text)
        except ValueError:
            args = typing.get_args(fields[name].type)
            kind = next((a for a in args if a is not type(None)), fields[name].type)
            also = " or none" if type(None) in args else ""
            raise ValueError(f"bad value {text!r} for {name}: it must be {KIND_NAMES.get(kind, kind)}{also}") from None
    return dataclasses.replace(hparams, **changes)


def resolve_dataset(dataset: str, image_size: int | None, paths: dict) -> tuple[str, tuple]:
    """The dataset's name and its data shape at `image_size`. A user's .npz (2-D points) is read and
    checked now, so a bad file writes nothing, and recorded in paths["dataset_file"]; its name is
    its content's. Bad values raise ValueError."""
    if files.is_file(dataset):
        files.read_npz(dataset)
        paths["dataset_file"], dataset = str(Path(dataset).resolve()), files.file_dataset_name(dataset)
    shape = dataset_shape(dataset, image_size)
    if image_size is not None and len(shape) == 1:
        raise ValueError(f"--image-size applies to image datasets, not {dataset}")
    return dataset, shape


def fid_options(shape, protocol: str, ref_file: str | None) -> dict:
    """The RunConfig's FID fields for --fid-protocol and --fid-ref (read and checked now, so a bad
    file writes nothing); ValueError where they do not apply."""
    from .features import FID_PROTOCOLS, read_fid_ref
    if protocol not in FID_PROTOCOLS:
        raise ValueError(f"--fid-protocol must be one of {', '.join(FID_PROTOCOLS)}, got {protocol!r}")
    if len(shape) != 3 and (protocol != "genbench" or ref_file):
        raise ValueError("--fid-protocol and --fid-ref apply to image datasets (FID reads Inception features)")
    if not ref_file:
        return {"fid_protocol": protocol}
    return {"fid_protocol": protocol, "fid_ref": read_fid_ref(ref_file)[0], "fid_ref_file": str(Path(ref_file).resolve())}


def make_config(model: str, dataset: str = "grid25", seed: int = 0, assignments: dict | None = None,
                n_eval=None, sample_batch=None, samplers=None, sample_steps=None, eta=0.0, guidance=None, image_size=None,
                device="cpu", standardise=True, precision="fp32", compile=False, threads=None, fid_protocol="genbench",
                fid_ref=None, **paths) -> RunConfig:
    """A validated RunConfig: the family's defaults for the data's kind with `assignments`
    (name -> text) applied, every sampler setting checked. Bad values raise ValueError."""
    dataset, shape = resolve_dataset(dataset, image_size, paths)
    hparams = override(default_config(model, shape), assignments or {})
    try:  # the family's own checks against the data (a VAE's factor, a conditional model's classes, ...):
          # it is built on the meta device, which allocates no memory
        with torch.device("meta"):
            MODELS[model](hparams, shape, num_classes=dataset_classes(dataset))
    except ValueError as e:
        raise ValueError(f"{model} on {dataset}: {first_line(e)}") from None
    if eta and "ddim" not in (samplers or ()):
        raise ValueError("--eta applies to --sampler ddim")
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
    if kind not in ("cpu", "cuda", "mps"):  # meta, xla, ... cannot train and sample here
        raise ValueError(f"--device {device}: genbench runs on cpu, cuda[:i] or mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available here")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {device}: no MPS device is available here")
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    fid = fid_options(shape, fid_protocol, fid_ref)
    cfg = RunConfig(model, dataset, seed, hparams, n_eval=n_eval or default_n(dataset),
                    sample_batch=sample_batch or (100 if len(shape) == 3 else 1000), samplers=samplers,
                    sample_steps=sample_steps, eta=eta, guidance=guidance, image_size=image_size, device=device,
                    standardise=standardise, precision=precision, compile=compile, threads=threads, **fid, **paths)
    settings(cfg)  # checks every sampler setting before any work
    return cfg


def settings(cfg: RunConfig) -> list:
    """Every sampler setting to evaluate, resolved by the family's class to explicit values
    (`models.family.SamplerSetting`); an unknown sampler or out-of-range steps raise ValueError."""
    family, out = MODELS[cfg.model], []
    default_steps = family.default_steps(cfg.hparams) if hasattr(family, "default_steps") else [None]
    for sampler in cfg.samplers or [family.SAMPLERS[0]]:
        for steps in cfg.sample_steps or default_steps:
            for w in cfg.guidance or (0.0,):
                options = {"eta": cfg.eta if sampler == "ddim" else 0.0, **({"guidance": w} if w else {})}
                setting = family.resolve(cfg.hparams, sampler, steps, **options)
                if setting not in out:  # `--sample-steps 5,5` is one setting, one row (not two "seeds")
                    out.append(setting)
    return out
