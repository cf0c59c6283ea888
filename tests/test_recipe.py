"""The training loop's recipe (learning-rate schedule, EMA warm-up, lazy regularisation), the 2-D
input features and standardisation, packing, x̂_0 clipping, and users' own .npz data."""
import dataclasses
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from genbench.cli import cli
from genbench.data import get_dataset
from genbench.data.toy import grid25_means
from genbench.results import load_leaderboard
from genbench.train import Trainer, train
from models import MODELS
from models.diffusion import ddim_sample, ddpm_sample, linear_betas
from models.nets import FourierFeatures, TimeConvDiscriminator, minibatch_std
from models.recipe import Recipe, ema_decay, learning_rate, regularise, stage_of

TINY = ["--steps", "3", "--n-eval", "100", "--sample-batch", "100", "--no-progress"]


def test_learning_rate_warms_up_linearly_then_decays_by_half_cosine_to_lr_min():
    r = Recipe(steps=110, lr_warmup=10, lr_schedule="cosine", lr_min=1e-5)
    assert learning_rate(1e-3, 0, r) == pytest.approx(1e-4) and learning_rate(1e-3, 9, r) == pytest.approx(1e-3)
    assert learning_rate(1e-3, 10, r) == pytest.approx(1e-3)
    assert learning_rate(1e-3, 60, r) == pytest.approx(1e-5 + (1e-3 - 1e-5) / 2)  # half-way: the mean
    assert learning_rate(1e-3, 110, r) == pytest.approx(1e-5)
    assert learning_rate(1e-3, 50, Recipe(steps=100)) == 1e-3  # constant by default


def test_linear_decay_and_stages_restart_the_schedule():
    r = Recipe(steps=90, lr_schedule="linear")
    assert learning_rate(1e-3, 0, r) == 1e-3 and learning_rate(1e-3, 45, r) == pytest.approx(5e-4)
    assert learning_rate(1e-3, 15, r, steps=30) == pytest.approx(5e-4)  # half-way through a 30-step stage
    seen = [stage_of(s, 100, 7) for s in range(100)]
    assert [k for k, _, _ in seen] == sorted(k for k, _, _ in seen) and seen[-1][0] == 6
    for s, (k, first, length) in enumerate(seen):  # each step lies in its stage; stages tile the run
        assert first <= s < first + length and length in (14, 15)


def test_ema_warm_up_forgets_the_initial_weights():
    r = Recipe(ema=0.999)
    assert ema_decay(0, r) == pytest.approx(0.1) and ema_decay(10_000, r) == 0.999
    weight_of_init = math.prod(ema_decay(n, r) for n in range(2000))
    assert weight_of_init < 1e-6 < 0.999 ** 2000  # without warm-up: 13.5 %
    assert ema_decay(0, dataclasses.replace(r, ema_warmup=False)) == 0.999


def test_lazy_regularisation_every_k_steps():
    assert [regularise(s, Recipe(lazy_reg=3)) for s in range(7)] == [True, False, False, True, False, False, True]
    assert all(regularise(s, Recipe()) for s in range(5))


@pytest.mark.parametrize("bad, message", [({"lr_schedule": "step"}, "lr_schedule"), ({"lazy_reg": 0}, "lazy_reg"),
                                          ({"lr_warmup": -1}, "lr_warmup")])
def test_recipe_range_checks(bad, message):
    with pytest.raises(ValueError, match=message):
        MODELS["ddpm"].Config(**bad)


def test_the_loop_sets_the_scheduled_rate_and_skips_lazy_r1():
    data = get_dataset("grid25", n_reference=10)
    cfg = dataclasses.replace(MODELS["ddgan"].Config(), steps=6, batch_size=32, hidden=16, lr_schedule="cosine",
                              lr_min=1e-6, lazy_reg=4, ema=None)
    torch.manual_seed(0)
    trainer = Trainer(MODELS["ddgan"](cfg, data.shape), seed=0)
    seen, step = [], trainer.step

    def recording_step(x, i, y=None):
        losses = step(x, i, y)
        seen.append(losses["r1"])
        return losses

    trainer.step = recording_step
    train(trainer, data.to_model(data.train), torch.Generator().manual_seed(0), progress=False)
    assert [r > 0 for r in seen] == [True, False, False, False, True, False]
    last = learning_rate(cfg.lr_g, cfg.steps - 1, cfg)
    assert trainer.opts["generator"].param_groups[0]["lr"] == pytest.approx(last) and last < cfg.lr_g / 10


