"""Resumable runs, safe checkpoints, a leaderboard that survives concurrency, crashes and bad input."""
import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from genbench import results as results_mod
from genbench.cli import cli
from genbench.results import COLUMNS, append_row, load_leaderboard
from models import MODELS
from models.gan import GAN

TINY = ["--n-eval", "200", "--sample-batch", "100", "--no-progress"]
STEPS = 300
GAN_RUN = ["run", "--model", "gan", "--steps", str(STEPS), "--checkpoint-every", "20", *TINY]


def runs(results):
    """The leaderboard without its real-data floor rows."""
    board = load_leaderboard(results)
    return board[board["model"] != "real"].reset_index(drop=True)


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def genbench(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "genbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def one_line_error(r, needle, code=1):
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == code and len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.output + r.stderr


@pytest.mark.parametrize("model", ["gan", "ddgan"])  # DDGAN: an EMA, a lazy regulariser and a rate schedule
def test_sigkill_then_resume_is_bit_identical(tmp_path, model):
    full, killed = tmp_path / "full", tmp_path / "killed"
    command = [*GAN_RUN[:2], model, *GAN_RUN[3:]]
    if model == "ddgan":
        command += ["--set", "lazy_reg=3"]
    assert genbench(*command, "--results", str(full)).wait() == 0
    p = genbench(*command, "--results", str(killed))
    ckpts = killed / "runs"
    while not list(ckpts.glob("*/checkpoint.pt")) and p.poll() is None:
        time.sleep(0.01)
    time.sleep(random.Random(STEPS).uniform(0, 0.3))  # seeded: a failure can be replayed
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL
    (ckpt,) = ckpts.glob("*/checkpoint.pt")
    assert torch.load(ckpt, weights_only=True)["step"] < STEPS, "killed too late to test anything"
    assert runs(killed).empty  # only the real-data floor row, written before training
    r = genbench(*command, "--results", str(killed))
    out, err = r.communicate()
    assert r.returncode == 0 and "resuming" in err, err
    a = torch.load(next((full / "runs").glob("*/checkpoint.pt")), weights_only=True)
    b = torch.load(ckpt, weights_only=True)
    for key in ("model", "optimizers") + (("ema",) if model == "ddgan" else ()):
        flat_a, flat_b = _tensors(a[key]), _tensors(b[key])
        assert flat_a.keys() == flat_b.keys() and all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a)
    row_a, row_b = runs(full).iloc[0], runs(killed).iloc[0]
    for col in ["fd", "precision", "recall", "density", "coverage", "modes", "hq", "kl", "run_id"]:
        assert row_a[col] == row_b[col], col


def test_sigterm_is_one_line_exit_143_and_keeps_the_checkpoint(tmp_path):
    p = genbench(*GAN_RUN[:4], "1000000", *GAN_RUN[5:], "--results", str(tmp_path))
    while not list((tmp_path / "runs").glob("*/checkpoint.pt")) and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate()
    assert p.returncode == 143 and "Traceback" not in err, err  # before it: the floor row's progress line
    assert err.strip().splitlines()[-1] == "genbench: terminated (SIGTERM); the last checkpoint is kept, the same command resumes"
    (ckpt,) = (tmp_path / "runs").glob("*/checkpoint.pt")
    assert torch.load(ckpt, weights_only=True)["step"] >= 20 and runs(tmp_path).empty


def killed_and_resumed(command: list[str], steps: int, tmp_path, seed: int, window: float, keys: tuple[str, ...]):
    """Run `command` whole, and again SIGKILLed a seeded random moment (up to `window` s) after its
    first checkpoint, then the same command once more: it resumes, and its checkpoint's `keys`
    equal the uninterrupted run's tensor for tensor."""
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert genbench(*command, "--results", str(full)).wait() == 0
    p = genbench(*command, "--results", str(killed))
    while not list((killed / "runs").glob("*/checkpoint.pt")) and p.poll() is None:
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, window))  # seeded: a failure can be replayed
    p.send_signal(signal.SIGKILL)
    assert p.wait() == -signal.SIGKILL
    (ckpt,) = (killed / "runs").glob("*/checkpoint.pt")
    assert torch.load(ckpt, weights_only=True)["step"] < steps, "killed too late to test anything"
    r = genbench(*command, "--results", str(killed))
    _, err = r.communicate()
    assert r.returncode == 0 and "resuming" in err, err
    a, b = (torch.load(next((d / "runs").glob("*/checkpoint.pt")), weights_only=True) for d in (full, killed))
    for key in keys:
        flat_a, flat_b = _tensors(a[key]), _tensors(b[key])
        assert flat_a.keys() == flat_b.keys() and all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a)


