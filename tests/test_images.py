"""Image data, the domain classifier and the class-based mode metrics."""
import math

import pytest
import torch

from genbench.data import dataset_shape, get_dataset, images
from genbench.features import domain_extractor, prepare
from genbench.features.domain import accuracy
from genbench.metrics import class_modes


def test_digits_split_is_fixed_disjoint_and_on_the_uint8_grid():
    x_tr, y_tr, x_te, y_te = images.load_digits(0)
    assert len(x_tr) + len(x_te) == 1797 and len(x_te) == 359
    assert x_tr.dtype == torch.uint8 and x_tr.shape[1:] == (1, 8, 8) and x_tr.max() == 255
    assert torch.equal(images.load_digits(0)[0], x_tr) and not torch.equal(images.load_digits(1)[0], x_tr)
    flat = {tuple(v.tolist()) for v in x_tr.flatten(1)}
    assert sum(tuple(v.tolist()) in flat for v in x_te.flatten(1)) < 10  # a few digits recur verbatim in sklearn's set
    d = get_dataset("digits")
    assert torch.equal(images.to_unit(images.quantize(d.train)), d.train)  # real images survive quantisation
    assert d.train.min() == -1 and d.train.max() == 1 and len(d.reference) == 359


def test_quantize_rounds_and_clips():
    x = torch.tensor([-2.0, -1.0, 0.0, 0.999, 1.0, 3.0])
    assert images.quantize(x).tolist() == [0, 0, 128, 255, 255, 255]


@pytest.mark.parametrize("name, size", [("digits", None), ("digits", 16), ("stacked-digits", None), ("stacked-digits", 32)])
def test_shapes_known_without_loading(name, size):
    d = get_dataset(name, n_reference=50, image_size=size)
    assert d.shape == dataset_shape(name, size) and d.reference.shape == (50, *d.shape)


def test_stacked_codes_name_the_three_channels():
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 8, 8)
    stacked, codes = images.stack(x, torch.arange(10), 500, torch.Generator().manual_seed(0))
    assert stacked.shape == (500, 3, 8, 8)
    digits = stacked[:, :, 0, 0].long()  # each channel is a constant image of its digit
    assert torch.equal(codes, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    assert len(codes.unique()) > 350  # 500 draws from 1,000 codes


def test_class_modes_known_answers():
    assert class_modes(torch.arange(10).repeat(3), 10) == {"modes": 10, "modes_total": 10, "kl": 0.0}
    m = class_modes(torch.tensor([3, 3, 3, 7]), 10)
    assert m["modes"] == 2 and m["kl"] == pytest.approx(0.75 * math.log(7.5) + 0.25 * math.log(2.5))
    assert class_modes(torch.tensor([], dtype=torch.long), 1000)["kl"] == math.inf


@pytest.fixture(scope="module")
def digits_features():
    data = get_dataset("digits")
    return data, domain_extractor(data, None, 0, log=lambda m: None, progress=False)


def test_domain_classifier_reaches_97_percent_on_held_out_digits(digits_features):
    data, domain = digits_features
    assert domain.accuracy >= 0.97
    assert accuracy(domain.net, images.quantize(data.reference), data.reference_labels) == domain.accuracy


def test_stacked_digits_reuse_the_digit_classifier_channel_by_channel(digits_features):
    _, domain = digits_features
    data = get_dataset("stacked-digits", n_reference=2000)
    stacked = domain_extractor(data, None, 0, log=lambda m: None)
    x = images.quantize(data.reference)
    assert stacked.features(x).shape == (2000, 3 * 128)
    assert (stacked.classes(x) == data.reference_labels).double().mean() > 0.97 ** 3 - 0.03


def test_reference_features_are_cached(digits_features, monkeypatch):
    data, domain = digits_features
    first = prepare(data, 0, domain).reference
    monkeypatch.setattr(domain, "features", lambda x: pytest.fail("recomputed"))
    assert torch.equal(prepare(data, 0, domain).reference, first)


class PixelStub:
    """Stands in for Inception (whose real weights are not on this machine): pixels as features."""
    name = "pixel-stub"

    def __call__(self, x):
        return x.flatten(1).double()

    def logits(self, features):  # the extractor's class logits, for the Inception Score: the first 10 pixels
        return features[:, :10]


def test_fid_column_is_the_frechet_distance_of_the_extractors_features(digits_features, tmp_path, monkeypatch):
    from genbench.evaluate import sample_metrics
    from genbench.metrics import frechet_distance_samples
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path))
    data, domain = digits_features
    features = prepare(data, 0, domain, PixelStub())
    fake = data.train[:len(data.reference)]
    m = sample_metrics(fake, data, features)
    expected = frechet_distance_samples(images.quantize(fake).flatten(1), images.quantize(data.reference).flatten(1))
    assert m["fid"] == pytest.approx(expected, rel=1e-9) and features.name == "digits-cnn-v1+pixel-stub"
    assert m["is"] >= 1 and math.isfinite(m["kid"]) and m["kid_std"] >= 0  # computed from the same extractor


def test_a_wrong_inception_file_stops_the_run_before_training(tmp_path):
    from click.testing import CliRunner
    from genbench.cli import cli
    bad = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    bad.write_bytes(b"not the weights")
    r = CliRunner().invoke(cli, ["run", "--model", "gan", "--dataset", "digits", "--inception-weights", str(bad),
                                 "--results", str(tmp_path / "r"), "--no-progress"])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 1 and "SHA-256" in lines[-1] and str(bad) in lines[-1] and "Traceback" not in r.stderr
    assert not (tmp_path / "r" / "runs").exists()