def test_compiled_ddgan_trains_with_r1_and_matches_eager(monkeypatch):
    """`--compile`: R1's double backward cannot go through torch.compile's autograd, so D's R1 pass
    runs eagerly. The aot_eager backend has the same autograd as the default one without its slow
    code generation; compiled and eager steps must agree."""
    import functools
    monkeypatch.setattr(torch.nn.Module, "compile", functools.partialmethod(torch.nn.Module.compile, backend="aot_eager"))
    cfg = dataclasses.replace(MODELS["ddgan"].Config(), steps=2, batch_size=16, hidden=16, ema=None)
    losses = []
    for compile in (False, True):
        torch.manual_seed(0)
        trainer = Trainer(MODELS["ddgan"](cfg, (2,)), seed=0, compile=compile)
        losses.append([trainer.step(torch.randn(16, 2, generator=torch.Generator().manual_seed(i)), i) for i in range(2)])
    assert losses[1][0]["r1"] > 0
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)


def test_fourier_features_tell_every_grid25_mode_apart():
    """NeRF's π·2^k frequencies gave all 25 means identical sin/cos features (period 2 = the
    spacing); random Gaussian frequencies are tied to no spacing or axis."""
    torch.manual_seed(0)
    data = get_dataset("grid25", n_reference=10)
    ff = FourierFeatures(2, 64, scale=1.0)
    feats = ff(data.to_model(grid25_means()))[:, 2:]  # the sin/cos part alone
    gaps = torch.cdist(feats, feats) + torch.eye(25) * 1e9
    assert gaps.min() > 1.0


def test_two_d_data_is_standardised_for_the_models_and_mapped_back():
    data = get_dataset("grid25", n_reference=10)
    z = data.to_model(data.train)
    assert z.mean(0).abs().max() < 1e-4 and z.square().sum(1).mean().div(2).sqrt() == pytest.approx(1, abs=1e-4)
    assert torch.allclose(data.to_data(z), data.train, atol=1e-5)
    digits = get_dataset("digits")
    assert digits.to_model(digits.train) is digits.train  # images are already in [−1, 1]


def test_pack_makes_d_judge_m_samples_jointly():
    cfg = MODELS["gan"].Config(pack=4, batch_size=64)
    model = MODELS["gan"](cfg, (2,))
    assert model.discriminator[1][0].in_features == 8 + 2 * cfg.n_fourier  # 4 points of 2 coordinates
    assert model.d_logit(torch.randn(64, 2)).shape == (16,)
    assert all(math.isfinite(v) for v in Trainer(model, seed=0).step(torch.randn(64, 2), 0).values())
    with pytest.raises(ValueError, match="multiple of pack"):
        MODELS["gan"].Config(pack=3, batch_size=64)


def test_ddgans_image_d_ends_with_the_official_minibatch_std():
    h = torch.randn(8, 3, 2, 2)
    # the official Discriminator_small's lines, with stddev_group 4 and stddev_feat 1
    std = torch.sqrt(h.view(4, -1, 1, 3, 2, 2).var(0, unbiased=False) + 1e-8)
    std = std.mean([2, 3, 4], keepdim=True).squeeze(2).repeat(4, 1, 2, 2)
    torch.testing.assert_close(minibatch_std(h), torch.cat([h, std], 1), rtol=1e-6, atol=1e-7)  # var written out
    assert minibatch_std(torch.randn(6, 3, 2, 2)).shape == (6, 4, 2, 2)  # the group shrinks to 3 to divide 6
    h2 = h.clone()
    h2[1] += 5  # sample 1 is in group {1, 3, 5, 7}: only that group's statistic moves
    moved = (minibatch_std(h2)[:, 3] != minibatch_std(h)[:, 3]).flatten(1).any(1)
    assert moved.tolist() == [False, True] * 4
    d = TimeConvDiscriminator((2, 8, 8), ch=8, t_scale=250)
    assert d.final_conv.in_channels == 16 + 1 and d(torch.randn(8, 2, 8, 8), torch.zeros(8, dtype=torch.long)).shape == (8, 1)


