"""Suites: the declared grids, resumability (skip what the leaderboard has) and parallel workers."""
import os
import sys

import pytest
from click.testing import CliRunner

from genbench import suites
from genbench.cli import cli
from genbench.config import make_config
from genbench.results import load_leaderboard
from genbench.runner import run_name
from genbench.suites import Entry, is_done, plan, run_suite

TINY = {"n_eval": 50, "sample_batch": 50}


@pytest.fixture
def tiny_suite(monkeypatch):
    monkeypatch.setitem(suites.SUITES, "tiny", [
        Entry("vae", ("grid25",), {"steps": "2"}, TINY),
        Entry("ddpm", ("ring8",), {"steps": "2", "T": "20"}, {**TINY, "samplers": ("ancestral", "ddim"), "sample_steps": (20, 5)}),
    ])
    return "tiny"


def test_declared_suites_expand_to_valid_configs():
    toy = plan("toy", [0, 1, 2])
    assert len(toy) == 9 * 3 * 3  # (vae, gan, ddpm, ddgan T=1,2,4,8, pd's teacher, pd) × 3 datasets × 3 seeds
    assert [c.seed for c in toy] == [0] * 27 + [1] * 27 + [2] * 27  # seed by seed: a stopped suite has whole tables
    assert sorted({c.hparams.T for c in toy if c.model == "ddgan"}) == [1, 2, 4, 8]
    ids = [run_name(c) for c in toy]
    assert "ldm" not in {c.model for c in toy}  # a 2-D latent saves nothing
    for i, c in enumerate(toy):  # every distillation comes after its teacher, a run of the suite
        if c.model == "pd":
            assert c.hparams.teacher in ids[:i] and c.hparams.prediction == "v"
    digits = plan("digits", [0])
    assert len(digits) == 12 * 2  # ... latent diffusion after its autoencoder, the guided conditional DDPM
    assert {c.guidance for c in digits if getattr(c.hparams, "conditional", False)} == {(0.0, 0.5, 1.0, 2.0, 4.0)}
    ids = [run_name(c) for c in digits]
    assert all(c.hparams.autoencoder in ids[:i] for i, c in enumerate(digits) if c.model == "ldm")
    pacgan = plan("paper-pacgan", [0, 1, 2])
    assert len(pacgan) == 4 * 2 * 3 and {c.dataset for c in pacgan} == {"grid25", "pacgan-ring"}
    assert all(c.hparams.batch_size == 100 * c.hparams.pack and c.hparams.steps == 400_000 and c.n_eval == 2500
               and not c.standardise and c.hparams.arch == "pacgan" for c in pacgan)  # 100 packs, 400 epochs of 100k
    cifar = plan("paper-cifar10", [0])
    assert {c.model for c in cifar} == {"ddpm", "ddgan"} and cifar[0].hparams.ch == 128
    ddgan = next(c.hparams for c in cifar if c.model == "ddgan")  # the paper's rates, not the CPU default's
    assert (ddgan.lr_g, ddgan.lr_d, ddgan.lr_schedule, ddgan.lr_min) == (1.6e-4, 1.25e-4, "cosine", 1e-5)
    assert (ddgan.adam_beta1, ddgan.adam_beta2) == (0.5, 0.9)  # the paper's Adam, not the CPU default's β1 = 0
    with pytest.raises(ValueError, match="unknown suite"):
        plan("nope", [0])


def test_a_suite_skips_what_the_leaderboard_has(tiny_suite, tmp_path):
    cfgs = plan(tiny_suite, [0, 1])
    logs = []
    assert run_suite(cfgs[:1], tmp_path, log=logs.append) == []  # "interrupted" after the first run
    assert is_done(cfgs[0], tmp_path) and not is_done(cfgs[1], tmp_path)
    assert run_suite(cfgs, tmp_path, workers=2, log=logs.append) == []
    assert "1 of 4 runs already in the leaderboard; 3 to go" in logs
    board = load_leaderboard(tmp_path)
    runs = board[board["model"] != "real"]
    assert len(runs) == 2 * 1 + 2 * 4 and runs.groupby("run_id").size().max() == 4  # ddpm: 2 samplers × 2 steps
    assert run_suite(cfgs, tmp_path, log=logs.append) == [] and logs[-1].startswith("4 of 4 runs")


