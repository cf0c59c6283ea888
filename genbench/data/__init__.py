"""Datasets by name. Each is a seeded draw or a fixed split, with a train set and a held-out
reference set that the metrics compare generated samples against."""
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from . import files, images, toy


@dataclass(frozen=True)
class Dataset:
    name: str
    train: torch.Tensor                 # (N, *shape), in data space (images: [−1, 1])
    reference: torch.Tensor             # held-out real samples the metrics compare against
    means: torch.Tensor | None = None   # mixture modes (K, 2), for the 2-D mode metrics
    sigma: float | None = None
    train_labels: torch.Tensor | None = None      # classes (stacked: 3-digit codes)
    reference_labels: torch.Tensor | None = None
    num_classes: int | None = None      # modes the class-based mode count is out of
    base: str | None = None             # the single-channel dataset whose classifier reads each channel
    shift: torch.Tensor | None = None   # 2-D: models train on (x − shift)/scale, see `to_model`
    scale: float = 1.0

    @property
    def shape(self) -> tuple:
        return tuple(self.train.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data space -> the space models train and sample in. 2-D data is standardised (training
        mean removed, divided by one scalar std, so shapes and angles are kept): one recipe then
        fits a mixture at any position and scale, as images in [−1, 1] do. Images pass unchanged."""
        return x if self.shift is None else (x - self.shift) / self.scale

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> data space (the inverse of `to_model`)."""
        return x if self.shift is None else x * self.scale + self.shift


# name -> (draw(n, generator), means, sigma)
_TOY = {
    "grid25": (partial(toy.mixture, toy.grid25_means(), 0.05), toy.grid25_means(), 0.05),
    "ring8": (partial(toy.mixture, toy.ring8_means(), 0.02), toy.ring8_means(), 0.02),
    "swissroll": (toy.swissroll, None, None),
    # PacGAN's 2D-ring (Lin et al. 2018, §5.1): radius 1, σ 0.01 (its 2D-grid is grid25)
    "pacgan-ring": (partial(toy.mixture, toy.ring8_means(1.0), 0.01), toy.ring8_means(1.0), 0.01),
}
_VISION = {"mnist": (1, 28), "fashion-mnist": (1, 28), "cifar10": (3, 32)}   # name -> (channels, size)
STACKED = {"stacked-digits": "digits", "stacked-mnist": "mnist"}   # name -> base dataset
DATASETS = (*_TOY, "digits", "stacked-digits", *_VISION, "stacked-mnist")
N_TRAIN = 100_000           # 2-D training draw
N_STACKED_TRAIN = 60_000    # stacked training images (Stacked MNIST uses MNIST's size)
# default evaluation sample count: PacGAN's 26k for 1,000 stacked modes, else 10k (or all held-out)
DEFAULT_N = {"stacked-digits": 26_000, "stacked-mnist": 26_000}


def default_n(name: str) -> int:
    return DEFAULT_N.get(name, 10_000)


def native_size(name: str) -> int | None:
    """Side of the dataset's own images (None for 2-D data)."""
    base = STACKED.get(name, name)
    return 8 if base == "digits" else _VISION[base][1] if base in _VISION else None


def dataset_shape(name: str, image_size: int | None = None) -> tuple:
    """The shape of one sample, without loading anything (a user's file holds 2-D points)."""
    if name in _TOY or name not in DATASETS:
        return (2,)
    base = STACKED.get(name, name)
    channels = 3 if name in STACKED else 1 if base == "digits" else _VISION[base][0]
    size = image_size or native_size(name)
    return (channels, size, size)


def dataset_classes(name: str) -> int | None:
    """The classes a conditional model can learn, without loading anything: a mixture's modes, the
    digit classes, stacked datasets' 3-digit codes; None for the swiss roll and users' files."""
    if name in _TOY:
        return None if _TOY[name][1] is None else len(_TOY[name][1])
    if name not in DATASETS:
        return None
    return 1000 if name in STACKED else 10


def check_name(name: str) -> None:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def get_dataset(name: str, n_reference: int | None = None, data_seed: int = 0, image_size: int | None = None,
                root: Path | None = None, download: bool = False, file: str | None = None,
                standardise: bool = True) -> Dataset:
    """The named dataset (or the user's .npz `file`, named by `files.file_dataset_name`). The data
    seed is fixed and separate from the run seed, so every model sees the same data; train and
    reference never share a sample. `n_reference` defaults to the dataset's evaluation size and
    is capped at the held-out points or images there are."""
    n_reference = n_reference or default_n(name)
    if file is not None:
        arrays = files.read_npz(file)
        return points(name, *files.split(arrays, n_reference, data_seed), arrays.get("modes"), arrays.get("sigma"),
                      standardise)
    check_name(name)
    if name in _TOY:
        return _toy(name, n_reference, data_seed, standardise)
    if name in STACKED:
        return _stacked(name, n_reference, data_seed, image_size, root, download)
    x_tr, y_tr, x_ref, y_ref = _base_splits(name, data_seed, root, download)
    x_tr, x_ref = images.resize(x_tr, image_size), images.resize(x_ref, image_size)
    keep = torch.randperm(len(x_ref), generator=torch.Generator().manual_seed(data_seed))[:n_reference]
    return Dataset(name, images.to_unit(x_tr), images.to_unit(x_ref[keep]), train_labels=y_tr,
                   reference_labels=y_ref[keep], num_classes=10)


def _toy(name, n_reference, data_seed, standardise=True) -> Dataset:
    draw, means, sigma = _TOY[name]
    g = torch.Generator().manual_seed(data_seed)
    train = draw(n=N_TRAIN, g=g)
    reference = draw(n=n_reference, g=g)
    return points(name, train, reference, means, sigma, standardise)


def points(name, train, reference, means=None, sigma=None, standardise=True) -> Dataset:
    """A 2-D dataset, standardised for the models by its training points' mean and overall std
    (unless a paper's protocol trains on raw coordinates: `standardise=False`)."""
    labels = {}
    if means is not None:  # a mixture's classes: each point's mode (the nearest mean; modes are >= 15σ apart)
        nearest = lambda x: torch.cdist(x, means.to(x.dtype)).argmin(1)  # noqa: E731
        labels = dict(train_labels=nearest(train), reference_labels=nearest(reference), num_classes=len(means))
    if not standardise:
        return Dataset(name, train, reference, means, sigma, **labels)
    shift = train.mean(0)
    scale = float((train - shift).square().sum(1).mean().div(2).sqrt())
    return Dataset(name, train, reference, means, sigma, **labels, shift=shift, scale=scale)


def _base_splits(name, data_seed, root, download):
    """uint8 (train images, train labels, held-out images, held-out labels) at native size."""
    if name == "digits":
        return images.load_digits(data_seed)
    from .vision import default_root, load_vision  # torchvision only when it is needed
    root = Path(root) if root else default_root()
    return (*load_vision(name, root, train=True, download=download),
            *load_vision(name, root, train=False, download=download))


def _stacked(name, n_reference, data_seed, image_size, root, download) -> Dataset:
    """Three independent base images as channels: training triples from the base train split,
    reference triples from its held-out split."""
    try:
        x_tr, y_tr, x_ref, y_ref = _base_splits(STACKED[name], data_seed, root, download)
    except Exception as e:  # a missing base file: say which dataset needed it
        from .vision import DataError  # (torchvision only once it is involved)
        if not isinstance(e, DataError):
            raise
        raise DataError(f"{name} is built from {STACKED[name]}'s files: {e}") from None
    x_tr, x_ref = images.resize(x_tr, image_size), images.resize(x_ref, image_size)
    g = torch.Generator().manual_seed(data_seed)
    train, train_codes = images.stack(x_tr, y_tr, N_STACKED_TRAIN, g)
    reference, reference_codes = images.stack(x_ref, y_ref, n_reference, g)
    return Dataset(name, images.to_unit(train), images.to_unit(reference), train_labels=train_codes,
                   reference_labels=reference_codes, num_classes=1000, base=STACKED[name])
