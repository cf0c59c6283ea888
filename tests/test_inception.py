"""FID features: weights found, verified and loaded locally, never downloaded; FD agrees with pytorch-fid.

No real weights exist here, so a randomly initialised network of the same architecture stands in,
with the expected hash patched to its file's hash.
"""
import math
import urllib.error
import warnings

import numpy as np
import pytest
import pytorch_fid.inception
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torch import nn

from genbench.features import inception
from genbench.metrics import frechet_distance, frechet_distance_to, gaussian_stats


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random FID-Inception state dict on disk, and its hash."""
    torch.manual_seed(0)
    net = inception.fid_inception_net()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):  # variance-preserving, so features are O(1), not ~0
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("weights") / inception.WEIGHTS_FILE
    torch.save(net.state_dict(), path)
    return path, inception.sha256(path)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """An empty hub cache, no env var, and every download entry point recording and failing."""
    calls = []

    def no_download(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"tried to download {args}")

    for owner, name in [(torch.hub, "load_state_dict_from_url"), (torch.hub, "download_url_to_file"),
                        (torch.utils.model_zoo, "load_url"), (pytorch_fid.inception, "load_state_dict_from_url")]:
        monkeypatch.setattr(owner, name, no_download)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(inception.ENV, raising=False)
    yield
    assert calls == []


@pytest.fixture
def trusted(weights, monkeypatch):
    path, digest = weights
    monkeypatch.setattr(inception, "SHA256", digest)
    return path


def test_found_by_explicit_path(trusted):
    assert inception.find_weights(trusted) == trusted
    assert inception.find_weights(trusted.parent) == trusted  # a directory holding the file


def test_found_by_env_var(trusted, monkeypatch):
    monkeypatch.setenv(inception.ENV, str(trusted))
    assert inception.find_weights() == trusted


@pytest.fixture
def cached(trusted, tmp_path, monkeypatch):
    """A hub cache that holds the (trusted) weights."""
    hub = tmp_path / "fake-hub"
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / inception.WEIGHTS_FILE).symlink_to(trusted)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub / "checkpoints" / inception.WEIGHTS_FILE


def test_found_in_hub_cache(cached):
    assert inception.find_weights() == cached


def test_wrong_hash_is_rejected(weights):
    path, digest = weights
    with pytest.raises(inception.WeightsRejected) as e:
        inception.find_weights(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and digest in msg and inception.SHA256 in msg


def test_no_file_anywhere_is_one_line(tmp_path):
    with pytest.raises(inception.InceptionUnavailable) as e:
        inception.find_weights()
    msg = str(e.value)
    assert "\n" not in msg
    assert inception.WEIGHTS_FILE in msg and inception.ENV in msg and str(inception.hub_path()) in msg
    assert "--download" in msg


def test_given_path_that_is_missing_does_not_fall_back(cached, tmp_path, monkeypatch):
    monkeypatch.setenv(inception.ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(inception.InceptionUnavailable, match="nope.pth"):
        inception.find_weights()


def test_download_failure_is_one_line(monkeypatch):
    def offline_fetch(url, dst, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline_fetch)
    with pytest.raises(inception.InceptionUnavailable, match="cannot download") as e:
        inception.download_weights()
    assert "\n" not in str(e.value)


def test_bad_download_is_rejected_and_removed(monkeypatch):
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda url, dst, **kw: open(dst, "wb").write(b"x"))
    with pytest.raises(inception.WeightsRejected):
        inception.download_weights()
    assert not inception.hub_path().exists()


def test_download_keeps_a_verified_cached_file(cached):
    assert inception.download_weights() == cached  # and the offline fixture saw no download


@pytest.fixture(scope="module")
def features(weights):
    # One thread: when other processes share the 2 cores, OpenMP's spinning threads made a 2-thread
    # forward take 0.5-4.6 s instead of one thread's 0.17 s (measured on this machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield inception.InceptionFeatures(weights[0], batch_size=1)
    torch.set_num_threads(threads)


def test_features_of_grey_and_colour_images(features):
    grey = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    f = features(grey)  # two batches
    assert f.shape == (2, 2048) and f.dtype == torch.float64 and f.isfinite().all() and f.std() > 0
    assert not torch.equal(f[0], f[1])
    assert torch.equal(features(grey[:1].expand(-1, 3, -1, -1).contiguous()), f[:1])


def test_features_equal_pytorch_fid(weights, features, monkeypatch):
    """The same weights through pytorch-fid's own InceptionV3 and its ToTensor scaling give the same features."""
    state = torch.load(weights[0], weights_only=True)
    monkeypatch.setattr(pytorch_fid.inception, "load_state_dict_from_url", lambda *a, **k: state)
    theirs = pytorch_fid.inception.InceptionV3([3], resize_input=True, normalize_input=True,
                                               use_fid_inception=True).eval()
    x = torch.randint(0, 256, (1, 3, 16, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(x.float().div(255))[0].flatten(1).double()
    assert torch.equal(features(x), expected)


def test_rejects_non_uint8(features):
    with pytest.raises(ValueError, match="uint8"):
        features(torch.zeros(1, 3, 8, 8))


def _stats(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, 64, generator=g)
    b = torch.randn(n, 64, generator=g) @ torch.randn(64, 64, generator=g) * 0.3 + 0.5
    return [t.numpy() for t in (*gaussian_stats(a), *gaussian_stats(b))]


def _pytorch_fid(stats) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy ≥ 1.16 deprecates sqrtm's disp
        return calculate_frechet_distance(*stats)


@pytest.mark.parametrize("seed", range(3))
def test_frechet_distance_matches_pytorch_fid_full_rank(seed):
    stats = _stats(500, seed)
    assert np.linalg.matrix_rank(stats[1]) == 64
    assert frechet_distance(*stats) == pytest.approx(_pytorch_fid(stats), rel=1e-6)


@pytest.mark.parametrize("n", [16, 40, 63])
def test_frechet_distance_matches_pytorch_fid_rank_deficient(n):
    # Covariances of n < 65 points have rank n - 1: each null direction's rounding-level eigenvalue
    # enters the trace through a square root, so the result is only defined to ~√ε·D; measured
    # disagreement is ≤ 1.2e-8 relative (both sit ~1e-8 from a 40-digit mpmath evaluation).
    stats = _stats(n, 0)
    assert frechet_distance(*stats) == pytest.approx(_pytorch_fid(stats), rel=1e-7)


@pytest.mark.parametrize("n", [16, 40, 63])
def test_low_rank_route_matches_pytorch_fid(n):
    """frechet_distance_to solves the N × N problem when N ≤ D; pytorch-fid the D × D one."""
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 64, generator=g).double()
    stats = _stats(500, 1)[2:]
    expected = _pytorch_fid([a.numpy() for a in gaussian_stats(x)] + stats)
    assert frechet_distance_to(x, *stats) == pytest.approx(expected, rel=1e-7)


def test_logits_are_the_fid_networks_classifier_without_bias(weights, features):
    """The Inception Score reads the 1008-way logits as torch-fidelity's 'logits_unbiased': pool3 @ fc.weightᵀ."""
    fc = torch.load(weights[0], weights_only=True)["fc.weight"].double()
    pool = torch.rand(3, 2048, dtype=torch.float64)
    logits = features.logits(pool)
    assert logits.shape == (3, 1008) and torch.allclose(logits, pool @ fc.T)


def test_image_metrics_carry_is_and_kid_when_inception_is_there():
    """The wiring: with Inception features present, a row gets is/is_std and kid/kid_std beside FID."""
    from types import SimpleNamespace
    from genbench.evaluate import image_metrics
    g = torch.Generator().manual_seed(0)
    ref_inc = torch.randn(60, 2048, generator=g, dtype=torch.float64)
    inception = lambda x: torch.randn(len(x), 2048, generator=g, dtype=torch.float64)
    inception.logits = lambda pool: pool[:, :1008]
    domain = SimpleNamespace(features=lambda x: torch.randn(len(x), 16, generator=g, dtype=torch.float64),
                             classes=lambda x: torch.zeros(len(x), dtype=torch.long))
    features = SimpleNamespace(domain=domain, reference=torch.randn(60, 16, generator=g, dtype=torch.float64),
                               inception=inception, inception_stats=(ref_inc.mean(0), torch.cov(ref_inc.T)),
                               inception_reference=ref_inc)
    out = image_metrics(torch.zeros(50, 1, 8, 8, dtype=torch.uint8), SimpleNamespace(num_classes=10), features)
    assert {"fid", "is", "is_std", "kid", "kid_std", "kid_domain"} <= set(out)
    assert all(math.isfinite(out[k]) for k in ("fid", "is", "is_std", "kid", "kid_std", "kid_domain")) and out["is"] >= 1
