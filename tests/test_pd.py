"""Progressive distillation: its target against the paper's formula, one row per stage through the
CLI, the teacher in the run's identity, and a missing or unfit teacher as one line."""
import dataclasses
import json

import pytest
import torch
from click.testing import CliRunner

from genbench.cli import cli
from genbench.results import load_leaderboard
from models.diffusion import expand_like
from models.family import BatchNoise
from models.pd import PD, chain

TINY = ["--steps", "3", "--n-eval", "200", "--sample-batch", "100", "--no-progress"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def exact_v(model, c):
    """The v of a point mass at c: with z = α c + σ ε, v = α ε − σ c."""
    def v(z, t):
        a = expand_like(model.alpha_bar[t], z)
        eps = (z - a.sqrt() * c) / (1 - a).sqrt()
        return a.sqrt() * eps - (1 - a).sqrt() * c
    return v


def test_with_an_exact_teacher_every_stage_targets_the_data_and_an_exact_student_has_zero_loss():
    cfg = dataclasses.replace(PD.Config(), start_steps=16, hidden=8)
    model = PD(cfg, (2,))
    c = torch.tensor([[0.5, -1.0]])
    for net in [model.teacher, *model.students]:
        net.forward = exact_v(model, c)
    noise = BatchNoise(torch.Generator().manual_seed(0))
    for k in range(model.stages):
        model.start_stage(k)
        _, loss, _ = next(model.train_step(c.expand(64, 2), noise))
        assert loss.item() < 1e-8, k
        steps = chain(cfg)[k]
        x = model.sample(32, generator=torch.Generator().manual_seed(1), setting=PD.resolve(cfg, steps=steps))
        assert torch.allclose(x, c.expand_as(x), atol=1e-4), steps


def test_the_target_is_the_x_whose_one_ddim_step_lands_where_two_teacher_steps_do():
    """Salimans & Ho's x̃: one student DDIM step from z_t with x̂ = x̃ reaches the teacher's z_t''."""
    cfg = dataclasses.replace(PD.Config(), start_steps=8, hidden=8)
    model = PD(cfg, (2,))
    torch.manual_seed(0)
    z_t, t, s = torch.randn(16, 2), model.grid[[8]], model.grid[[4]]
    z_mid = model._ddim(model.teacher, z_t, t, model.grid[[6]])
    z_s = model._ddim(model.teacher, z_mid, model.grid[[6]], s)
    a_t, a_s = model.alpha_bar[t], model.alpha_bar[s]
    ratio = ((1 - a_s) / (1 - a_t)).sqrt()
    x_target = (z_s - ratio * z_t) / (a_s.sqrt() - ratio * a_t.sqrt())
    eps = (z_t - a_t.sqrt() * x_target) / (1 - a_t).sqrt()  # DDIM's ε̂ for x̂ = x̃
    assert torch.allclose((a_s.sqrt() * x_target + (1 - a_s).sqrt() * eps).float(), z_s, atol=1e-5)


def test_stages_halve_down_to_the_final_steps_and_bad_chains_are_value_errors():
    assert chain(PD.Config()) == [64, 32, 16, 8, 4, 2, 1]
    assert chain(PD.Config(start_steps=32, final_steps=4)) == [16, 8, 4]
    for bad, needle in [({"start_steps": 48}, "power of two"), ({"start_steps": 2048}, "T"),
                        ({"prediction": "eps"}, "predicts v"), ({"steps": 3}, "one per stage")]:
        with pytest.raises(ValueError, match=needle):
            PD.Config(**bad)


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """A tiny v-prediction DDPM teacher and a PD run that names it."""
    out = tmp_path_factory.mktemp("pd")
    r = invoke("run", "--model", "ddpm", "--set", "prediction=v", "--set", "schedule=cosine", "--results", str(out),
               *TINY, "--sampler", "ddim", "--sample-steps", "4")
    assert r.exit_code == 0, r.output + r.stderr
    teacher = load_leaderboard(out).iloc[-1]["run_id"]
    r = invoke("run", "--model", "pd", "--set", f"teacher={teacher}", "--set", "start_steps=8", "--results", str(out),
               *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    return out, teacher


def test_one_row_per_stage_with_its_steps_and_counted_nfe(taught):
    out, teacher = taught
    board = load_leaderboard(out)
    pd = board[board["model"] == "pd"]
    assert list(pd["sampler"]) == ["distilled"] * 3 and list(pd["sample_steps"]) == [4, 2, 1]
    assert list(pd["nfe"]) == [4, 2, 1] and (pd["status"] == "ok").all() and (pd["hp_teacher"] == teacher).all()
    # a row's params are one student's: the same network as the teacher's (not 1 teacher + 3 students)
    assert set(pd["params"]) == set(board[board["run_id"] == teacher]["params"])
    run_dir = out / "runs" / pd.iloc[0]["run_id"]
    assert json.loads((run_dir / "config.json").read_text())["hparams"]["teacher"] == teacher
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert int(state["model"]["stage"]) == 2  # the last stage was reached


def test_a_student_starts_from_its_teacher_and_a_new_teacher_is_a_new_run(taught, tmp_path):
    out, teacher = taught
    from genbench.runner import load_run
    _, ddpm = load_run(out / "runs" / teacher)
    pd_id = load_leaderboard(out).iloc[-1]["run_id"]
    _, pd = load_run(out / "runs" / pd_id)
    assert all(torch.equal(a, b) for a, b in zip(pd.teacher.state_dict().values(), ddpm.eps_net.state_dict().values()))
    r = invoke("run", "--model", "ddpm", "--set", "prediction=v", "--set", "schedule=cosine", "--seed", "1",
               "--results", str(out), *TINY, "--sampler", "ddim", "--sample-steps", "4")
    assert r.exit_code == 0
    other = load_leaderboard(out).iloc[-1]["run_id"]
    r = invoke("run", "--model", "pd", "--set", f"teacher={other}", "--set", "start_steps=8", "--results", str(out),
               "--dry-run", *TINY)
    assert r.exit_code == 0 and f'"teacher": "{other}"' in r.output
    r = invoke("run", "--model", "pd", "--set", f"teacher={teacher}", "--set", "start_steps=8", "--results", str(out),
               "--dry-run", *TINY)
    assert f'"teacher": "{teacher}"' in r.output


def test_sampling_a_saved_student_by_its_steps(taught, tmp_path):
    out, _ = taught
    pd_id = load_leaderboard(out).iloc[-1]["run_id"]
    r = invoke("sample", "--run", str(out / "runs" / pd_id), "--n", "10", "--out", str(tmp_path / "s.pt"),
               "--sample-steps", "2")
    assert r.exit_code == 0, r.output + r.stderr
    assert torch.load(tmp_path / "s.pt", weights_only=True).shape == (10, 2)


@pytest.mark.parametrize("teacher, needle", [
    ("ddpm-grid25-s0-000000000000", "no run folder"),
    ("EPS", "predicts eps"),
    ("RING", "other data"),
])
def test_a_missing_or_unfit_teacher_is_one_line_and_writes_nothing(tmp_path, teacher, needle):
    src = tmp_path / "src"
    if teacher in ("EPS", "RING"):  # a finished run that cannot teach: ε-prediction, or another dataset
        args = ["--set", "prediction=v", "--dataset", "ring8"] if teacher == "RING" else []
        assert invoke("run", "--model", "ddpm", "--results", str(src), *TINY, *args, "--sample-steps", "2").exit_code == 0
        teacher = str(next((src / "runs").iterdir()))
    out = tmp_path / "out"
    r = invoke("run", "--model", "pd", "--set", f"teacher={teacher}", "--set", "start_steps=8", "--results", str(out),
               *TINY)
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == 1 and needle in lines[0], r.output + r.stderr
    assert not out.exists()


def test_an_unfinished_named_teacher_is_refused(taught, tmp_path):
    out, teacher = taught
    unfinished = tmp_path / "runs" / teacher
    unfinished.mkdir(parents=True)
    (unfinished / "config.json").write_text((out / "runs" / teacher / "config.json").read_text())
    r = invoke("run", "--model", "pd", "--set", f"teacher={unfinished}", "--set", "start_steps=8",
               "--results", str(tmp_path / "new"), *TINY)
    assert r.exit_code == 1 and "has not finished training" in r.stderr


def test_without_a_teacher_the_default_one_is_trained_first(tmp_path, monkeypatch):
    # the default teacher is the dataset's default DDPM in v-prediction; cut to 3 steps for the test
    monkeypatch.setattr(PD, "default_teacher", staticmethod(
        lambda d: dataclasses.replace(d, prediction="v", schedule="cosine", steps=3)))
    r = invoke("run", "--model", "pd", "--set", "start_steps=4", "--results", str(tmp_path), *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    board = load_leaderboard(tmp_path)
    ddpm, pd = board[board["model"] == "ddpm"], board[board["model"] == "pd"]
    assert list(ddpm["sampler"]) == ["ddim", "ddim"] and list(ddpm["sample_steps"]) == [2, 1]
    assert (pd["hp_teacher"] == ddpm.iloc[0]["run_id"]).all() and list(pd["sample_steps"]) == [2, 1]
    r = invoke("run", "--model", "pd", "--set", "start_steps=4", "--results", str(tmp_path), *TINY)
    assert r.exit_code == 0 and "already in the leaderboard" in r.stderr and "training the teacher" not in r.stderr


def test_sigkill_then_resume_is_bit_identical_across_stages(taught, tmp_path):
    """Killed anywhere in its 3 stages (at a boundary too), the same command ends where an
    uninterrupted run does: the stage, every student and the optimiser state."""
    from test_reliability import killed_and_resumed
    out, teacher = taught
    command = ["run", "--model", "pd", "--set", f"teacher={out / 'runs' / teacher}", "--set", "start_steps=8",
               "--steps", "300", "--checkpoint-every", "20", *TINY[2:]]
    killed_and_resumed(command, 300, tmp_path, seed=1, window=2.0, keys=("model", "optimizers"))
