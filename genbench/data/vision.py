"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, as uint8 tensors.

Nothing is downloaded unless asked. Every failure (missing files, a failed download, a corrupt
file, a bad root folder) is a `DataError` with one line that says what to put where, because
torchvision's own errors speak of `download=True` and come with its traceback.
"""
import os
from pathlib import Path

import torch
from torchvision import datasets
from torchvision.datasets.mnist import read_image_file, read_label_file
from torchvision.datasets.utils import check_integrity

VISION = ("mnist", "fashion-mnist", "cifar10")   # torchvision datasets genbench knows
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}

_CLASSES = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}
# Where torchvision 0.29 looks under root, and the files it insists on: all of them for either
# split (MNIST's existence check and CIFAR-10's checksum check both cover the whole dataset).
_FOLDERS = {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py"}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
_FILES = {"mnist": _IDX_FILES, "fashion-mnist": _IDX_FILES, "cifar10": _CIFAR_FILES}
_HINT = {"mnist": " (uncompressed, not .gz)", "fashion-mnist": " (uncompressed, not .gz)",
         "cifar10": " (from cifar-10-python.tar.gz)"}


class DataError(RuntimeError):
    """A dataset cannot be loaded; the message is one line for the user."""


def default_root() -> Path:
    """$GENBENCH_DATA if set, else ~/.cache/genbench/data."""
    env = os.environ.get("GENBENCH_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genbench" / "data"


def load_vision(name: str, root: Path, train: bool, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, C, H, W), labels int64 (N,)) of the named split, read by torchvision from
    its usual place under `root`; downloads there first only when `download` is set."""
    if name not in VISION:
        raise DataError(f"unknown vision dataset {name!r}; choose from {', '.join(VISION)}")
    root = Path(root).expanduser()
    _check_root(root)
    new = [p for p in [root / _FOLDERS[name], *(root / _FOLDERS[name]).parents] if not p.exists()]
    try:
        dataset = _CLASSES[name](str(root), train=train, download=download)
    except Exception as err:  # torchvision raises anything from AssertionError to URLError
        for folder in new:  # a failed download leaves no empty folders behind (deepest first)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise _diagnose(name, root, train, download, err) from None
    if name == "cifar10":   # numpy (N, H, W, C) and a list of ints
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor(dataset.targets, dtype=torch.int64)
    else:                   # tensors (N, H, W) uint8 and (N,) int64
        images, labels = dataset.data.unsqueeze(1), dataset.targets
    _check_arrays(name, root / _FOLDERS[name], images, labels)
    return images, labels


def _check_root(root: Path) -> None:
    """A root that is a file or cannot be listed would otherwise read as 'files missing'."""
    if root.exists() and not root.is_dir():
        raise DataError(f"data root {root} is not a directory")
    if root.exists() and not os.access(root, os.R_OK | os.X_OK):
        raise DataError(f"data root {root} is not readable")


def _diagnose(name: str, root: Path, train: bool, download: bool, err: Exception) -> DataError:
    """Turn torchvision's failure into one line: files missing (after a download if one was
    asked for) or a file there that does not parse."""
    folder, needs = root / _FOLDERS[name], ", ".join(_FILES[name])
    missing = [f for f in _FILES[name] if not (folder / f).is_file()]
    if missing and download:
        return DataError(f"{name}: download failed ({_one_line(err)}); put {needs}{_HINT[name]} in {folder} by hand")
    if missing:
        lead = "no data" if len(missing) == len(_FILES[name]) else f"missing {', '.join(missing)}"
        return DataError(f"{name}: {lead} in {folder}; {name} needs {needs} there{_HINT[name]}, or pass --download")
    # torchvision's own text ("use download=True") is no advice for a user; say which file is bad
    bad = ", ".join(_bad_files(name, folder, train)) or f"{folder} ({_one_line(err)})"
    return DataError(f"{name}: cannot read {bad}; replace, or delete and pass --download")


def _bad_files(name: str, folder: Path, train: bool) -> list[str]:
    """'path (why)' for each corrupt file of the split: for CIFAR-10 those whose checksum is off
    (torchvision reads nothing before checking them all), for MNIST-like data the idx files that
    do not parse."""
    if name == "cifar10":
        cls = datasets.CIFAR10
        expected = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
        return [f"{folder / f} (checksum mismatch)" for f, md5 in expected if not check_integrity(folder / f, md5)]
    split = "train" if train else "t10k"
    bad = []
    for path, read in ((folder / f"{split}-images-idx3-ubyte", read_image_file),
                       (folder / f"{split}-labels-idx1-ubyte", read_label_file)):
        try:
            read(str(path))
        except Exception as err:  # the same readers torchvision just failed in
            bad.append(f"{path} ({_one_line(err)})")
    return bad


def _check_arrays(name: str, folder: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    """torchvision accepts any idx image size and never compares image and label counts."""
    if tuple(images.shape[1:]) != SHAPES[name]:
        raise DataError(f"{name}: images in {folder} have shape {tuple(images.shape[1:])}, expected {SHAPES[name]}")
    if len(images) != len(labels):
        raise DataError(f"{name}: {folder} holds {len(images)} images but {len(labels)} labels")


def _one_line(err: Exception) -> str:
    """The exception's text on one line (torchvision's download errors span several lines; its
    idx reader fails bare asserts that have no text at all)."""
    return " ".join(str(err).split()) or type(err).__name__
