"""Samples genbench did not make, scored like a trained run: an array file (.npy, .npz, .pt) or a
folder of PNG/JPEG images against a dataset's held-out set, with the same metrics, real-data floor
and feature extractors, as one leaderboard row (`source = external`)."""
import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from .config import RunConfig, fid_options, resolve_dataset
from .data import default_n
from .evaluate import sample_metrics
from .results import append_row, read_rows

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class ExternalError(ValueError):
    """Samples that cannot be read or do not fit the dataset (one line for the user)."""


def read_samples(path: Path) -> torch.Tensor:
    """The array in a .npy/.npz/.pt file (no pickled objects), or a folder's images as N×H×W[×C] uint8."""
    path = Path(path)
    if path.is_dir():
        return _read_folder(path)
    try:
        if path.suffix == ".npy":
            return torch.from_numpy(np.load(path, allow_pickle=False))
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                keys = list(f.keys())
                if "samples" not in keys and len(keys) != 1:
                    raise ExternalError(f"{path} holds arrays {keys}; name the samples 'samples'")
                return torch.from_numpy(f["samples" if "samples" in keys else keys[0]])
        if path.suffix == ".pt":
            x = torch.load(path, weights_only=True)
            if not isinstance(x, torch.Tensor):
                raise ExternalError(f"{path} holds a {type(x).__name__}, not a tensor of samples")
            return x
    except ExternalError:
        raise
    except Exception as e:  # noqa: BLE001 -- numpy and torch raise many kinds for a damaged or foreign file
        raise ExternalError(f"{path} is not a readable {path.suffix} array ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else 'no message'})") from None
    raise ExternalError(f"{path}: samples must be an .npy, .npz or .pt file, or a folder of .png/.jpg images")


def _read_folder(path: Path) -> torch.Tensor:
    from PIL import Image
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ExternalError(f"{path} holds no .png or .jpg images")
    arrays = []
    for f in files:
        try:
            with Image.open(f) as image:
                arrays.append(np.asarray(image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode)))
        except OSError as e:
            raise ExternalError(f"{f} is not a readable image ({e})") from None
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        raise ExternalError(f"{path} mixes image sizes {', '.join('×'.join(map(str, s)) for s in shapes[:3])}; "
                            "give images of one size")
    return torch.from_numpy(np.stack(arrays))


def to_data_space(x: torch.Tensor, shape: tuple) -> tuple[torch.Tensor, str]:
    """Samples as the metrics take them (2-D points; images N×C×H×W in [−1, 1]) and a description of
    what was detected. Raises ExternalError for a shape or range that does not fit `shape`."""
    if len(shape) == 1:
        if x.dim() != 2 or x.shape[1] != shape[0]:
            raise ExternalError(f"samples are {_dims(x)}; this dataset needs N×{shape[0]} points")
        return _finite(x.double()).float(), f"{len(x)} points"
    c, h, w = shape
    if x.dim() == 3 and c == 1:
        x = x[:, None]
    if x.dim() != 4:
        raise ExternalError(f"samples are {_dims(x)}; images must be N×C×H×W or N×H×W×C")
    layout = "N×C×H×W"
    if x.shape[1] != c and x.shape[-1] == c:
        x, layout = x.permute(0, 3, 1, 2), "N×H×W×C"
    if x.shape[1] != c:
        raise ExternalError(f"images have {x.shape[1]} channels (as {_dims(x)}); this dataset has {c}")
    if tuple(x.shape[2:]) != (h, w):
        raise ExternalError(f"images are {x.shape[2]}×{x.shape[3]}; this dataset is evaluated at {h}×{w} "
                            "(--image-size sets the size)")
    if x.dtype == torch.uint8:
        return x.float() / 127.5 - 1, f"{len(x)} images, {layout}, uint8 in [0, 255]"
    if not x.is_floating_point():
        raise ExternalError(f"images are {x.dtype}; give uint8 or floats in [0, 1] or [−1, 1]")
    x = _finite(x.double())
    low, high = float(x.min()), float(x.max())
    if low >= 0 and high <= 1:
        return (2 * x - 1).float(), f"{len(x)} images, {layout}, floats in [0, 1]"
    if low < -2 or high > 2:
        raise ExternalError(f"image values span [{low:.3g}, {high:.3g}]; give uint8, or floats in [0, 1] or [−1, 1]")
    return x.float(), f"{len(x)} images, {layout}, floats in [−1, 1] (values outside are clipped when quantised)"


def _finite(x: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(x).all():
        raise ExternalError(f"{int((~torch.isfinite(x)).sum())} sample values are NaN or infinite")
    return x


def _dims(x: torch.Tensor) -> str:
    return "×".join(map(str, x.shape))


def content_hash(path: Path, extra: dict) -> str:
    """sha256 of the samples' bytes (a folder: its image files in name order) and the evaluation settings."""
    h = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    path = Path(path)
    for f in sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]:
        h.update(f.name.encode() if path.is_dir() else b"")
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def evaluate_external(cfg: RunConfig, samples_path: Path, name: str, results_dir: Path, nfe=None, sec_per_1k=None,
                      log=print) -> dict | None:
    """Score the samples at `samples_path` on cfg's dataset; append and return their row (None when
    the same samples under the same settings are in the leaderboard already)."""
    from .data import dataset_shape
    from .runner import extractor_columns, image_features, load_data, provenance, real_floor
    x, how = to_data_space(read_samples(samples_path), dataset_shape(cfg.dataset, cfg.image_size))
    cfg = dataclasses.replace(cfg, n_eval=min(cfg.n_eval or default_n(cfg.dataset), len(x)))
    digest = content_hash(samples_path, {"dataset": cfg.dataset, "n": cfg.n_eval, "image_size": cfg.image_size,
                                         "data_seed": cfg.data_seed, **({"fid_ref": cfg.fid_ref} if cfg.fid_ref else {})})
    run_id = f"external-{name}-{cfg.dataset}-{digest}"
    if any(r["run_id"] == run_id for r in read_rows(results_dir)[1]):
        log(f"{run_id} is already in the leaderboard; use another --results folder to score it again")
        return None
    data = load_data(cfg)
    features = image_features(cfg, data, log)
    n = len(data.reference)
    log(f"read {how} from {samples_path}; scoring the first {n} against {n} held-out real ones")
    metrics = sample_metrics(x[:n], data, features)  # finite: to_data_space checked
    real_floor(cfg, data, features, results_dir, log)
    row = {"run_id": run_id, "model": name, "dataset": cfg.dataset, "seed": None, "status": "ok", "source": "external",
           "nfe": nfe, "sample_sec_per_1k": sec_per_1k, **metrics, **extractor_columns(data, features),
           "config_hash": digest, **provenance(), "device": cfg.device,
           "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if not append_row(results_dir, row, unique=("run_id",)):
        log(f"{run_id} was added by another process meanwhile; not added twice")
    return row


def eval_config(dataset: str, n_eval=None, image_size=None, device="cpu", fid_ref=None, **paths) -> RunConfig:
    """The RunConfig of an evaluation without a model: dataset (a name or a user's .npz), sample
    count, image size (None: the dataset's own, as for a run, so both share the floor row), FID's
    statistics file and paths. Bad values raise ValueError."""
    dataset, shape = resolve_dataset(dataset, image_size, paths)
    return RunConfig("external", dataset, n_eval=n_eval, image_size=image_size, device=device,
                     **fid_options(shape, "genbench", fid_ref), **paths)