@pytest.fixture
def taught_suite(monkeypatch):
    import dataclasses
    from models.pd import PD
    # the default teacher cut to 4 steps (the workers get the linked config: the teacher's run id)
    monkeypatch.setattr(PD, "default_teacher", staticmethod(
        lambda d: dataclasses.replace(d, prediction="v", schedule="cosine", steps=4)))
    monkeypatch.setitem(suites.SUITES, "taught", [  # listed before its teacher, on purpose
        Entry("pd", ("grid25",), {"steps": "3", "start_steps": "8"}, TINY),
        Entry("ddpm", ("grid25",), {"steps": "4", "prediction": "v", "schedule": "cosine"},
              {**TINY, "samplers": ("ddim",), "sample_steps": (4, 2, 1)}),
    ])
    return "taught"


def test_a_distillation_runs_as_soon_as_its_teacher_is_done_not_after_every_seed(taught_suite, tmp_path):
    """Seed by seed: a suite stopped after its first seed holds that seed's distillation too."""
    logs = []
    assert run_suite(plan(taught_suite, [0, 1], tmp_path), tmp_path, log=logs.append) == []
    import re
    order = [re.match(r"\[\d+/4\] (\w+)-grid25-s(\d)-\w+ done$", line).groups() for line in logs[1:]]
    assert order == [("ddpm", "0"), ("pd", "0"), ("ddpm", "1"), ("pd", "1")]


def test_a_distillation_waits_for_its_teacher_even_with_two_workers(taught_suite, tmp_path):
    cfgs = plan(taught_suite, [0], tmp_path)
    assert cfgs[0].hparams.teacher == run_name(cfgs[1])
    r = CliRunner().invoke(cli, ["suite", "taught", "--seeds", "0", "--dry-run", "--results", str(tmp_path)])
    assert r.exit_code == 0 and f"after {run_name(cfgs[1])}" in r.output.splitlines()[0]
    assert run_suite(cfgs, tmp_path, workers=2, log=lambda m: None) == []
    board = load_leaderboard(tmp_path)
    assert list(board[board["model"] == "pd"]["sample_steps"]) == [4, 2, 1]


def test_suite_dry_run_lists_runs_and_costs(tiny_suite, tmp_path):
    r = CliRunner().invoke(cli, ["suite", tiny_suite, "--seeds", "0", "--dry-run", "--results", str(tmp_path)])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("todo  vae-grid25-s0-") and "4 sampler settings" in lines[1]
    assert "2 runs, 2 to do" in lines[-1] and not any(tmp_path.iterdir())


