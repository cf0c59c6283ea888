"""Progressive distillation (Salimans & Ho 2022): a DDPM teacher's DDIM halved into 64, ..., 1-step students.

A trained DDPM teacher's deterministic DDIM sampler is halved stage by stage into students that
sample in 64, 32, ..., 1 steps.

Algorithm 2 of the paper, on the teacher's discrete times: the first stage distils the teacher's
DDIM (η = 0) over an evenly spaced sub-sequence of `start_steps` of its T steps; each student,
initialised from its teacher, learns to take in one DDIM step from t to t − 2/N what its teacher
takes in two (t → t − 1/N → t − 2/N, on the nested grid), and becomes the next stage's teacher.
With z_t = α_t x + σ_t ε, the teacher's two steps end at z_t'' and the student's target is

    x̃ = (z_t'' − (σ_t''/σ_t) z_t) / (α_t'' − (σ_t''/σ_t) α_t),

the x̂ whose one DDIM step from z_t lands exactly on z_t''; the loss is ‖x̃ − x̂_η(z_t)‖² weighted by
max(SNR_t, 1) ("truncated SNR", the paper's eq. 9 choice with x-loss). Networks predict v
(x̂ = α_t z_t − σ_t v̂, defined where ᾱ_t ≈ 0, which a 1-step student starts from), so the teacher
is a DDPM run with `prediction=v`; on the cosine schedule its ᾱ_T ≈ 2e-9 (log-SNR ≈ −20, the
paper's clip). As the official code: no EMA, Adam with the rate decayed linearly to 0 within each
stage, gradient clipping at 1, no dropout. Every stage's student is kept, so a run gives one row
per stage (sampler `distilled`, its steps and NFE).
"""
import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from . import ddpm
from .diffusion import alpha_bars, expand_like, q_sample, respace, v_to_x0_eps
from .family import adopt, check_ranges, check_sampler, sampling, setting

# the teacher's fields that define its network and schedule, copied into the student's config
# (`genbench.runner.link_teacher`); dropout is not among them: students train without it
TEACHER_FIELDS = {f: f for f in ("T", "schedule", "beta_1", "beta_T", "prediction", "hidden", "blocks", "n_fourier",
                                  "fourier_scale", "ch", "res_blocks", "attn_lowest")}


@dataclass(frozen=True)
class Config(ddpm.Config):
    teacher: str = ""               # the DDPM run that teaches: a run id in the results folder or a run folder;
                                    # "" = the dataset's default DDPM with DEFAULT_TEACHER's settings, trained first
    start_steps: int = 128          # the teacher's DDIM steps the first stage halves
    final_steps: int = 1            # the last student's steps
    schedule: str = "cosine"
    prediction: str = "v"
    dropout: float = 0.0
    lr: float = 5e-4
    lr_schedule: str = "linear"
    grad_clip: float = 1.0
    ema: float | None = None
    steps: int = 14_000             # over all stages: 2,000 per halving with the 7 stages of 128 → 1

    def __post_init__(self):
        super().__post_init__()
        check_ranges(self, positive=("start_steps", "final_steps"))
        ratio = self.start_steps // self.final_steps
        if self.start_steps % self.final_steps or ratio < 2 or ratio & (ratio - 1):
            raise ValueError(f"start_steps / final_steps must be a power of two >= 2, got {self.start_steps} / "
                             f"{self.final_steps}")
        if self.start_steps > self.T:
            raise ValueError(f"start_steps ({self.start_steps}) cannot exceed the teacher's T ({self.T})")
        if self.prediction != "v":
            raise ValueError("progressive distillation needs a teacher that predicts v (its DDPM run with --set "
                             "prediction=v)")
        if self.conditional:
            raise ValueError("progressive distillation of a class-conditional teacher is not implemented")
        if self.steps < len(chain(self)):
            raise ValueError(f"steps ({self.steps}) must be at least one per stage ({len(chain(self))})")


