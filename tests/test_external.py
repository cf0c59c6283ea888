"""genbench eval: samples made elsewhere, scored with the same metrics and floor as a trained run."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from genbench.cli import cli
from genbench.data import get_dataset
from genbench.data.images import quantize
from genbench.results import load_leaderboard

METRICS = ["fd", "fd_domain", "precision", "recall", "density", "coverage", "modes", "hq", "kl"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def one_line_error(r, needle, code=1):
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == code and len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.output + r.stderr


def test_sampling_a_run_then_evaluating_the_file_gives_the_runs_numbers(tmp_path):
    results = tmp_path / "results"
    r = invoke("run", "--model", "gan", "--steps", "30", "--n-eval", "300", "--sample-batch", "100", "--no-progress",
               "--results", str(results))
    assert r.exit_code == 0, r.output + r.stderr
    run_dir = next((results / "runs").iterdir())
    assert invoke("sample", "--run", str(run_dir), "--n", "300", "--out", str(tmp_path / "gan-samples.npy")).exit_code == 0
    r = invoke("eval", "--samples", str(tmp_path / "gan-samples.npy"), "--dataset", "grid25", "--n-eval", "300",
               "--nfe", "1", "--results", str(results))
    assert r.exit_code == 0, r.output + r.stderr
    board = load_leaderboard(results)
    assert list(board["model"]) == ["real", "gan", "gan-samples"]  # the floor, the run, the file (by its stem)
    run, ext = board.iloc[1], board.iloc[2]
    assert ext["source"] == "external" and ext["status"] == "ok" and ext["nfe"] == 1 and ext["n_samples"] == 300
    for col in ["fd", "precision", "recall", "density", "coverage", "modes", "hq", "kl"]:
        assert ext[col] == run[col], col
    assert (board["model"] == "real").sum() == 1  # the same floor row serves both
    r = invoke("eval", "--samples", str(tmp_path / "gan-samples.npy"), "--dataset", "grid25", "--n-eval", "300",
               "--results", str(results))
    assert r.exit_code == 0 and "already in the leaderboard" in r.stderr and len(load_leaderboard(results)) == 3


@pytest.fixture(scope="module")
def digits_uint8():
    """60 real digits as uint8 N×1×8×8: what each format below encodes."""
    return quantize(get_dataset("digits", n_reference=60).train[:60])


def _write_formats(x: torch.Tensor, folder):
    """The same images as every input format genbench eval reads; returns {name: path}."""
    folder.mkdir()
    paths = {"nchw-uint8.npy": x.numpy(), "nhw-uint8.npy": x[:, 0].numpy()}
    for name, array in paths.items():
        np.save(folder / name, array)
    torch.save(x.permute(0, 2, 3, 1).float() / 255, folder / "nhwc-unit.pt")
    np.savez(folder / "nchw-signed.npz", samples=(x.float() / 127.5 - 1).numpy())
    pngs = folder / "pngs"
    pngs.mkdir()
    for i, image in enumerate(x[:, 0].numpy()):
        Image.fromarray(image, mode="L").save(pngs / f"{i:03d}.png")
    return [*(folder / n for n in paths), folder / "nhwc-unit.pt", folder / "nchw-signed.npz", pngs]


def test_every_image_format_scores_the_same_images_the_same(digits_uint8, tmp_path):
    results = tmp_path / "results"
    for path in _write_formats(digits_uint8, tmp_path / "in"):
        r = invoke("eval", "--samples", str(path), "--dataset", "digits", "--n-eval", "60", "--results", str(results))
        assert r.exit_code == 0, r.output + r.stderr
    board = load_leaderboard(results)
    rows = board[board["source"] == "external"]
    assert len(rows) == 5 and set(rows["model"]) == {"nchw-uint8", "nhw-uint8", "nhwc-unit", "nchw-signed", "pngs"}
    for col in ["fd_domain", "precision", "recall", "density", "coverage", "modes", "kl"]:
        assert rows[col].nunique() == 1, (col, rows[col].tolist())
    # real training digits: near the floor row (which draws other training digits), far from nothing
    assert rows["modes"].iloc[0] == 10 and rows["precision"].iloc[0] > 0.5


@pytest.mark.parametrize("make, needle", [
    (lambda x: x.expand(-1, 3, -1, -1).numpy(), "3 channels"),
    (lambda x: torch.nn.functional.interpolate(x.float(), size=16).to(torch.uint8).numpy(), "images are 16×16"),
    (lambda x: x.float().numpy(), "give uint8, or floats in [0, 1] or [−1, 1]"),
    (lambda x: x.numpy().astype(np.int32), "give uint8 or floats"),
    (lambda x: x.reshape(len(x), -1).numpy(), "images must be N×C×H×W or N×H×W×C"),
])
def test_images_that_do_not_fit_the_dataset_are_one_line_and_write_nothing(digits_uint8, tmp_path, make, needle):
    np.save(tmp_path / "s.npy", make(digits_uint8))
    r = invoke("eval", "--samples", str(tmp_path / "s.npy"), "--dataset", "digits", "--results", str(tmp_path / "r"))
    one_line_error(r, needle)
    assert not (tmp_path / "r").exists()


def test_a_folder_of_mixed_sizes_is_refused(tmp_path):
    (tmp_path / "pngs").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "pngs" / "a.png")
    Image.new("L", (9, 8)).save(tmp_path / "pngs" / "b.png")
    one_line_error(invoke("eval", "--samples", str(tmp_path / "pngs"), "--dataset", "digits",
                          "--results", str(tmp_path / "r")), "mixes image sizes")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("write, needle", [
    (lambda p: np.save(p / "s.npy", np.zeros((10, 3), np.float32)), "needs N×2 points"),
    (lambda p: np.save(p / "s.npy", np.array([[np.nan, 0.0]] * 10, np.float32)), "NaN or infinite"),
    (lambda p: np.save(p / "s.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True), "not a readable .npy"),
    (lambda p: torch.save({"x": 1}, p / "s.pt"), "not a tensor"),
    (lambda p: np.savez(p / "s.npz", a=np.zeros((10, 2)), b=np.zeros((10, 2))), "name the samples 'samples'"),
    (lambda p: (p / "s.txt").write_text("1 2"), "must be an .npy, .npz or .pt file"),
    (lambda p: (p / "empty").mkdir(), "holds no .png or .jpg images"),
])
def test_bad_point_files_are_one_line_and_write_nothing(tmp_path, write, needle):
    write(tmp_path)
    path = next(p for p in tmp_path.iterdir())
    one_line_error(invoke("eval", "--samples", str(path), "--dataset", "grid25", "--results", str(tmp_path / "r")), needle)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["ddpm", "real", "a,b"])
def test_names_that_would_mix_with_genbenchs_own_rows_are_refused(tmp_path, name):
    np.save(tmp_path / "s.npy", np.zeros((20, 2), np.float32))
    r = invoke("eval", "--samples", str(tmp_path / "s.npy"), "--dataset", "grid25", "--name", name,
               "--results", str(tmp_path / "r"))
    assert r.exit_code == 2 and "--name" in r.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, needle", [(["--dataset", "BAD"], "not a readable .npz file"),
                                          (["--dataset", "grid25", "--image-size", "16"], "--image-size applies to image")])
def test_a_bad_dataset_argument_is_a_usage_error(tmp_path, args, needle):
    np.save(tmp_path / "s.npy", np.zeros((20, 2), np.float32))
    (tmp_path / "bad.npz").write_text("not an npz")
    args = [str(tmp_path / "bad.npz") if a == "BAD" else a for a in args]
    r = invoke("eval", "--samples", str(tmp_path / "s.npy"), *args, "--results", str(tmp_path / "r"))
    one_line_error(r, needle, code=2)
    assert not (tmp_path / "r").exists()
