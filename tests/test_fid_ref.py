"""FID's reference: `genbench stats` writes pytorch-fid's statistics file, `--fid-ref` scores against
one, `--fid-protocol paper` reads 50,000 samples against the training set; each row says which.

No real Inception weights exist here: the pytorch-fid comparison uses a random network of the
FID architecture (as tests/test_inception.py), the wiring tests a cheap fixed projection of the
pixels to 2,048 features standing in for Inception."""
import hashlib
import json

import numpy as np
import pytest
import pytorch_fid.fid_score
import pytorch_fid.inception
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from genbench import features as genbench_features
from genbench import runner
from genbench.cli import cli
from genbench.config import NOT_HASHED, make_config
from genbench.data import get_dataset
from genbench.data.images import quantize
from genbench.features import inception
from genbench.results import load_leaderboard

TINY = ["--dataset", "digits", "--steps", "3", "--n-eval", "40", "--sample-batch", "20", "--no-progress"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


class PixelFeatures:
    """Stands in for Inception: a fixed random projection of the pixels to 2,048 features."""
    name = "pixel-projection"

    def __init__(self, cfg=None, skipped=None):
        self.w = torch.randn(64, 2048, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def __call__(self, x):
        return (x.double().div(255).flatten(1) @ self.w).float().double()  # float32 values, as Inception's

    def logits(self, pool3):
        return pool3[:, :1008]


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(runner, "inception_extractor", PixelFeatures)


def test_stats_are_what_pytorch_fid_save_stats_writes(tmp_path, monkeypatch):
    torch.manual_seed(0)
    net = inception.fid_inception_net()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    weights = tmp_path / inception.WEIGHTS_FILE
    torch.save(net.state_dict(), weights)
    monkeypatch.setattr(inception, "SHA256", inception.sha256(weights))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see tests/test_inception.py: spinning threads on shared cores
    try:
        r = invoke("stats", "--dataset", "digits", "--n", "6", "--out", str(tmp_path / "ours.npz"),
                   "--inception-weights", str(weights))
        assert r.exit_code == 0, r.output + r.stderr
        # the same 6 training images as PNG files, through pytorch-fid's own --save-stats
        folder = tmp_path / "images"
        folder.mkdir()
        for i, img in enumerate(quantize(get_dataset("digits").train[:6])):
            Image.fromarray(img[0].numpy()).save(folder / f"{i:03d}.png")
        state = torch.load(weights, weights_only=True)
        monkeypatch.setattr(pytorch_fid.inception, "load_state_dict_from_url", lambda *a, **k: state)
        pytorch_fid.fid_score.save_fid_stats([str(folder), str(tmp_path / "theirs.npz")], 50, "cpu", 2048, 0)
    finally:
        torch.set_num_threads(threads)
    with np.load(tmp_path / "ours.npz") as ours, np.load(tmp_path / "theirs.npz") as theirs:
        assert sorted(ours.files) == sorted(theirs.files) == ["mu", "sigma"]
        for key in ("mu", "sigma"):
            assert ours[key].dtype == theirs[key].dtype and ours[key].shape == theirs[key].shape
            np.testing.assert_array_equal(ours[key], theirs[key])


def test_a_stats_file_of_the_runs_own_reference_gives_the_same_fid(stub, tmp_path):
    r = invoke("run", "--model", "gan", *TINY, "--results", str(tmp_path / "a"))
    assert r.exit_code == 0, r.output + r.stderr
    # the run's 40 reference images are the first 40 of the held-out set's fixed permutation
    r = invoke("stats", "--dataset", "digits", "--split", "reference", "--n", "40", "--out", str(tmp_path / "ref.npz"))
    assert r.exit_code == 0 and "40 reference images" in r.output, r.output + r.stderr
    r = invoke("run", "--model", "gan", *TINY, "--results", str(tmp_path / "b"), "--fid-ref", str(tmp_path / "ref.npz"))
    assert r.exit_code == 0, r.output + r.stderr
    a, b = (load_leaderboard(tmp_path / x) for x in "ab")
    (ra, fa), (rb, fb) = [[board[board["model"] == m].iloc[0] for m in ("gan", "real")] for board in (a, b)]
    digest = hashlib.sha256((tmp_path / "ref.npz").read_bytes()).hexdigest()[:12]
    assert ra["fid_ref"].startswith("digits-reference-") and rb["fid_ref"] == fb["fid_ref"] == f"ref.npz#{digest}"
    assert ra["fid_protocol"] == rb["fid_protocol"] == "genbench" and ra["fid_samples"] == rb["fid_samples"] == 40
    # the same model and samples against the same images' statistics (np.mean and np.cov, as pytorch-fid)
    assert rb["fid"] == pytest.approx(ra["fid"], rel=1e-5) and fb["fid"] == pytest.approx(fa["fid"], rel=1e-5)
    assert ra["run_id"] != rb["run_id"]  # another reference is another experiment (as --n-eval is)
    assert rb["fd_domain"] == ra["fd_domain"]  # the domain metrics do not change


def test_the_paper_protocol_reads_more_samples_against_the_training_set(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(genbench_features, "PAPER_FID_SAMPLES", 60)
    for protocol in ("genbench", "paper"):
        r = invoke("run", "--model", "gan", *TINY, "--results", str(tmp_path), "--fid-protocol", protocol)
        assert r.exit_code == 0, r.output + r.stderr
    board = load_leaderboard(tmp_path)
    gan = board[board["model"] == "gan"].set_index("fid_protocol")
    real = board[board["model"] == "real"].set_index("fid_protocol")
    assert len(real) == 2 and (real["fid_samples"] == 40).all()  # a floor per FID reference, of 40 real images
    assert gan.loc["paper", "fid_samples"] == 60 and gan.loc["genbench", "fid_samples"] == 40
    assert gan.loc["paper", "fid_ref"] == f"digits-train-s8-d0-n{len(get_dataset('digits').train)}"
    assert gan.loc["paper", "fid"] != gan.loc["genbench", "fid"]
    assert gan.loc["paper", "n_samples"] == 40 and gan.loc["paper", "fd_domain"] == gan.loc["genbench", "fd_domain"]


def bad_files(tmp_path):
    def npz(name, **arrays):
        np.savez(tmp_path / name, **arrays)
        return tmp_path / name
    (tmp_path / "text.npz").write_text("not a zip")
    good_mu, good_sigma = np.zeros(2048), np.eye(2048)
    return [(npz("keys.npz", m=good_mu, s=good_sigma), "no 'mu' and 'sigma'"),
            (npz("shape.npz", mu=np.zeros(64), sigma=np.eye(64)), "are not (2048,) and (2048, 2048)"),
            (npz("nan.npz", mu=np.full(2048, np.nan), sigma=good_sigma), "NaN or inf"),
            (npz("pickled.npz", mu=np.array([{}], dtype=object), sigma=good_sigma), "is not a readable .npz"),
            (tmp_path / "text.npz", "is not a readable .npz"),
            (tmp_path / "missing.npz", "No such file")]


def test_bad_fid_ref_files_are_one_line_and_write_nothing(tmp_path):
    for path, needle in bad_files(tmp_path):
        r = invoke("run", "--model", "gan", *TINY, "--results", str(tmp_path / "r"), "--fid-ref", str(path))
        assert r.exit_code == 2 and r.stderr.count("\n") == 1 and needle in r.stderr, (path, r.stderr)
    r = invoke("run", "--model", "gan", "--results", str(tmp_path / "r"), "--fid-protocol", "paper")
    assert r.exit_code == 2 and "apply to image datasets" in r.stderr
    assert not (tmp_path / "r").exists()


def test_stats_needs_the_inception_weights_and_an_image_dataset(tmp_path):
    r = invoke("stats", "--dataset", "digits", "--out", str(tmp_path / "s.npz"))
    assert r.exit_code == 1 and "FID Inception weights not found" in r.stderr and r.stderr.count("\n") == 1
    r = invoke("stats", "--dataset", "grid25", "--out", str(tmp_path / "s.npz"))
    assert r.exit_code == 1 and "not an image dataset" in r.stderr
    assert not (tmp_path / "s.npz").exists()


def test_default_runs_keep_their_ids():
    """The FID options are hashed only when set: run ids from before they existed do not change."""
    cfg = make_config("gan", "digits")
    old = {k: v for k, v in cfg.to_dict().items() if k not in NOT_HASHED and not k.startswith("fid_")}
    assert cfg.config_hash() == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:12]
    assert make_config("gan", "digits", fid_protocol="paper").config_hash() != cfg.config_hash()