def chain(cfg: Config) -> list[int]:
    """The students' steps, stage by stage: start/2, start/4, ..., final."""
    return [cfg.start_steps >> k for k in range(1, int(math.log2(cfg.start_steps // cfg.final_steps)) + 1)]


# The dataset's default DDPM in the paper's parameterisation: what `teacher = ""` trains first
DEFAULT_TEACHER = {"prediction": "v", "schedule": "cosine"}
IMAGE_CONFIG = dataclasses.replace(Config(), lr=1e-4, batch_size=128, steps=7 * 1000, ch=32, res_blocks=1,
                                   start_steps=128)


class PD(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("distilled",)       # the student of each stage, DDIM (η = 0) on its own steps
    SAMPLING_NETS = ("students",)
    TEACHER, TEACHER_FIELD = "ddpm", "teacher"   # the run this family builds on (`genbench.runner.link_teacher`)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape, self.chain = cfg, tuple(data_shape), chain(cfg)
        self.teacher = ddpm.make_net(cfg, self.data_shape).requires_grad_(False)  # the DDPM run's, see `from_teacher`
        self.students = nn.ModuleList(ddpm.make_net(cfg, self.data_shape) for _ in self.chain)
        alpha_bar = alpha_bars(ddpm.make_betas(cfg))
        # ᾱ_t at t = 0..T (ᾱ_0 = 1), and the teacher's grid 0 < τ_1 < ... < τ_start = T the stages halve
        self.register_buffer("alpha_bar", torch.cat([alpha_bar.new_ones(1), alpha_bar]))
        self.register_buffer("grid", torch.cat([torch.zeros(1, dtype=torch.long), respace(alpha_bar, cfg.start_steps)]))
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))  # saved, so a resumed run knows its stage

    @staticmethod
    def default_teacher(defaults: ddpm.Config) -> ddpm.Config:
        """The teacher trained when none is named: the dataset's default DDPM, predicting v on the cosine schedule."""
        return dataclasses.replace(defaults, **DEFAULT_TEACHER)

    @staticmethod
    def taught_by(cfg: Config, defaults: Config, teacher: ddpm.Config, name: str) -> Config:
        """This config with the teacher's run named and its network and schedule copied; a field of
        those set away from its default (`defaults`) to another value than the teacher's is an error."""
        if teacher.conditional:
            raise ValueError(f"teacher {name} is class-conditional; progressive distillation of one is not implemented")
        if teacher.prediction != "v":
            raise ValueError(f"teacher {name} predicts {teacher.prediction}; progressive distillation needs one "
                             "that predicts v (a DDPM run with --set prediction=v)")
        return dataclasses.replace(adopt(cfg, defaults, teacher, TEACHER_FIELDS, "teacher"), teacher=name)

    @property
    def stages(self) -> int:
        return len(self.chain)

    def players(self) -> dict[str, dict]:
        return {"students": dict(lr=self.cfg.lr)}  # one Adam; only the stage's student has gradients

    def num_params(self) -> int:
        """One student's: each row samples with one, the stages are copies of one network, and the
        frozen teacher is another run's (its own rows count it)."""
        return sum(p.numel() for p in self.students[0].parameters())

    def from_teacher(self, teacher: ddpm.DDPM, x_train: torch.Tensor) -> None:
        """Take the trained DDPM's (EMA) network as the first stage's teacher."""
        self.teacher.load_state_dict(teacher.eps_net.state_dict())

    def start_stage(self, k: int) -> None:
        """Stage k's student starts as its teacher (the DDPM's network, or stage k − 1's student)."""
        self.students[k].load_state_dict(self._teacher(k).state_dict())
        self.stage.fill_(k)

    def _teacher(self, k: int) -> nn.Module:
        return self.teacher if k == 0 else self.students[k - 1]

    def _ddim(self, net, z, t, s):
        """One DDIM (η = 0) step of `net` from time t to s < t: z_s = α_s x̂ + σ_s ε̂."""
        x_hat, eps_hat = v_to_x0_eps(net(z, t).view_as(z), z, self.alpha_bar[t])
        a_s = expand_like(self.alpha_bar[s], z)
        return a_s.sqrt() * x_hat + (1 - a_s).sqrt() * eps_hat

    def train_step(self, x, noise, regularise=True, y=None):
        """One step of Algorithm 2 at the current stage."""
        k = int(self.stage)
        stride = self.cfg.start_steps // self.chain[k]      # the student's step on the teacher's grid
        j = noise.randint(1, self.chain[k] + 1, x.shape[0]) * stride
        t, t_mid, s = self.grid[j], self.grid[j - stride // 2], self.grid[j - stride]
        z_t = q_sample(x, self.alpha_bar[t], noise.randn_like(x))
        with torch.no_grad():
            teacher = self._teacher(k)
            z_s = self._ddim(teacher, self._ddim(teacher, z_t, t, t_mid), t_mid, s)
        a_t, a_s = (expand_like(self.alpha_bar[i], x) for i in (t, s))
        ratio = ((1 - a_s) / (1 - a_t)).sqrt()               # σ_s / σ_t
        x_target = (z_s - ratio * z_t) / (a_s.sqrt() - ratio * a_t.sqrt())
        x_hat = v_to_x0_eps(self.students[k](z_t, t).view_as(x), z_t, self.alpha_bar[t])[0]
        weight = (a_t / (1 - a_t)).clamp(min=1)             # max(SNR_t, 1)
        loss = (weight * (x_target - x_hat).square()).mean()
        yield "students", loss, {"loss": loss}

    @classmethod
    def default_steps(cls, cfg) -> list[int]:
        """The settings a run is evaluated under by default: every stage's student."""
        return chain(cfg)

    @classmethod
    def resolve(cls, cfg, sampler=None, steps=None, **options):
        """A stage's student by its steps (default: the last stage), one network call per step."""
        name = check_sampler(cls, sampler, options)
        steps = steps or cfg.final_steps
        if steps not in chain(cfg):
            raise ValueError(f"PD students sample in {', '.join(map(str, chain(cfg)))} steps; got {steps}")
        return setting(name, steps, steps, options)

    @sampling
    def sample(self, n, generator=None, setting=None, on_step=None):
        """DDIM (η = 0) with the student of `setting.steps`; `on_step(t, ᾱ_t, x_t)` as DDPM's."""
        setting = setting or self.resolve(self.cfg)
        net, stride = self.students[self.chain.index(setting.steps)], self.cfg.start_steps // setting.steps
        z = torch.randn((n, *self.data_shape), generator=generator, device=self.grid.device)
        for j in range(self.cfg.start_steps, 0, -stride):
            t, s = self.grid[j:j + 1], self.grid[j - stride:j - stride + 1]  # (1,): one t for the batch
            if on_step:
                on_step(int(t), float(self.alpha_bar[t]), z)
            z = self._ddim(net, z, t, s)
        if on_step:
            on_step(0, 1.0, z)
        return z
