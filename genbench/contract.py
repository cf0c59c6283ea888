"""The model contract (the README's "Adding a model") as one battery of checks, run the same way on
the built-in families by the tests (tests/test_contract.py) and on any family, a plugin's
included, by `genbench check-model NAME`.

Each check takes a `Case` (a family on one dataset, trained three steps through the real training
loop) and raises `ContractError` saying what is wrong. The family's defaults are shrunk for speed
where it uses genbench's field names (`ch`, `T`, `start_steps`); nothing else is changed."""
import dataclasses
import functools
import io
from dataclasses import dataclass

import torch

from . import first_line
from .data import get_dataset
from .evaluate import draw_samples
from .train import Trainer
from models import default_config
from models.recipe import Recipe


class ContractError(AssertionError):
    """A family breaks the contract; the message says how."""


def require(ok, message: str) -> None:
    if not ok:
        raise ContractError(message)


@functools.cache
def dataset(name: str):
    return get_dataset(name, n_reference=10)


def small(cfg, steps: int = 3):
    """The family's defaults with any U-Net narrowed and any long chain cut, for CPU speed; a run of
    the 3 steps the checks train (a staged family: one stage each)."""
    cuts = {"ch": 8, "T": min(getattr(cfg, "T", 0), 20), "start_steps": 8, "steps": steps}
    return dataclasses.replace(cfg, **{k: v for k, v in cuts.items() if hasattr(cfg, k)})


BATCH = 32


@dataclass
class Case:
    """`family` (a class) on dataset `data` with the config changes `changes`; `model` after three
    steps of the training loop, `losses` what those steps logged."""
    family: type
    data: str
    changes: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.model = self.fresh()
        self.trainer = Trainer(self.model, seed=0)
        self.losses = [self.step(self.trainer, i) for i in range(3)]

    @property
    def shape(self):
        return dataset(self.data).shape

    def fresh(self, **changes):
        """A new instance, initialised from the same seed."""
        torch.manual_seed(0)
        cfg = dataclasses.replace(small(default_config(self.family, self.shape)), **self.changes, **changes)
        return self.family(cfg, self.shape, num_classes=dataset(self.data).num_classes)

    def step(self, trainer, i: int) -> dict:
        d, rows = dataset(self.data), slice(i * BATCH, (i + 1) * BATCH)
        return trainer.step(d.train[rows], i, None if d.train_labels is None else d.train_labels[rows])


def sample(model, seed=1, n=16):
    return model.sample(n, generator=torch.Generator().manual_seed(seed))


def declares_the_contract(case: Case) -> None:
    """Config is a frozen Recipe dataclass, IMAGE_CONFIG one of them; SAMPLERS, SAMPLING_NETS, resolve exist."""
    f = case.family
    require(dataclasses.is_dataclass(f.Config) and issubclass(f.Config, Recipe),
            "Config must be a dataclass extending models.recipe.Recipe")
    require(f.Config.__dataclass_params__.frozen, "Config must be frozen (@dataclass(frozen=True))")
    require(isinstance(f.IMAGE_CONFIG, f.Config), "IMAGE_CONFIG must be a Config instance")
    require(isinstance(f.SAMPLERS, tuple) and f.SAMPLERS, "SAMPLERS must be a non-empty tuple of names")
    require(isinstance(f.SAMPLING_NETS, tuple) and f.SAMPLING_NETS, "SAMPLING_NETS must be a non-empty tuple")
    require(callable(getattr(f, "resolve", None)), "resolve(cfg, sampler=None, steps=None, **options) is missing")


def losses_are_named_finite_floats(case: Case) -> None:
    for step in case.losses:
        require(step, "a training step logged nothing")
        for name, v in step.items():
            require(isinstance(v, float) and torch.isfinite(torch.tensor(v)), f"loss {name} is {v!r}, not a finite float")


def sample_shape_and_dtype(case: Case) -> None:
    x = sample(case.model)
    require(x.shape == (16, *case.shape), f"sample(16) has shape {tuple(x.shape)}, not {(16, *case.shape)}")
    require(x.dtype == torch.float32, f"samples are {x.dtype}, not float32")
    require(torch.isfinite(x).all(), "samples are not all finite")


def same_seed_same_samples(case: Case) -> None:
    """The generator alone decides the samples: same seed same samples, another seed others."""
    require(torch.equal(sample(case.model, seed=1), sample(case.model, seed=1)), "the same generator seed gave other samples")
    require(not torch.equal(sample(case.model, seed=1), sample(case.model, seed=2)), "another seed gave the same samples")


def sampling_restores_the_mode(case: Case) -> None:
    """`sample` may switch to eval mode but must leave the model as it found it."""
    for training in (True, False):
        case.model.train(training)
        sample(case.model)
        require(all(m.training == training for m in case.model.modules()),
                f"sampling left a module in {'eval' if training else 'train'} mode")
    case.model.train()


