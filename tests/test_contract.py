"""The model contract (the README's "Adding a model"), checked the same way for every family in the registry."""
import dataclasses

import pytest
import torch

from genbench.data import get_dataset
from genbench.evaluate import draw_samples
from genbench.train import Trainer
from models import MODELS, default_config

DATA = {name: get_dataset(name, n_reference=10) for name in ("grid25", "digits")}
# every family with its defaults, and the class-conditional DDPM of classifier-free guidance
FAMILIES = {**{m: (m, {}) for m in MODELS}, "ddpm-conditional": ("ddpm", {"conditional": True})}
CASES = [(name, data) for data in DATA for name in FAMILIES]


def small(cfg):
    """The family's defaults with any U-Net narrowed and any long chain cut, for CPU test speed; a
    run of the 3 steps the tests train (a staged family: one stage each)."""
    cuts = {"ch": 8, "T": min(getattr(cfg, "T", 0), 20), "start_steps": 8, "steps": 3}  # 3 steps: the loop's
    return dataclasses.replace(cfg, **{k: v for k, v in cuts.items() if hasattr(cfg, k)})


def fresh(name, data):
    family, changes = FAMILIES[name]
    torch.manual_seed(0)
    cfg = dataclasses.replace(small(default_config(family, DATA[data].shape)), **changes)
    return MODELS[family](cfg, DATA[data].shape, num_classes=DATA[data].num_classes)


def sample(model, seed=1, n=16):
    return model.sample(n, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=CASES, ids=[f"{m}-{d}" for m, d in CASES])
def trained(request):
    """A model after three steps of the training loop on 2-D points or on images, and the losses it reported."""
    name, data = request.param
    model = fresh(name, data)
    trainer = Trainer(model, seed=0)
    batch = lambda i: slice(i * 32, (i + 1) * 32)  # noqa: E731
    losses = [trainer.step(DATA[data].train[batch(i)], i, DATA[data].train_labels[batch(i)]) for i in range(3)]
    return model, losses, request.param


def test_losses_are_named_finite_floats(trained):
    _, losses, _ = trained
    for step in losses:
        assert step and all(isinstance(v, float) and torch.isfinite(torch.tensor(v)) for v in step.values())


def test_sample_shape_and_dtype(trained):
    model, _, (_, data) = trained
    x = sample(model)
    assert x.shape == (16, *DATA[data].shape) and x.dtype == torch.float32
    assert torch.isfinite(x).all()


def test_same_seed_same_samples_other_seed_other_samples(trained):
    model, _, _ = trained
    assert torch.equal(sample(model, seed=1), sample(model, seed=1))
    assert not torch.equal(sample(model, seed=1), sample(model, seed=2))


def test_state_dict_round_trip(trained):
    model, _, case = trained
    copy = fresh(*case)
    assert not torch.equal(sample(copy), sample(model))
    copy.load_state_dict(model.state_dict())
    assert torch.equal(sample(copy), sample(model))


def test_unknown_sampler_is_a_value_error(trained):
    model, _, _ = trained
    with pytest.raises(ValueError, match="samplers are"):
        type(model).resolve(model.cfg, sampler="no-such-sampler")


def test_counted_nfe_equals_declared(trained):
    model, _, _ = trained
    family = type(model)
    for sampler in family.SAMPLERS:  # every sampler the family declares, the first being its default
        setting = family.resolve(model.cfg, sampler)
        _, counted, _ = draw_samples(model, n=20, batch=8, seed=0, setting=setting)
        assert counted == setting.nfe
    assert family.resolve(model.cfg) == family.resolve(model.cfg, family.SAMPLERS[0])


@pytest.mark.parametrize("name, data", CASES)
def test_train_step_updates_every_player(name, data):
    """Every network of the family (G and D of a GAN, encoder and decoder of a VAE) learns in one
    step of the loop, and the players are all its trainable networks: a generator that never
    updates must not pass because its discriminator did."""
    model = fresh(name, data)
    players = {n: getattr(model, n) for n in model.players()}
    trainable = {n for n, m in model.named_children() if any(p.requires_grad for p in m.parameters())}
    assert set(players) == trainable and set(model.SAMPLING_NETS) <= trainable
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in players.items()}
    Trainer(model, seed=0).step(DATA[data].train[:32], 0, DATA[data].train_labels[:32])
    for n, m in players.items():
        assert any(not torch.equal(b, p) for b, p in zip(before[n], m.parameters())), f"{name}: {n} did not change"


@pytest.mark.parametrize("name", list(MODELS))
def test_the_ema_averages_the_sampling_networks_only_and_samples_with_them(name):
    model = fresh(name, "grid25")
    model.cfg = dataclasses.replace(model.cfg, ema=0.5)
    trainer = Trainer(model, seed=0)
    assert set(trainer.ema) == set(model.SAMPLING_NETS)  # no EMA of a discriminator or an encoder
    for i in range(3):
        trainer.step(DATA["grid25"].train[:32], i)
    raw = sample(model)
    averaged = trainer.sampling_model()
    assert all(getattr(averaged, n) is trainer.ema[n] for n in model.SAMPLING_NETS)
    assert not torch.equal(sample(averaged), raw)


def test_sampling_restores_the_mode_it_found():
    model = fresh("gan", "digits")  # batch norm: eval and train modes sample differently
    model.train()
    sample(model)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    sample(model)
    assert not any(m.training for m in model.modules())


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