def test_suite_dry_run_counts_no_training_for_a_trained_run_and_splits_over_workers(tiny_suite, tmp_path):
    # the suite's ddpm run, trained, with one of its four sampler settings evaluated
    r = CliRunner().invoke(cli, ["run", "--model", "ddpm", "--dataset", "ring8", "--set", "steps=2", "--set", "T=20",
                                 "--sampler", "ancestral", "--sample-steps", "20", "--n-eval", "50", "--sample-batch",
                                 "50", "--no-progress", "--results", str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    r = CliRunner().invoke(cli, ["suite", tiny_suite, "--seeds", "0", "--dry-run", "--workers", "2",
                                 "--results", str(tmp_path)])
    lines = r.output.strip().splitlines()
    assert lines[1].startswith("eval  ddpm-ring8-s0-") and lines[1].endswith("~     0.0 min train")
    assert "2 runs, 2 to do" in lines[-1] and "over 2 workers" in lines[-1] and f"{max(1, (os.cpu_count() or 1) // 2)} thread(s) each" in lines[-1]


def test_a_pacgan_protocol_run_trains_raw_coordinates_and_records_it(tmp_path):
    r = CliRunner().invoke(cli, ["run", "--model", "gan", "--dataset", "pacgan-ring", "--no-standardise",
                                 "--set", "arch=pacgan", "--set", "pack=2", "--batch-size", "200", "--steps", "3",
                                 "--n-eval", "100", "--no-progress", "--results", str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    row = load_leaderboard(tmp_path).iloc[-1]
    assert row["modes_total"] == 8 and not row["standardise"] and row["hp_arch"] == "pacgan" and row["hp_pack"] == 2


def test_paper_cifar10_networks_have_the_papers_sizes():
    """Counted on the meta device (nothing allocated): DDPM's CIFAR-10 net is Ho et al.'s 35.7M; DDGAN's
    D is sized at the official D/G ratio (12.7M / 48.4M). (Its G is genbench's U-Net, 50.5M, not NCSN++.)"""
    import torch
    from genbench.data import dataset_shape
    from models import MODELS
    sizes = {}
    for cfg in plan("paper-cifar10", [0]):
        with torch.device("meta"):
            model = MODELS[cfg.model](cfg.hparams, dataset_shape(cfg.dataset))
        sizes.update({(cfg.model, n): sum(p.numel() for p in m.parameters()) for n, m in model.named_children()})
    assert abs(sizes["ddpm", "eps_net"] / 35.7e6 - 1) < 0.02
    assert 0.2 < sizes["ddgan", "discriminator"] / sizes["ddgan", "generator"] <= 12.7 / 48.4


def _children(pid: int) -> list[int]:
    import subprocess
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    import os
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead, only not yet reaped
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_stopped_suite_takes_its_workers_with_it(sig, tmp_path):
    """SIGKILL: the workers die with the suite (parent-death signal). SIGTERM (a scheduler's stop):
    the suite stops its runs in flight at once, rather than waiting for every queued run, and exits
    143 with its one line."""
    import signal
    import subprocess
    import time
    p = subprocess.Popen([sys.executable, "-m", "genbench", "suite", "toy", "--seeds", "0", "--workers", "2",
                          "--results", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, workers = time.time() + 120, []
    while time.time() < deadline and len(workers) < 2:  # the two workers (and a resource tracker)
        time.sleep(0.5)
        workers = _children(p.pid)
    assert len(workers) >= 2, "the suite never started its workers"
    time.sleep(2)  # into the runs
    p.send_signal(getattr(signal, sig))
    _, err = p.communicate(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)
    if sig == "SIGTERM":
        assert p.returncode == 143 and "Traceback" not in err and "leaked semaphore" not in err
        assert err.strip().splitlines()[-1] == "genbench: terminated (SIGTERM); the last checkpoint is kept, the same command resumes"


@pytest.mark.parametrize("name", ["toy", "paper-pacgan", "paper-cifar10"])
def test_printed_commands_make_exactly_the_planned_runs(name, tmp_path):
    """`--print-commands` is for a scheduler: each line, run as it is, must be the same run (same id)."""
    import json
    import shlex
    from genbench.config import RunConfig
    from genbench.runner import run_name
    r = CliRunner().invoke(cli, ["suite", name, "--seeds", "0,1", "--print-commands", "--results", str(tmp_path)])
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == len(plan(name, [0, 1]))
    for line, cfg in zip(lines, plan(name, [0, 1])):
        argv = shlex.split(line)
        assert argv[:2] == ["genbench", "run"]
        dry = CliRunner().invoke(cli, [*argv[1:], "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert run_name(RunConfig.from_dict(json.loads(dry.output))) == run_name(cfg)


def test_printed_commands_to_a_closed_pipe_stop_quietly(tmp_path):
    """`--print-commands | head -1`: the reader is gone before the commands are printed (it is closed at
    once here, so the broken pipe is certain); no error message, no traceback."""
    import subprocess
    p = subprocess.Popen([sys.executable, "-m", "genbench", "suite", "toy", "--print-commands", "--results", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()
    assert p.wait() == 1 and p.stderr.read() == ""


def test_the_cost_estimate_times_image_runs_on_small_batches_of_their_own_kind():
    """`suite digits --dry-run` once crashed here: the conditional DDPM's step needs labels."""
    cond = next(c for c in plan("digits", [0]) if getattr(c.hparams, "conditional", False))
    assert suites.train_step_seconds(cond, repeats=1) > 0
    packed = make_config("gan", "digits", 0, {"pack": "3", "batch_size": "48"})  # timed on whole packs of 3
    assert suites.train_step_seconds(packed, repeats=1) > 0