def state_dict_round_trip(case: Case) -> None:
    copy = case.fresh()
    require(not torch.equal(sample(copy), sample(case.model)), "three training steps changed no sample")
    copy.load_state_dict(case.model.state_dict())
    require(torch.equal(sample(copy), sample(case.model)), "a copy loaded from state_dict() samples differently")


def unknown_sampler_is_a_value_error(case: Case) -> None:
    try:
        case.family.resolve(case.model.cfg, sampler="no-such-sampler")
    except ValueError as e:
        require("samplers are" in str(e), f"the ValueError should name the samplers ('... samplers are ...'): {e}")
    else:
        raise ContractError("resolve() accepted an unknown sampler")


def counted_nfe_equals_declared(case: Case) -> None:
    """Every declared sampler's NFE, counted by forward hooks, equals what `resolve` declares; the first is the default."""
    f = case.family
    for sampler in f.SAMPLERS:
        setting = f.resolve(case.model.cfg, sampler)
        _, counted, _ = draw_samples(case.model, n=20, batch=8, seed=0, setting=setting)
        require(counted == setting.nfe, f"{sampler}: resolve declares {setting.nfe} NFE, the hooks counted {counted}")
    require(f.resolve(case.model.cfg) == f.resolve(case.model.cfg, f.SAMPLERS[0]), "resolve()'s default is not SAMPLERS[0]")


def every_player_learns(case: Case) -> None:
    """Each player (G and D, encoder and decoder) changes in one step, and the players are all its
    trainable networks: a generator that never updates must not pass because its discriminator did."""
    model = case.fresh()
    players = {n: getattr(model, n) for n in model.players()}
    trainable = {n for n, m in model.named_children() if any(p.requires_grad for p in m.parameters())}
    require(set(players) == trainable, f"players() {sorted(players)} are not the trainable children {sorted(trainable)}")
    require(set(model.SAMPLING_NETS) <= trainable, f"SAMPLING_NETS {model.SAMPLING_NETS} are not all trainable children")
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in players.items()}
    case.step(Trainer(model, seed=0), 0)
    for n, m in players.items():
        require(any(not torch.equal(b, p) for b, p in zip(before[n], m.parameters())), f"player {n} did not change")


def ema_averages_the_sampling_networks_only(case: Case) -> None:
    model = case.fresh(ema=0.5)
    trainer = Trainer(model, seed=0)
    require(set(trainer.ema) == set(model.SAMPLING_NETS), "the EMA must cover SAMPLING_NETS only")
    for i in range(3):
        case.step(trainer, i)
    raw = sample(model)
    averaged = trainer.sampling_model()
    require(not torch.equal(sample(averaged), raw), "the EMA's networks sample like the raw ones: sample() ignores them")


def resume_is_bit_identical(case: Case) -> None:
    """Two steps, a checkpoint through torch.save and a weights-only load into a fresh instance,
    then the third step: the same weights as three steps in one go (`case.model`)."""
    model = case.fresh()
    trainer = Trainer(model, seed=0)
    for i in range(2):
        case.step(trainer, i)
    buf = io.BytesIO()
    # the global generator too (dropout draws from it), as a run's checkpoint saves it
    torch.save({"model": model.state_dict(), "trainer": trainer.state_dict(), "rng": torch.get_rng_state()}, buf)
    buf.seek(0)
    try:
        state = torch.load(buf, weights_only=True)
    except Exception as e:  # noqa: BLE001 (what the unpickler refused is the message)
        raise ContractError(f"the state does not load with weights_only=True: {first_line(e)}") from None
    resumed = case.fresh()
    resumed.load_state_dict(state["model"])
    torch.set_rng_state(state["rng"])
    trainer = Trainer(resumed, seed=0)
    trainer.load_state_dict(state["trainer"])
    case.step(trainer, 2)
    for (name, a), b in zip(case.model.state_dict().items(), resumed.state_dict().values()):
        require(torch.equal(a, b), f"{name} differs after resuming at step 2: state outside state_dict()?")


CHECKS = (declares_the_contract, losses_are_named_finite_floats, sample_shape_and_dtype, same_seed_same_samples,
          sampling_restores_the_mode, state_dict_round_trip, unknown_sampler_is_a_value_error,
          counted_nfe_equals_declared, every_player_learns, ema_averages_the_sampling_networks_only,
          resume_is_bit_identical)


def battery(family: type, datasets=("grid25", "digits"), changes: dict | None = None):
    """Yield (dataset, check name, None or what failed) for every check on every dataset. A family
    that cannot even be built and trained three steps fails there, once per dataset."""
    for data in datasets:
        try:
            case = Case(family, data, changes or {})
        except Exception as e:  # noqa: BLE001 (a plugin may raise anything; report it, go on)
            yield data, "builds_and_trains", _message(e)
            continue
        for check in CHECKS:
            try:
                check(case)
                yield data, check.__name__, None
            except Exception as e:  # noqa: BLE001
                yield data, check.__name__, _message(e)


def _message(e: Exception) -> str:
    text = first_line(e)
    return text if isinstance(e, ContractError) else f"{type(e).__name__}: {text}"
