"""Feature extractors for image metrics: the domain classifier (always) and pytorch-fid's
InceptionV3 (when its FID weights are on disk). `prepare` builds both for a dataset, with the
reference set's features and statistics cached by (dataset, split, extractor, N)."""
import io
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import get_dataset
from ..data.images import quantize
from ..metrics import gaussian_stats
from ..results import atomic_write
from .domain import DomainFeatures, cache_dir, load_or_train


@dataclass
class ImageFeatures:
    domain: DomainFeatures
    reference: torch.Tensor                 # domain features of the reference images (N, F)
    inception: object | None = None         # InceptionFeatures, or None when FID is skipped
    inception_stats: tuple | None = None    # (μ, Σ) of the reference images' Inception features
    inception_reference: torch.Tensor | None = None  # those features themselves (N, 2048), for KID

    @property
    def name(self) -> str:
        return self.domain.name + (f"+{self.inception.name}" if self.inception is not None else "")


def _cached(path: Path, compute) -> dict:
    """A dict of tensors from `path`, or computed and saved there (weights_only on load)."""
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    out = compute()
    buf = io.BytesIO()
    torch.save(out, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())
    return out


def domain_extractor(data, image_size, data_seed, root=None, download=False, log=print, progress=True) -> DomainFeatures:
    """The cached classifier that reads this dataset (its base's, for stacked data)."""
    base = data.base or data.name
    base_data = get_dataset(base, n_reference=10**9, data_seed=data_seed, image_size=image_size,
                            root=root, download=download)   # every held-out image, for the accuracy
    splits = (quantize(base_data.train), base_data.train_labels, quantize(base_data.reference),
              base_data.reference_labels)
    return load_or_train(base, data.shape[-1], data_seed, splits, stacked=data.base is not None, log=log,
                         progress=progress)


def prepare(data, data_seed: int, domain: DomainFeatures, inception=None) -> ImageFeatures:
    """Reference features (domain) and statistics (Inception) of `data.reference`, cached."""
    key = f"{data.name}-reference-s{data.shape[-1]}-d{data_seed}-n{len(data.reference)}"
    ref = quantize(data.reference)
    stats = cache_dir() / "stats"
    feats = _cached(stats / f"{key}-{domain.name}.pt", lambda: {"features": domain.features(ref)})["features"]
    if inception is None:
        return ImageFeatures(domain, feats)

    def inception_features():
        f = inception(ref)
        return {"features": f, **dict(zip(("mu", "sigma"), gaussian_stats(f)))}
    s = _cached(stats / f"{key}-{inception.name}-features.pt", inception_features)
    return ImageFeatures(domain, feats, inception, (s["mu"], s["sigma"]), s["features"])
