"""The command line, end to end on tiny runs, and its handling of bad input."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from genbench.cli import cli
from genbench.results import COLUMNS, load_leaderboard
from models import MODELS

TINY = ["--steps", "3", "--n-eval", "200", "--sample-batch", "100", "--no-progress"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One tiny run of every model into a shared results folder."""
    out = tmp_path_factory.mktemp("results")
    for name in MODELS:
        r = invoke("run", "--model", name, "--results", str(out), *TINY)
        assert r.exit_code == 0, r.output + r.stderr
    return out


def test_each_run_appends_one_complete_row(results):
    board = load_leaderboard(results)
    assert list(board["model"]) == list(MODELS)
    assert set(COLUMNS) <= set(board.columns)
    assert (board["status"] == "ok").all() and (board["steps"] == 3).all()
    assert (board["n_eval"] == 200).all() and (board["sample_batch"] == 100).all()
    assert dict(zip(board["model"], board["nfe"])) == {"vae": 1, "gan": 1, "ddpm": 1000, "ddgan": 4}
    for col in ["fd", "precision", "recall", "density", "coverage", "hq", "kl", "sample_sec_per_1k", "train_sec"]:
        assert board[col].notna().all(), col
    assert (board["modes_total"] == 25).all() and board["config_hash"].str.len().eq(12).all()


def test_run_directory_holds_config_checkpoint_and_plot(results):
    for run_dir in (results / "runs").iterdir():
        assert {"config.json", "checkpoint.pt", "samples.png"} <= {p.name for p in run_dir.iterdir()}
        state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
        assert state["step"] == 3


@pytest.mark.parametrize("suffix", [".npy", ".pt", ".png"])
def test_sample_from_a_saved_run(results, tmp_path, suffix):
    run_dir = next(p for p in (results / "runs").iterdir() if p.name.startswith("ddgan"))
    out = tmp_path / f"s{suffix}"
    r = invoke("sample", "--run", str(run_dir), "--n", "50", "--out", str(out))
    assert r.exit_code == 0, r.output + r.stderr
    if suffix == ".npy":
        assert np.load(out).shape == (50, 2)
    elif suffix == ".pt":
        assert torch.load(out, weights_only=True).shape == (50, 2)
    else:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_row(tmp_path):
    rows = []
    for sub in ("a", "b"):
        assert invoke("run", "--model", "gan", "--results", str(tmp_path / sub), *TINY).exit_code == 0
        rows.append(load_leaderboard(tmp_path / sub).iloc[0])
    for col in ["fd", "precision", "recall", "density", "coverage", "modes", "hq", "kl", "config_hash"]:
        assert rows[0][col] == rows[1][col], col


def test_list_shows_models_datasets_metrics():
    r = invoke("list")
    assert r.exit_code == 0
    for word in [*MODELS, "grid25", "ring8", "swissroll", "precision", "kl", "nfe"]:
        assert word in r.output


def test_dry_run_prints_the_config_and_writes_nothing(tmp_path):
    r = invoke("run", "--model", "ddpm", "--set", "schedule=cosine", "--results", str(tmp_path), "--dry-run")
    assert r.exit_code == 0 and '"schedule": "cosine"' in r.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, needle", [
    (["run", "--model", "nope"], "'vae', 'gan', 'ddpm', 'ddgan'"),
    (["run", "--model", "ddpm", "--dataset", "mnist-ish"], "'grid25', 'ring8', 'swissroll'"),
    (["run", "--model", "ddpm", "--steps", "0"], "--steps"),
    (["run", "--model", "ddpm", "--steps", "-5"], "--steps"),
    (["run", "--model", "ddpm", "--set", "warp=9"], "unknown hyperparameter 'warp'"),
    (["run", "--model", "ddpm", "--set", "lr=fast"], "bad value 'fast' for lr"),
    (["run", "--model", "ddgan", "--sample-steps", "2"], "T=4"),
    (["run", "--model", "vae", "--device", "banana"], "device"),
    (["run", "--model", "ddpm", "--set", "T=0"], "T must be positive"),
    (["run", "--model", "ddgan", "--set", "ema=1.5"], "ema must be in [0, 1)"),
    (["sample", "--run", "no/such/run", "--out", "x.npy"], "does not exist"),
])
def test_bad_input_is_one_line_exit_2_and_no_row(tmp_path, args, needle):
    r = invoke(*args, "--results", str(tmp_path)) if args[0] == "run" else invoke(*args)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genbench: error:") and needle in lines[0], r.stderr
    assert not (tmp_path / "leaderboard.csv").exists()


@pytest.mark.parametrize("dataset, modes_total", [("ring8", 8), ("swissroll", None)])
def test_other_datasets(tmp_path, dataset, modes_total):
    r = invoke("run", "--model", "ddgan", "--dataset", dataset, "--results", str(tmp_path), *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    row = load_leaderboard(tmp_path).iloc[0]
    assert row["dataset"] == dataset and row["status"] == "ok" and row["fd"] >= 0
    if modes_total is None:
        assert row[["modes", "modes_total", "hq", "kl"]].isna().all()
    else:
        assert row["modes_total"] == modes_total and 0 <= row["modes"] <= modes_total
