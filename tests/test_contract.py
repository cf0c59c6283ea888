"""The model contract (the README's "Adding a model"): genbench.contract's battery, the one
`genbench check-model` runs, on every family in the registry, on 2-D points and on images."""
import pytest
import torch

from genbench.contract import CHECKS, Case, ContractError, battery
from models import MODELS
from models.gan import GAN

# every family with its defaults, the class-conditional DDPM of classifier-free guidance, and
# (images only) the spatial latents of a VAE with a factor and the latent diffusion on them
FAMILIES = {**{m: (m, {}) for m in MODELS}, "ddpm-conditional": ("ddpm", {"conditional": True}),
            "vae-spatial": ("vae", {"factor": 2, "latent": 4}), "ldm-spatial": ("ldm", {"ae_factor": 2, "ae_latent": 4})}
CASES = [(name, data) for data in ("grid25", "digits") for name in FAMILIES
         if data == "digits" or not name.endswith("-spatial")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{m}-{d}" for m, d in CASES])
def case(request):
    """A family after three steps of the training loop on 2-D points or on images."""
    name, data = request.param
    family, changes = FAMILIES[name]
    return Case(MODELS[family], data, changes)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_contract(case, check):
    check(case)


class FrozenGenerator(GAN):
    """A GAN whose generator never learns: its loss is detached from its weights."""

    def train_step(self, x, noise, regularise=True, y=None):
        for player, loss, logs in super().train_step(x, noise, regularise, y):
            yield player, (loss if player == "discriminator" else loss.detach().requires_grad_()), logs


class HiddenCounter(GAN):
    """A GAN that keeps state outside its state_dict: resuming cannot reproduce it."""

    def train_step(self, x, noise, regularise=True, y=None):
        self.calls = getattr(self, "calls", 0) + 1
        with torch.no_grad():
            self.generator[0].weight.mul_(1 + 1e-3 * self.calls)
        yield from super().train_step(x, noise, regularise, y)


@pytest.mark.parametrize("family, failing", [(FrozenGenerator, "every_player_learns"),
                                             (HiddenCounter, "resume_is_bit_identical")])
def test_the_battery_catches_a_broken_family(family, failing):
    results = {name: error for _, name, error in battery(family, datasets=("grid25",))}
    assert results[failing], results  # (a frozen generator fails more: its samples never change)


def test_a_family_that_cannot_train_fails_once_per_dataset():
    class Broken(GAN):
        def train_step(self, x, noise, regularise=True, y=None):
            raise RuntimeError("boom\nsecond line")
            yield
    assert list(battery(Broken, datasets=("grid25",))) == [("grid25", "builds_and_trains", "RuntimeError: boom")]
    assert issubclass(ContractError, AssertionError)  # pytest shows a failed check as an assertion


def test_ema_update_averages_parameters_and_copies_buffers():
    from genbench.train import ema_update
    net, avg = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        net.weight.fill_(1.0)
        avg.weight.fill_(0.0)
        net.running_mean.fill_(5.0)
    ema_update(avg, net, decay=0.75)
    assert torch.allclose(avg.weight, torch.full((2,), 0.25)) and torch.equal(avg.running_mean, net.running_mean)


def test_set_parses_bools_and_none():
    from genbench.config import override
    cfg = override(MODELS["ddgan"].Config(), {"ema_warmup": "false", "ema": "none", "hflip": "yes"})
    assert cfg.ema_warmup is False and cfg.ema is None and cfg.hflip is True