def _tensors(tree, prefix=""):
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else []
    return {k: v for key, sub in items for k, v in _tensors(sub, f"{prefix}/{key}").items()}


def test_same_command_again_adds_no_row(tmp_path):
    args = ["run", "--model", "vae", "--steps", "3", *TINY, "--results", str(tmp_path)]
    assert invoke(*args).exit_code == 0
    r = invoke(*args)
    assert r.exit_code == 0 and "already in the leaderboard" in r.stderr
    assert len(runs(tmp_path)) == 1


def test_resume_flag_needs_a_checkpoint(tmp_path):
    r = invoke("run", "--model", "vae", "--steps", "3", *TINY, "--results", str(tmp_path), "--resume")
    one_line_error(r, "nothing to resume")


def test_eight_concurrent_runs_leave_eight_rows(tmp_path):
    procs = [genbench("run", "--model", "vae", "--steps", "2", "--seed", str(s), *TINY, "--results", str(tmp_path))
             for s in range(8)]
    assert [p.wait() for p in procs] == [0] * 8
    board = runs(tmp_path)
    assert sorted(board["seed"]) == list(range(8)) and board["run_id"].is_unique
    assert (load_leaderboard(tmp_path)["model"] == "real").sum() == 1  # one floor row, however many raced


APPENDER = """
import sys
from genbench.results import append_row
from genbench.results import COLUMNS, NUMERIC
for i in range(25):
    row = {c: "" if c in NUMERIC else "x" for c in COLUMNS}
    append_row(sys.argv[1], {**row, "run_id": f"{sys.argv[2]}-{i}", "extra_" + sys.argv[2]: i})
"""


def test_concurrent_appends_from_processes_lose_nothing(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(tmp_path), str(w)]) for w in range(6)]
    assert [p.wait() for p in procs] == [0] * 6
    board = runs(tmp_path)
    assert len(board) == 150 and board["run_id"].is_unique
    assert {f"extra_{w}" for w in range(6)} <= set(board.columns)


def test_a_crash_mid_write_leaves_the_previous_file(tmp_path, monkeypatch):
    row = {c: "" if c in results_mod.NUMERIC else "x" for c in COLUMNS}
    append_row(tmp_path, row)
    before = (tmp_path / "leaderboard.csv").read_bytes()

    def crash(fd):
        raise OSError("disk gone")
    monkeypatch.setattr(results_mod.os, "fsync", crash)
    with pytest.raises(OSError, match="leaderboard.csv"):  # the error names the file
        append_row(tmp_path, {**row, "run_id": "second"})
    assert (tmp_path / "leaderboard.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.csv", "leaderboard.csv.lock"]


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan")
    assert invoke("run", "--model", "gan", "--steps", "3", *TINY, "--results", str(out)).exit_code == 0
    return next((out / "runs").iterdir())


def copy_run(run_dir, tmp_path):
    dst = tmp_path / run_dir.name
    shutil.copytree(run_dir, dst)
    return dst


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/genbench-test-pwned")


def test_a_pickled_object_in_a_checkpoint_is_refused_and_not_run(gan_run, tmp_path):
    MARKER.unlink(missing_ok=True)
    run_dir = copy_run(gan_run, tmp_path)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    torch.save({**state, "payload": Exploit()}, run_dir / "checkpoint.pt")
    r = invoke("sample", "--run", str(run_dir), "--out", str(tmp_path / "s.npy"))
    one_line_error(r, "refused")
    assert not MARKER.exists() and not (tmp_path / "s.npy").exists()


