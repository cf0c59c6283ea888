"""The domain classifier: a small CNN that genbench trains on a dataset's own training split and
caches. Its penultimate features give FD-domain and precision/recall/density/coverage (the offline
stand-in for Inception, as "Fréchet LeNet distance" is for MNIST); its class predictions give the
mode count. Stacked datasets are read one channel at a time by the classifier of their base data.
"""
import io
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import nn
from tqdm.auto import tqdm

from ..data.images import CODE, to_unit
from ..results import atomic_write
from models.nets import resolutions

VERSION = 1             # part of the cache key: bump when the network or its training changes
STEPS, BATCH, LR = 3000, 128, 1e-3
FEATURES = 128


def cache_dir() -> Path:
    """$GENBENCH_CACHE, else ~/.cache/genbench: classifiers and reference statistics live here."""
    env = os.environ.get("GENBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genbench"


class DomainCNN(nn.Module):
    """Two 3×3 convolutions per resolution (ReLU, stride-2 between), global average pooling,
    a 128-d penultimate layer (the features), dropout, then the class logits."""

    def __init__(self, channels: int, size: int, num_classes: int = 10):
        super().__init__()
        layers, c = [], channels
        for i, _ in enumerate(resolutions(size)):
            c_out = 32 * 2 ** min(i, 2)
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(c, c_out, 3, stride=stride, padding=1), nn.ReLU(),
                       nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU()]
            c = c_out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, FEATURES), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, num_classes))

    def forward(self, x):
        return self.head(self.body(x))


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random translation by up to 1/8 of the side (pad and crop): the usual augmentation that
    keeps a small CNN from memorising 1,437 digits."""
    pad = max(1, x.shape[-1] // 8)
    xp = F.pad(x, (pad,) * 4, value=-1.0)
    i, j = torch.randint(2 * pad + 1, (2,), generator=g).tolist()
    return xp[..., i:i + x.shape[-2], j:j + x.shape[-1]]


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int = 10, steps: int = STEPS,
                     seed: int = 0, progress: bool = True) -> DomainCNN:
    """Adam on cross-entropy over uint8 images x (N, C, H, W) with labels y, deterministic in seed."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = DomainCNN(x.shape[1], x.shape[-1], num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in tqdm(range(steps), desc="train domain classifier", disable=not progress or None, leave=False):
        idx = torch.randint(len(x), (BATCH,), generator=g)
        loss = F.cross_entropy(net(_shift(to_unit(x[idx]), g)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([fn(to_unit(x[i:i + batch])) for i in range(0, len(x), batch)])


def accuracy(net: DomainCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((_batched(net, x).argmax(1) == y).double().mean())


class DomainFeatures:
    """Features and class codes of uint8 images under a trained classifier; a stacked image is
    read channel by channel (features concatenated, code = d0·100 + d1·10 + d2)."""

    def __init__(self, net: DomainCNN, name: str, stacked: bool, accuracy: float):
        self.net, self.name, self.stacked, self.accuracy = net, name, stacked, accuracy

    def _channels(self, x):
        return x.unbind(1) if self.stacked else [x]  # each (N, H, W) -> read as (N, 1, H, W) below

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) uint8 -> (N, 128) or, stacked, (N, 3·128) float64."""
        parts = [_batched(self.net.body, c[:, None] if self.stacked else c) for c in self._channels(x)]
        return torch.cat(parts, dim=1).double()

    def classes(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) predicted class, or for stacked images the 3-digit code."""
        if not self.stacked:
            return _batched(self.net, x).argmax(1)
        digits = torch.stack([_batched(self.net, c[:, None]).argmax(1) for c in x.unbind(1)], dim=1)
        return digits @ CODE


def load_or_train(base: str, size: int, data_seed: int, base_data, stacked: bool, log=print,
                  progress: bool = True) -> DomainFeatures:
    """The cached classifier for (dataset, split, image size, code version), trained on first use.

    `base_data` is the single-image dataset (uint8 train/held-out splits via its fields); the
    held-out accuracy is measured once at training time and kept with the weights."""
    name = f"{base}-cnn-v{VERSION}"
    path = cache_dir() / "classifiers" / f"{name}-train-s{size}-d{data_seed}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):  # parallel runs train it once
        if path.exists():
            state = torch.load(path, map_location="cpu", weights_only=True)
            net = DomainCNN(state["channels"], size, state["num_classes"])
            net.load_state_dict(state["net"])
            net.eval()
        else:
            x_tr, y_tr, x_te, y_te = base_data
            log(f"training the {base} domain classifier ({STEPS} steps, cached in {path.parent}) ...")
            net = train_classifier(x_tr, y_tr, int(y_tr.max()) + 1, progress=progress)
            state = {"net": net.state_dict(), "channels": x_tr.shape[1], "num_classes": int(y_tr.max()) + 1,
                     "accuracy": accuracy(net, x_te, y_te)}
            buf = io.BytesIO()
            torch.save(state, buf)
            atomic_write(path, buf.getvalue())
            log(f"{base} domain classifier: {state['accuracy']:.2%} held-out accuracy")
    return DomainFeatures(net, name, stacked, float(state["accuracy"]))
