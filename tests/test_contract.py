"""The model contract (DESIGN.md §2), checked the same way for every family in the registry."""
import pytest
import torch

from genbench.data import get_dataset
from genbench.evaluate import draw_samples
from models import MODELS

DATA = get_dataset("grid25", n_reference=10)


def fresh(name):
    torch.manual_seed(0)
    family = MODELS[name]
    return family(family.Config(), DATA.shape)


def sample(model, seed=1, n=16):
    return model.sample(n, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module", params=list(MODELS))
def trained(request):
    """A model after three optimisation steps, and the losses it reported."""
    model = fresh(request.param)
    losses = [model.train_step(DATA.train[i * 32:(i + 1) * 32]) for i in range(3)]
    return model, losses


def test_losses_are_named_finite_floats(trained):
    _, losses = trained
    for step in losses:
        assert step and all(isinstance(v, float) and torch.isfinite(torch.tensor(v)) for v in step.values())


def test_sample_shape_and_dtype(trained):
    model, _ = trained
    x = sample(model)
    assert x.shape == (16, *DATA.shape) and x.dtype == torch.float32
    assert torch.isfinite(x).all()


def test_same_seed_same_samples_other_seed_other_samples(trained):
    model, _ = trained
    assert torch.equal(sample(model, seed=1), sample(model, seed=1))
    assert not torch.equal(sample(model, seed=1), sample(model, seed=2))


def test_state_dict_round_trip(trained):
    model, _ = trained
    copy = fresh(type(model).__name__.lower())
    assert not torch.equal(sample(copy), sample(model))
    copy.load_state_dict(model.state_dict())
    assert torch.equal(sample(copy), sample(model))


def test_counted_nfe_equals_declared(trained):
    model, _ = trained
    _, counted = draw_samples(model, n=20, batch=8, seed=0)
    assert counted == model.nfe()


def test_train_step_changes_weights():
    for name in MODELS:
        model = fresh(name)
        before = [p.detach().clone() for p in model.parameters()]
        model.train_step(DATA.train[:32])
        assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters())), name