def test_ancestral_sampling_clips_x0_hat_and_ddim_does_not():
    betas = linear_betas(100)
    wild = lambda x, t: -5 * torch.ones_like(x)  # ε̂ that pushes x̂_0 far outside [−1, 1]
    x_T = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    assert ddpm_sample(wild, x_T, betas, 10, clip_x0=True).abs().max() <= 1
    assert ddpm_sample(wild, x_T, betas, 10).abs().max() > 1
    assert ddim_sample(wild, x_T, betas, 10).abs().max() > 1


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def mixture_file(path, angle=0.3, scale=40.0, shift=(100.0, -50.0), with_test=True):
    """A 3×3 grid rotated, rescaled and shifted: geometry none of the recipes was tuned on."""
    g = torch.Generator().manual_seed(1)
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    axis = torch.tensor([-1.0, 0.0, 1.0])
    modes = torch.cartesian_prod(axis, axis) @ rot.T * scale + torch.tensor(shift)
    draw = lambda n: modes[torch.randint(9, (n,), generator=g)] + 0.05 * scale * torch.randn(n, 2, generator=g)
    arrays = {"train": draw(2000).numpy(), "modes": modes.numpy(), "sigma": np.float64(0.05 * scale)}
    if with_test:
        arrays["test"] = draw(300).numpy()
    np.savez(path, **arrays)
    return path


def test_a_users_npz_runs_and_is_named_by_its_content(tmp_path):
    a = mixture_file(tmp_path / "mine.npz")
    r = invoke("run", "--model", "gan", "--dataset", str(a), "--results", str(tmp_path / "r"), *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    board = load_leaderboard(tmp_path / "r")
    row = board[board["model"] == "gan"].iloc[0]
    assert row["dataset"].startswith("mine-") and row["modes_total"] == 9 and row["n_samples"] == 100
    # the same bytes elsewhere are the same run; other bytes are another dataset
    (tmp_path / "copy").mkdir()
    b = tmp_path / "copy" / "mine.npz"
    b.write_bytes(a.read_bytes())
    r = invoke("run", "--model", "gan", "--dataset", str(b), "--results", str(tmp_path / "r"), *TINY)
    assert r.exit_code == 0 and "already in the leaderboard" in r.stderr
    # a run's file edited afterwards is refused, not silently read as the run's data
    run_dir = next((tmp_path / "r" / "runs").iterdir())
    mixture_file(a, angle=0.5)
    r = invoke("sample", "--run", str(run_dir), "--n", "10", "--out", str(tmp_path / "s.npy"))
    assert r.exit_code != 0 and "has changed" in r.stderr and r.stderr.count("\n") == 1
    c = mixture_file(tmp_path / "mine2.npz", with_test=False)
    split = get_dataset("x", n_reference=10_000, file=str(c))
    assert len(split.train) == 1800 and len(split.reference) == 200  # the seeded 90/10 split


@pytest.mark.parametrize("arrays, needle", [
    ({"points": np.zeros((50, 2))}, "no 'train' array"),
    ({"train": np.zeros((50, 3))}, "N×2"),
    ({"train": np.full((50, 2), np.nan)}, "NaN"),
    ({"train": np.zeros((5, 2))}, "at least 20"),
    ({"train": np.ones((50, 2))}, "the same"),
    ({"train": np.eye(50, 2), "modes": np.zeros((3, 2))}, "go together"),
    ({"train": np.eye(50, 2), "modes": np.zeros((3, 2)), "sigma": np.float64(-1)}, "positive"),
    (None, "not a readable .npz"),
])
def test_bad_npz_is_one_line_exit_2_and_nothing_written(tmp_path, arrays, needle):
    path = tmp_path / "bad.npz"
    if arrays is None:
        path.write_bytes(b"not a zip file")
    else:
        np.savez(path, **arrays)
    r = invoke("run", "--model", "gan", "--dataset", str(path), "--results", str(tmp_path / "r"), *TINY)
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "r").exists()


class Recorder(torch.nn.Module):
    """A stand-in family with one player that keeps the batches the loop hands it."""
    SAMPLING_NETS = ("net",)

    def __init__(self, cfg):
        super().__init__()
        self.cfg, self.net, self.seen = cfg, torch.nn.Linear(1, 1), []

    def players(self):
        return {"net": {"lr": 0.1}}

    def train_step(self, x, noise, regularise=True, y=None):
        self.seen.append(x)
        loss = self.net.weight.sum() * 0
        yield "net", loss, {"loss": loss}