def test_truncated_checkpoint(gan_run, tmp_path):
    run_dir = copy_run(gan_run, tmp_path)
    data = (run_dir / "checkpoint.pt").read_bytes()
    (run_dir / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    one_line_error(invoke("sample", "--run", str(run_dir), "--out", str(tmp_path / "s.npy")), "corrupt or truncated")


@pytest.mark.parametrize("suffix", [".npy", ".pt", ".png"])
def test_a_full_disk_leaves_no_half_written_sample_file(gan_run, tmp_path, monkeypatch, suffix):
    def full_disk(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(results_mod.os, "replace", full_disk)
    out = tmp_path / f"s{suffix}"
    one_line_error(invoke("sample", "--run", str(gan_run), "--out", str(out)), f"cannot write {out}: No space left")
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary


@pytest.mark.parametrize("damage", ["truncate", "other model"])
def test_a_bad_checkpoint_stops_the_run_before_anything_is_written(gan_run, tmp_path, damage):
    """Not the floor row, not config.json: the results folder is as it was."""
    run_dir = copy_run(gan_run, tmp_path / "r" / "runs")
    ckpt = run_dir / "checkpoint.pt"
    if damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[:100])
    else:
        state = torch.load(ckpt, weights_only=True)
        state["config"]["model"] = "vae"
        torch.save(state, ckpt)
    (run_dir / "config.json").unlink()
    r = invoke("run", "--model", "gan", "--steps", "3", *TINY, "--results", str(tmp_path / "r"))
    one_line_error(r, "corrupt or truncated" if damage == "truncate" else "holds a vae model, not gan")
    assert not (run_dir / "config.json").exists() and not (tmp_path / "r" / "leaderboard.csv").exists()


@pytest.mark.parametrize("damage, needle", [
    (lambda s: s.pop("rng"), "missing rng"),
    (lambda s: s.pop("optimizers"), "missing optimizers"),
    (lambda s: s.update(config=[1, 2]), "must be dictionaries"),
    (lambda s: s.update(step=2.5), "not a step count"),
    (lambda s: s.update(step=-1), "not a step count"),
    (lambda s: s.update(step=10**6), "past this run's 3 steps"),
    (lambda s: s["rng"].update(torch=torch.zeros(3, dtype=torch.uint8)), "random-number state"),
    (lambda s: s["rng"].pop("noise"), "random-number state"),
    (lambda s: s.pop("format"), "before genbench's trainer split"),  # one EMA of everything, one Adam per family
])
def test_structurally_wrong_checkpoints_are_one_line(gan_run, tmp_path, damage, needle):
    run_dir = copy_run(gan_run, tmp_path / "r" / "runs")
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    damage(state)
    torch.save(state, run_dir / "checkpoint.pt")
    one_line_error(invoke("run", "--model", "gan", "--steps", "3", *TINY, "--results", str(tmp_path / "r")), needle)
    assert not (tmp_path / "r" / "leaderboard.csv").exists()  # not even the floor row


def test_random_bytes_are_not_a_torch_checkpoint(gan_run, tmp_path):
    run_dir = copy_run(gan_run, tmp_path)
    (run_dir / "checkpoint.pt").write_bytes(bytes(range(256)) * 8)
    one_line_error(invoke("sample", "--run", str(run_dir), "--out", str(tmp_path / "s.npy")), "not a torch checkpoint")


def test_npy_samples_stream_and_pt_is_bounded(gan_run, tmp_path, monkeypatch):
    """.npy is filled batch by batch (any n fits); it holds the same samples as the in-memory .pt."""
    npy, pt = tmp_path / "s.npy", tmp_path / "s.pt"
    for out in (npy, pt):
        assert invoke("sample", "--run", str(gan_run), "--n", "2500", "--out", str(out)).exit_code == 0
    assert np.array_equal(np.load(npy), torch.load(pt, weights_only=True).numpy()) and np.load(npy).shape == (2500, 2)
    assert npy.stat().st_mode & 0o777 == 0o666 & ~results_mod.umask()
    from genbench import runner
    monkeypatch.setattr(runner, "IN_MEMORY_LIMIT", 1000)
    one_line_error(invoke("sample", "--run", str(gan_run), "--n", "2500", "--out", str(tmp_path / "big.pt")), "write .npy")
    assert not (tmp_path / "big.pt").exists()


def test_zero_byte_checkpoint(gan_run, tmp_path):
    run_dir = copy_run(gan_run, tmp_path)
    (run_dir / "checkpoint.pt").write_bytes(b"")
    one_line_error(invoke("sample", "--run", str(run_dir), "--out", str(tmp_path / "s.npy")), "checkpoint")


def test_checkpoint_of_another_model(gan_run, tmp_path):
    run_dir = copy_run(gan_run, tmp_path)
    cfg = json.loads((run_dir / "config.json").read_text())
    vae_fields = {f.name for f in dataclasses.fields(MODELS["vae"].Config)}
    cfg["hparams"] = {k: v for k, v in cfg["hparams"].items() if k in vae_fields}  # a valid VAE config
    cfg["model"] = "vae"
    (run_dir / "config.json").write_text(json.dumps(cfg))
    one_line_error(invoke("sample", "--run", str(run_dir), "--out", str(tmp_path / "s.npy")), "holds a gan model, not vae")


def test_checkpoint_of_another_shape(gan_run, tmp_path):
    run_dir = copy_run(gan_run, tmp_path)
    cfg = (run_dir / "config.json").read_text()
    (run_dir / "config.json").write_text(cfg.replace('"hidden": 256', '"hidden": 64'))
    r = invoke("sample", "--run", str(run_dir), "--out", str(tmp_path / "s.npy"))
    one_line_error(r, "size mismatch")
    assert "[256, 2]" in r.stderr and "[64, 2]" in r.stderr


def test_divergence_is_a_row_not_a_crash(tmp_path, monkeypatch):
    real = GAN.train_step
    def nan_step(self, x, noise, regularise=True, y=None):  # the real phases, reporting a NaN generator loss
        for player, loss, logs in real(self, x, noise, regularise, y):
            yield player, loss, {**logs, "loss_g": torch.tensor(float("nan"))}

    monkeypatch.setattr(GAN, "train_step", nan_step)
    r = invoke("run", "--model", "gan", "--steps", "5", *TINY, "--results", str(tmp_path))
    assert r.exit_code == 0 and "diverged" in r.stderr
    row = runs(tmp_path).iloc[0]
    assert row["status"] == "diverged" and row[["fd", "hq", "precision", "recall"]].isna().all()


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.write_text(p.read_text().replace("run_id,", "", 1)), "missing columns: run_id"),
    (lambda p: p.write_text(p.read_text() + "garbage,1,2\n"), "too few fields"),
    (lambda p: p.write_text(p.read_text() + p.read_text().splitlines()[-1] + ",extra,fields\n"), "too many fields"),
    (lambda p: p.write_text(p.read_text().replace(",ok,", ",ok,abc", 1)), "line 2: params is 'abc"),
])
def test_damaged_leaderboard_stops_the_run_before_training(tmp_path, damage, needle):
    assert invoke("run", "--model", "vae", "--steps", "2", *TINY, "--results", str(tmp_path)).exit_code == 0
    board = tmp_path / "leaderboard.csv"
    damage(board)
    before = board.read_bytes()
    r = invoke("run", "--model", "vae", "--steps", "2", "--seed", "1", *TINY, "--results", str(tmp_path))
    one_line_error(r, needle)
    assert board.read_bytes() == before and len(list((tmp_path / "runs").iterdir())) == 1


