"""A user's own 2-D data: `--dataset PATH.npz` with `train` (N×2), optional `test` (M×2; else a
seeded 90/10 split of `train`), optional `modes` (K×2) with `sigma` for the mode metrics."""
import hashlib
from pathlib import Path

import numpy as np
import torch

from .. import first_line

MIN_POINTS = 20


def is_file(dataset: str) -> bool:
    return dataset.endswith(".npz")


def file_dataset_name(path: str) -> str:
    """`<stem>-<sha256 of the content, 12 hex>`: runs are named by the data, not where it lies."""
    p = Path(path)
    try:
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    except OSError as e:
        raise ValueError(f"--dataset {path}: cannot read it ({e.strerror or e})") from None
    return f"{p.stem}-{digest}"


def _points(arrays, key: str, path: str) -> torch.Tensor:
    a = arrays[key]
    if a.ndim != 2 or a.shape[1] != 2 or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"--dataset {path}: '{key}' must be a numeric N×2 array, got shape {a.shape} of {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"--dataset {path}: '{key}' holds NaN or inf")
    return torch.from_numpy(a.astype(np.float32))


def read_npz(path: str) -> dict:
    """The file's arrays as tensors, validated; every fault is a ValueError of one line."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as e:  # missing, not a zip, pickled objects, truncated
        raise ValueError(f"--dataset {path}: not a readable .npz file ({first_line(e)})") from None
    if "train" not in arrays:
        raise ValueError(f"--dataset {path}: no 'train' array (found: {', '.join(arrays) or 'none'})")
    out = {"train": _points(arrays, "train", path)}
    if len(out["train"]) < MIN_POINTS:
        raise ValueError(f"--dataset {path}: 'train' has {len(out['train'])} points, need at least {MIN_POINTS}")
    if not (out["train"] != out["train"][0]).any():
        raise ValueError(f"--dataset {path}: every 'train' point is the same; there is nothing to learn or standardise")
    if "test" in arrays:
        out["test"] = _points(arrays, "test", path)
    if ("modes" in arrays) != ("sigma" in arrays):
        raise ValueError(f"--dataset {path}: 'modes' and 'sigma' go together (the mode metrics need both)")
    if "modes" in arrays:
        out["modes"] = _points(arrays, "modes", path)
        sigma = arrays["sigma"]
        if sigma.size != 1 or not np.issubdtype(sigma.dtype, np.number) or not float(sigma.reshape(())) > 0:
            raise ValueError(f"--dataset {path}: 'sigma' must be one positive number")
        out["sigma"] = float(sigma.reshape(()))
    return out


def split(arrays: dict, n_reference: int, data_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, reference): the file's `test` (up to n_reference of it), else a seeded 90/10 split."""
    train, g = arrays["train"], torch.Generator().manual_seed(data_seed)
    if "test" in arrays:
        test = arrays["test"]
        return train, test[torch.randperm(len(test), generator=g)[:n_reference]]
    order = torch.randperm(len(train), generator=g)
    n_test = max(1, len(train) // 10)
    return train[order[n_test:]], train[order[:n_test][:n_reference]]
