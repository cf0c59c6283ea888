"""FID features: pytorch-fid's Inception-v3 with its FID weights, read from a local file only.

pytorch-fid's own constructor fetches the weights with load_state_dict_from_url whenever they are
not cached. genbench builds the same network from pytorch-fid's building blocks and loads the state
dict from a file the user provides (or put in the torch hub cache with `--download`), after checking
its SHA-256. There is no fallback to other weights: without the file, FID is unavailable.
"""
import hashlib
import os
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from pytorch_fid import inception as fid
from torch import nn

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
ENV = "GENBENCH_INCEPTION_WEIGHTS"
# Full SHA-256 of pytorch-fid's release file (95,628,359 bytes), as pinned independently by several
# public projects that verify it; it starts with the 8 hex digits that torch hub's naming convention
# puts in the file name, so it is also what torch.hub's own check_hash would accept.
SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"


class InceptionUnavailable(RuntimeError):
    """No weights file; the message is one line saying where to put it (and that --download fetches it)."""


class WeightsRejected(RuntimeError):
    """A weights file whose SHA-256 does not match; one line naming the file and both hashes."""


def hub_path() -> Path:
    """Where torch hub (and so pytorch-fid) caches the weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (the weights are ~96 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _checked(path: Path) -> Path:
    actual = sha256(path)
    if actual != SHA256:
        raise WeightsRejected(f"{path}: SHA-256 {actual} is not the FID Inception weights' {SHA256}")
    return path


def _unavailable(where: str) -> InceptionUnavailable:
    return InceptionUnavailable(
        f"FID Inception weights not found ({where}): put {WEIGHTS_FILE} at {hub_path()} or point ${ENV} "
        f"(or the weights path) at it; --download fetches it from pytorch-fid's release")


def find_weights(path: str | Path | None = None) -> Path:
    """The verified weights file: the explicit path, else $GENBENCH_INCEPTION_WEIGHTS, else the hub cache.

    A path that is given (argument or variable) is the only one tried: if it is wrong, the user
    hears so instead of silently getting whatever the cache holds. A directory stands for the
    file of the expected name inside it.
    """
    given, source = (path, "given path") if path is not None else (os.environ.get(ENV), f"${ENV}")
    candidate = Path(given).expanduser() if given else hub_path()
    if candidate.is_dir():
        candidate = candidate / WEIGHTS_FILE
    if not candidate.is_file():
        raise _unavailable(f"no file {candidate}" + (f" from {source}" if given else ""))
    return _checked(candidate)


def download_weights() -> Path:
    """Fetch pytorch-fid's weights into the hub cache and verify them (only on the user's --download)."""
    dest = hub_path()
    if dest.is_file():
        return _checked(dest)  # a bad file already there is the user's to inspect, not ours to delete
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(fid.FID_WEIGHTS_URL, str(dest), progress=True)
    except OSError as e:  # URLError and HTTPError are OSErrors
        raise InceptionUnavailable(f"cannot download {fid.FID_WEIGHTS_URL}: {e}") from None
    try:
        return _checked(dest)
    except WeightsRejected:
        dest.unlink()  # a bad download must not be found by the next find_weights
        raise


def fid_inception_net() -> nn.Module:
    """pytorch_fid.inception.fid_inception_v3's network (torchvision's Inception3 with 1008 classes
    and the TF-FID patches), without its weights and without its download."""
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008, init_weights=False)
    net.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid.FIDInceptionE_1(1280)
    net.Mixed_7c = fid.FIDInceptionE_2(2048)
    return net


def _pool3(net: nn.Module) -> nn.Sequential:
    """The layers InceptionV3(output_blocks=[3]) chains: blocks 0-3, up to the final average pool."""
    return nn.Sequential(
        net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
        net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
        net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d(output_size=(1, 1)))


class InceptionFeatures:
    """uint8 images -> 2048-d pool3 features, as pytorch-fid computes them for FID."""

    name = "inception-v3-fid"

    def __init__(self, weights: Path, device="cpu", batch_size: int = 50):
        net = fid_inception_net()
        # strict: a file of other shapes or keys is an error, not a partly random network
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.net = _pool3(net).to(device).eval().requires_grad_(False)
        # its 1008-way classifier without the bias, as torch-fidelity's "logits_unbiased" for the Inception Score
        self.fc_weight = net.fc.weight.detach().double()
        self.device, self.batch_size = torch.device(device), batch_size

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) uint8 with C in {1, 3} -> (N, 2048) float64."""
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 images (N, 1 or 3, H, W), got {x.dtype} {tuple(x.shape)}")
        return torch.cat([self._batch(x[i:i + self.batch_size]) for i in range(0, len(x), self.batch_size)])

    def logits(self, pool3: torch.Tensor) -> torch.Tensor:
        """(N, 2048) pool3 features -> (N, 1008) class logits."""
        return pool3.double() @ self.fc_weight.T

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        # ToTensor's uint8 -> [0, 1]; pytorch-fid reads grey images with convert('RGB')
        x = x.to(self.device).float().div(255).expand(-1, 3, -1, -1)
        # then InceptionV3(resize_input=True, normalize_input=True): bilinear to 299, [0, 1] -> [-1, 1]
        x = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
        return self.net(x).flatten(1).cpu().double()