def test_report_of_a_damaged_leaderboard_is_one_line_and_keeps_the_previous_report(tmp_path):
    assert invoke("run", "--model", "vae", "--steps", "2", *TINY, "--results", str(tmp_path)).exit_code == 0
    assert invoke("report", "--results", str(tmp_path), "--out", str(tmp_path / "rep")).exit_code == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "rep").iterdir()}
    board = tmp_path / "leaderboard.csv"
    lines = board.read_text().splitlines()
    cols = lines[0].split(",")
    fields = lines[-1].split(",")
    fields[cols.index("sample_steps")] = "many"
    board.write_text("\n".join([*lines, ",".join(fields)]) + "\n")
    one_line_error(invoke("report", "--results", str(tmp_path), "--out", str(tmp_path / "rep")), "sample_steps is 'many'")
    assert {p.name: p.read_bytes() for p in (tmp_path / "rep").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".rep")) == []  # no build folder left


def test_unwritable_results_folder(tmp_path):
    (tmp_path / "file").write_text("")
    one_line_error(invoke("run", "--model", "vae", "--steps", "2", *TINY, "--results", str(tmp_path / "file" / "r")),
                   "cannot write results")


@pytest.mark.parametrize("args, needle", [
    (["--batch-size", "0"], "--batch-size"),
    (["--checkpoint-every", "0"], "--checkpoint-every"),
    (["--n-eval", "-1"], "--n-eval"),
    (["--sample-steps", "1001"], "1..1000"),
])
def test_out_of_range_options(tmp_path, args, needle):
    r = invoke("run", "--model", "ddpm", *args, "--results", str(tmp_path))
    one_line_error(r, needle, code=2)
    assert not any(tmp_path.iterdir())


