"""Feature extractors for image metrics: the domain classifier (always) and pytorch-fid's
InceptionV3 (when its FID weights are on disk). `prepare` builds both for a dataset, with the
reference set's features and statistics cached by (dataset, split, extractor, N).

FID's reference statistics come, by protocol: "genbench" (default) from the held-out reference set
the other metrics use, with as many generated samples; "paper" from the whole training set against
50,000 generated samples (how DDPM's 3.17 and DDGAN's 3.75 on CIFAR-10 were measured); or from a
pytorch-fid statistics file (`--fid-ref`, e.g. `genbench stats` or published train statistics)."""
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
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
    fid_ref: str | None = None              # what inception_stats are of (the row's `fid_ref`)
    fid_samples: int | None = None          # generated samples FID and IS read (None: as many as the reference)

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


PAPER_FID_SAMPLES = 50_000
FID_PROTOCOLS = ("genbench", "paper")


def prepare(data, data_seed: int, domain: DomainFeatures, inception=None, protocol: str = "genbench",
            fid_ref: tuple | None = None) -> ImageFeatures:
    """Reference features (domain) and statistics (Inception) of `data.reference`, cached; FID's
    statistics by `protocol` (see the module), or `fid_ref` = (label, μ, Σ) from a file."""
    stats = cache_dir() / "stats"

    def key(split: str, n: int) -> str:
        return f"{data.name}-{split}-s{data.shape[-1]}-d{data_seed}-n{n}"
    ref = quantize(data.reference)
    ref_key = key("reference", len(ref))
    feats = _cached(stats / f"{ref_key}-{domain.name}.pt", lambda: {"features": domain.features(ref)})["features"]
    if inception is None:
        return ImageFeatures(domain, feats)

    def inception_stats(images):
        return lambda: {"features": (f := inception(images)), **dict(zip(("mu", "sigma"), gaussian_stats(f)))}
    s = _cached(stats / f"{ref_key}-{inception.name}-features.pt", inception_stats(ref))
    out = ImageFeatures(domain, feats, inception, (s["mu"], s["sigma"]), s["features"], fid_ref=ref_key)
    if protocol == "paper":
        out.fid_samples = PAPER_FID_SAMPLES
        if fid_ref is None:
            train_key = key("train", len(data.train))
            t = _cached(stats / f"{train_key}-{inception.name}-features.pt", inception_stats(quantize(data.train)))
            out.inception_stats, out.fid_ref = (t["mu"], t["sigma"]), train_key
    if fid_ref is not None:
        out.fid_ref, out.inception_stats = fid_ref[0], fid_ref[1:]
    return out


def pytorch_fid_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """μ and Σ of (N, 2048) pool3 features as pytorch-fid's calculate_activation_statistics makes
    them: the network's float32 outputs in a float64 array, μ = np.mean, Σ = np.cov."""
    act = features.float().double().numpy()
    return np.mean(act, axis=0), np.cov(act, rowvar=False)


def write_fid_stats(path: Path, mu: np.ndarray, sigma: np.ndarray) -> None:
    """The file `python -m pytorch_fid --save-stats` writes (np.savez_compressed, keys mu and sigma), atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, mu=mu, sigma=sigma)
    atomic_write(path, buf.getvalue())


class FidRefError(ValueError):
    pass


def read_fid_ref(path: str | Path, dims: int = 2048) -> tuple[str, torch.Tensor, torch.Tensor]:
    """(label, μ, Σ) of a pytorch-fid statistics .npz; the label, "NAME#" and the first 12 hex
    digits of its SHA-256, says in a row which file it was. A file that is not one: FidRefError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        with np.load(io.BytesIO(raw), allow_pickle=False) as f:
            mu, sigma = f["mu"], f["sigma"]
    except OSError as e:
        raise FidRefError(f"--fid-ref {path}: {e.strerror or e}") from None
    except KeyError:
        raise FidRefError(f"--fid-ref {path}: no 'mu' and 'sigma' arrays (pytorch-fid's --save-stats file)") from None
    except ValueError as e:  # not an .npz, or pickled objects in it
        raise FidRefError(f"--fid-ref {path} is not a readable .npz of mu and sigma ({str(e).splitlines()[0]})") from None
    if mu.shape != (dims,) or sigma.shape != (dims, dims):
        raise FidRefError(f"--fid-ref {path}: mu {mu.shape} and sigma {sigma.shape} are not ({dims},) and "
                          f"({dims}, {dims}), the Inception pool3 features' statistics")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise FidRefError(f"--fid-ref {path}: mu or sigma has NaN or inf values")
    label = f"{path.name}#{hashlib.sha256(raw).hexdigest()[:12]}"
    return label, torch.from_numpy(mu.astype(np.float64)), torch.from_numpy(sigma.astype(np.float64))