def test_the_loop_flips_images_left_right_when_the_recipe_asks():
    ramp = torch.arange(4.0).expand(10, 1, 4, 4)  # every image: columns 0, 1, 2, 3
    for hflip in (False, True):
        model = Recorder(Recipe(steps=5, batch_size=10, hflip=hflip))
        train(Trainer(model, seed=0), ramp, torch.Generator().manual_seed(0), progress=False)
        firsts = torch.cat(model.seen)[:, 0, 0, 0]
        assert set(firsts.tolist()) == ({0.0, 3.0} if hflip else {0.0})  # mirrored ones start with column 3


def test_gradient_norm_is_clipped():
    class Steep(Recorder):
        def train_step(self, x, noise, regularise=True, y=None):
            loss = -1000 * self.net.weight.sum() - 1000 * self.net.bias.sum()
            yield "net", loss, {"loss": loss}

    model = Steep(Recipe(steps=1, batch_size=2, grad_clip=0.5))
    Trainer(model, seed=0).step(torch.zeros(2, 1), 0)
    grads = torch.cat([model.net.weight.grad.flatten(), model.net.bias.grad])
    assert float(grads.norm()) == pytest.approx(0.5)  # the loop clipped the joint gradient before Adam's step


def test_without_a_terminal_training_prints_a_progress_line_every_interval(monkeypatch, capsys):
    """nohup and SLURM logs get plain lines (no bar) every LOG_EVERY seconds; a terminal gets the bar."""
    import genbench.train as train_mod
    from genbench.config import make_config
    from genbench.runner import build
    monkeypatch.setattr(train_mod, "LOG_EVERY", 0.0)  # every step
    cfg = make_config("vae", "grid25", 0, {"steps": "3"})
    trainer = train_mod.Trainer(build(cfg, (2,)), seed=0)
    train_mod.train(trainer, torch.randn(64, 2), torch.Generator().manual_seed(0), progress=True)
    lines = capsys.readouterr().err.strip().splitlines()  # pytest's stderr is not a terminal
    assert len(lines) == 3 and lines[-1].startswith("train VAE: step 3/3,") and "min left" in lines[-1]
    train_mod.train(trainer, torch.randn(64, 2), torch.Generator().manual_seed(0), progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("sigma_init, collapses", [(0.1, False), (1.0, True)])
def test_the_2d_vae_starts_below_the_data_scale_and_so_escapes_posterior_collapse(sigma_init, collapses):
    """Standardised 2-D data have unit variance: a decoder σ starting at 1 already explains them as
    N(0, I) with z unused (KL 0), where training stays and every sample lands at the mean (ring8: 0
    of 8 modes in the toy suite); starting at 0.1 it learns to use z within a few hundred steps."""
    data = get_dataset("ring8")
    x = data.to_model(torch.as_tensor(data.train, dtype=torch.float32))
    torch.manual_seed(0)
    model = MODELS["vae"](MODELS["vae"].Config(sigma_init=sigma_init, batch_size=256), (2,))
    trainer, g = Trainer(model, 0), torch.Generator().manual_seed(0)
    for step in range(300):
        logs = trainer.step(x[torch.randint(0, len(x), (256,), generator=g)], step)
    spread = model.sample(2000, generator=torch.Generator().manual_seed(1)).std(0).min()
    assert (logs["kl"] < 0.1 and spread < 0.2) if collapses else (logs["kl"] > 1 and spread > 0.5)


def test_image_networks_are_built_channels_last_on_the_cpu_too_and_sample_in_the_same_shape():
    """NHWC convolutions are faster on this project's CPU as well as on tensor cores (README,
    "Precision and compilation"); what the family computes must not depend on the layout."""
    from genbench.config import make_config
    from genbench.runner import build
    model = build(make_config("ddgan", "digits", 0, {}), (1, 8, 8))
    conv = next(m for m in model.generator.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    x = model.sample(8, generator=torch.Generator().manual_seed(0))
    plain = MODELS["ddgan"](model.cfg, (1, 8, 8))
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(x, plain.sample(8, generator=torch.Generator().manual_seed(0)), rtol=1e-4, atol=1e-4)