def test_an_evaluation_already_in_the_leaderboard_is_not_appended_again(tmp_path):
    """The race of two processes that both computed the same (run, sampler setting): under the
    lock, the second append sees the first and adds nothing."""
    row = {**{c: "" for c in COLUMNS}, "run_id": "gan-x", "model": "gan", "dataset": "grid25", "seed": 0,
           "status": "ok", "config_hash": "h", "sampler": "generator", "sample_steps": 1, "eta": 0.0}
    key = ("run_id", "sampler", "sample_steps", "eta")
    assert append_row(tmp_path, row, unique=key) and not append_row(tmp_path, dict(row), unique=key)
    assert append_row(tmp_path, {**row, "eta": 0.5}, unique=key)  # another setting of the run is new
    assert len(load_leaderboard(tmp_path)) == 2


def test_a_killed_appenders_temporary_is_removed_by_the_next_append(tmp_path):
    append_row(tmp_path, {"run_id": "x", "model": "gan"})
    stale = tmp_path / ".leaderboard.csv.k1ll3d.tmp"  # what SIGKILL mid-append leaves
    stale.write_bytes(b"x" * 1000)
    append_row(tmp_path, {"run_id": "y", "model": "gan"})
    assert not stale.exists() and len(load_leaderboard(tmp_path)) == 2


def test_written_files_keep_their_mode_or_take_the_umasks(tmp_path):
    """Atomic writes go through a private (0600) temporary file; the result must not stay private."""
    append_row(tmp_path, {"run_id": "x", "model": "gan"})
    path = tmp_path / "leaderboard.csv"
    assert path.stat().st_mode & 0o777 == 0o666 & ~results_mod.umask()
    path.chmod(0o664)
    append_row(tmp_path, {"run_id": "y", "model": "gan"})
    assert path.stat().st_mode & 0o777 == 0o664


def _small_tmpfs(path):
    """A 256 KiB tmpfs at `path`, or skip: mounting needs root and a kernel that allows it."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")


def test_a_really_full_disk_is_one_line_for_streamed_npy_samples(gan_run, tmp_path):
    """A memory-mapped .npy on a full disk used to die of SIGBUS and leave its temporary behind."""
    disk = tmp_path / "disk"
    _small_tmpfs(disk)
    try:
        out = disk / "s.npy"  # 200,000 2-D float32 samples: 1.6 MB, far over the 256 KiB
        r = subprocess.run([sys.executable, "-m", "genbench", "sample", "--run", str(gan_run), "--n", "200000",
                            "--out", str(out)], capture_output=True, text=True)
        assert r.returncode == 1 and r.stderr.strip().splitlines() == [f"genbench: error: cannot write {out}: No space left on device"], r.stderr
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)
