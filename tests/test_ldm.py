"""Latent diffusion: DDPM on a frozen VAE's rescaled latents, decoded; the autoencoder run in the
run's identity; NFE = the sampler's steps + the decoder's call; a missing or unfit autoencoder as one line."""
import dataclasses

import pytest
import torch
from click.testing import CliRunner

from genbench.cli import cli
from genbench.evaluate import draw_samples
from genbench.results import load_leaderboard
from genbench.runner import load_run
from genbench.train import Trainer
from models.ldm import LDM

TINY = ["--steps", "3", "--n-eval", "200", "--sample-batch", "100", "--no-progress"]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_the_diffusion_sees_unit_scale_latents_and_samples_decode_them():
    model = LDM(dataclasses.replace(LDM.IMAGE_CONFIG, T=20), (1, 8, 8))
    x = torch.rand(512, 1, 8, 8) * 2 - 1
    model.from_teacher(model, x)  # its own (random) autoencoder: the scale is what matters here
    assert model.encode(x).std().item() == pytest.approx(1.0, rel=1e-5)
    seen = []
    model.eps_net.register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    Trainer(model, seed=0).step(x[:32], 0)
    assert seen == [(32, 16)]  # the ε-network works on 16-d latents, not on pixels
    setting = LDM.resolve(model.cfg, "ddim", 5)
    samples, nfe, _ = draw_samples(model, 8, 4, 0, setting)
    assert samples.shape == (8, 1, 8, 8) and nfe == setting.nfe == 6


def test_a_spatial_latent_is_diffused_by_a_u_net_unclipped():
    """With the autoencoder's factor f = 2 the latent is (4, 4, 4) maps, the paper's spatial latent;
    a U-Net diffuses them, and x̂_0 is not clipped to the images' [−1, 1] (latents have unit spread)."""
    model = LDM(dataclasses.replace(LDM.IMAGE_CONFIG, T=20, ae_factor=2, ae_latent=4), (1, 8, 8))
    x = torch.rand(512, 1, 8, 8) * 2 - 1
    model.from_teacher(model, x)
    seen = []
    model.eps_net.register_forward_hook(lambda m, args, out: seen.append(args[0].shape))
    Trainer(model, seed=0).step(x[:32], 0)
    assert seen == [(32, 4, 4, 4)] and type(model.eps_net).__name__ == "UNet" and not model.bounded
    samples, nfe, _ = draw_samples(model, 8, 4, 0, LDM.resolve(model.cfg, "ancestral", 5))
    assert samples.shape == (8, 1, 8, 8) and nfe == 6


def test_a_spatial_autoencoder_run_sets_the_latent_diffusions_factor(tmp_path):
    r = invoke("run", "--model", "vae", "--dataset", "digits", "--set", "factor=2", "--set", "latent=4",
               "--results", str(tmp_path), *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    autoencoder = load_leaderboard(tmp_path).iloc[-1]["run_id"]
    r = invoke("run", "--model", "ldm", "--dataset", "digits", "--set", f"autoencoder={autoencoder}", "--set", "T=20",
               "--results", str(tmp_path), *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    row = load_leaderboard(tmp_path).iloc[-1]
    assert row["model"] == "ldm" and row["hp_ae_factor"] == 2 and row["hp_ae_latent"] == 4 and row["status"] == "ok"
    r = invoke("run", "--model", "vae", "--dataset", "digits", "--set", "factor=3", "--results", str(tmp_path / "x"))
    assert r.exit_code == 2 and "power of two" in r.stderr and not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def latent(tmp_path_factory):
    out = tmp_path_factory.mktemp("ldm")
    r = invoke("run", "--model", "vae", "--set", "kl_weight=0.01", "--results", str(out), *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    autoencoder = load_leaderboard(out).iloc[-1]["run_id"]
    r = invoke("run", "--model", "ldm", "--set", f"autoencoder={autoencoder}", "--sampler", "ancestral,ddim",
               "--sample-steps", "10", "--results", str(out), *TINY)
    assert r.exit_code == 0, r.output + r.stderr
    return out, autoencoder


def test_rows_count_the_decoder_and_the_autoencoder_is_part_of_the_run(latent):
    out, autoencoder = latent
    board = load_leaderboard(out)
    ldm = board[board["model"] == "ldm"]
    assert list(ldm["sampler"]) == ["ancestral", "ddim"] and list(ldm["nfe"]) == [11, 11]
    assert (ldm["hp_autoencoder"] == autoencoder).all() and (ldm["status"] == "ok").all()
    _, vae = load_run(out / "runs" / autoencoder)
    _, model = load_run(out / "runs" / ldm.iloc[0]["run_id"])
    assert all(torch.equal(a, b) for a, b in zip(model.decoder.state_dict().values(), vae.decoder.state_dict().values()))
    assert model.scale.item() != 1.0


@pytest.mark.parametrize("autoencoder, needle", [("vae-grid25-s0-000000000000", "no run folder"),
                                                 ("DDPM", "is a ddpm run"), ("LATENT", "comes from the autoencoder")])
def test_a_missing_or_unfit_autoencoder_is_one_line_and_writes_nothing(latent, tmp_path, autoencoder, needle):
    out, vae_id = latent
    extra = []
    if autoencoder == "DDPM":
        assert invoke("run", "--model", "ddpm", "--results", str(tmp_path / "src"), *TINY, "--sample-steps", "2").exit_code == 0
        autoencoder = str(next((tmp_path / "src" / "runs").iterdir()))
    elif autoencoder == "LATENT":  # a field the autoencoder's run decides, set otherwise here
        autoencoder, extra = str(out / "runs" / vae_id), ["--set", "ae_latent=7"]
    r = invoke("run", "--model", "ldm", "--set", f"autoencoder={autoencoder}", *extra, "--results",
               str(tmp_path / "new"), *TINY)
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 1 and len(lines) == 1 and needle in lines[0], r.output + r.stderr
    assert not (tmp_path / "new").exists()


def test_sigkill_then_resume_is_bit_identical(latent, tmp_path):
    from test_reliability import killed_and_resumed
    out, vae_id = latent
    command = ["run", "--model", "ldm", "--set", f"autoencoder={out / 'runs' / vae_id}", "--steps", "150",
               "--checkpoint-every", "10", "--sample-steps", "10", *TINY[2:]]
    killed_and_resumed(command, 150, tmp_path, seed=2, window=0.5, keys=("model", "optimizers", "ema"))
