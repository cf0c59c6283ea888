"""Class-conditional DDPM and classifier-free guidance (Ho & Salimans 2021): labels reach the
family, the class is dropped to ∅ at p_uncond, ε̃ = (1 + w) ε(x, y) − w ε(x, ∅) with both calls
counted, one row per guidance weight, and bad combinations as one line."""
import dataclasses

import pytest
import torch
from click.testing import CliRunner

from genbench.cli import cli
from genbench.data import dataset_classes, get_dataset
from genbench.evaluate import draw_samples
from genbench.results import load_leaderboard
from genbench.train import Trainer, World, draw_batch
from models.ddpm import DDPM

TINY = ["--steps", "3", "--n-eval", "200", "--sample-batch", "100", "--no-progress"]


def conditional(**changes):
    torch.manual_seed(0)
    return DDPM(dataclasses.replace(DDPM.Config(), conditional=True, T=20, hidden=16, **changes), (2,), num_classes=25)


def test_mixtures_label_each_point_with_its_mode_and_every_dataset_says_its_classes():
    data = get_dataset("grid25", n_reference=500)
    assert data.num_classes == 25 == dataset_classes("grid25")
    assert torch.equal(data.means[data.train_labels], data.means[torch.cdist(data.train, data.means).argmin(1)])
    assert (data.train - data.means[data.train_labels]).norm(dim=1).max() < 0.5  # σ = 0.05: the point's own mode
    assert dataset_classes("digits") == 10 and dataset_classes("stacked-digits") == 1000
    assert dataset_classes("swissroll") is None and dataset_classes("file-0123456789ab") is None


def test_batches_carry_their_labels_and_ranks_split_both_alike():
    x, y = torch.arange(100.0)[:, None], torch.arange(100)
    full = draw_batch(x, 8, torch.Generator().manual_seed(0), False, World(), y)
    assert torch.equal(full[0][:, 0].long(), full[1])
    halves = [draw_batch(x, 8, torch.Generator().manual_seed(0), False, World(r, 2), y) for r in (0, 1)]
    assert torch.equal(torch.cat([h[1] for h in halves]), full[1])


def test_the_class_is_dropped_to_the_null_token_at_p_uncond():
    model = conditional(p_uncond=0.5)
    seen = []
    real = model.eps_net.forward
    model.eps_net.forward = lambda x, t, y: (seen.append(y), real(x, t, y))[1]
    trainer = Trainer(model, seed=0)
    for i in range(4):
        trainer.step(torch.randn(256, 2), i, torch.randint(25, (256,)))
    null = torch.cat(seen) == 25
    assert 0.45 < null.float().mean() < 0.55
    model = conditional(p_uncond=0.0)
    model.eps_net.forward = lambda x, t, y: (seen.append(y), real(x, t, y))[1]
    seen.clear()
    Trainer(model, seed=0).step(torch.randn(64, 2), 0, torch.randint(25, (64,)))
    assert not (torch.cat(seen) == 25).any()


def test_guided_eps_is_the_papers_combination_in_one_call_of_2n_rows():
    model = conditional()
    calls = []
    model.eps_net.forward = lambda x, t, y: (calls.append(len(x)), x * 0 + y[:, None].float())[1]  # ε = the label
    y, x = torch.tensor([3, 7]), torch.zeros(2, 2)
    out = model.guided_eps(y, 2.0)(x, torch.tensor([5]))
    assert calls == [4] and torch.allclose(out, (3 * y - 2 * 25)[:, None].float().expand(2, 2))
    calls.clear()
    assert torch.equal(model.guided_eps(y, 0.0)(x, torch.tensor([5])), y[:, None].float().expand(2, 2)) and calls == [2]


def test_guidance_costs_two_counted_calls_a_step_and_is_refused_where_it_means_nothing():
    model = conditional()
    for w, nfe in [(0.0, 10), (1.5, 20)]:
        setting = DDPM.resolve(model.cfg, "ddim", 10, guidance=w)
        assert setting.nfe == nfe and draw_samples(model, 8, 4, 0, setting)[1] == nfe
    with pytest.raises(ValueError, match="class-conditional"):
        DDPM.resolve(DDPM.Config(), "ddim", 10, guidance=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        DDPM.resolve(model.cfg, "ddim", 10, guidance=-1.0)
    with pytest.raises(ValueError, match="classes"):
        DDPM(DDPM.Config(conditional=True), (2,))


@pytest.mark.parametrize("args, needle", [
    (["--model", "ddpm", "--guidance", "2"], "class-conditional"),
    (["--model", "vae", "--guidance", "2"], "class-conditional"),
    (["--model", "ddpm", "--set", "conditional=true", "--dataset", "swissroll"], "no classes"),
    (["--model", "ddpm", "--set", "conditional=true", "--guidance", "1,nan"], "values must be >= 0"),
])
def test_bad_guidance_is_one_line_exit_2(tmp_path, args, needle):
    r = CliRunner().invoke(cli, ["run", *args, "--results", str(tmp_path), *TINY])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and needle in lines[-1] and "Traceback" not in r.output, r.output
    assert not any(tmp_path.iterdir())


def test_one_row_per_guidance_weight_with_its_nfe_and_picture(tmp_path):
    args = ["run", "--model", "ddpm", "--set", "conditional=true", "--sampler", "ddim", "--sample-steps", "5",
            "--guidance", "0,2", "--results", str(tmp_path), *TINY]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output + r.stderr
    board = load_leaderboard(tmp_path)
    rows = board[board["model"] == "ddpm"]
    assert list(rows["guidance"]) == [0, 2] and list(rows["nfe"]) == [5, 10] and rows["run_id"].nunique() == 1
    assert rows.iloc[0]["fd"] != rows.iloc[1]["fd"]  # guided samples differ
    run_dir = tmp_path / "runs" / rows.iloc[0]["run_id"]
    assert (run_dir / "samples-ddim-5.png").exists() and (run_dir / "samples-ddim-5-w2.png").exists()
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0 and "already in the leaderboard" in r.stderr
    r = CliRunner().invoke(cli, [*args[:-len(TINY)], *TINY, "--guidance", "0,2,4"])  # only the new weight is added
    assert r.exit_code == 0 and list(load_leaderboard(tmp_path).query("model == 'ddpm'")["guidance"]) == [0, 2, 4]
    r = CliRunner().invoke(cli, ["sample", "--run", str(run_dir), "--n", "10", "--out", str(tmp_path / "s.pt"),
                                 "--sampler", "ddim", "--sample-steps", "5", "--guidance", "3"])
    assert r.exit_code == 0 and torch.load(tmp_path / "s.pt", weights_only=True).shape == (10, 2)
    r = CliRunner().invoke(cli, ["report", "--results", str(tmp_path)])
    assert r.exit_code == 0 and "guidance.png" in r.output
