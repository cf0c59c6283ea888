"""DDPM: denoising diffusion probabilistic models (Ho et al. 2020).

Training is Algorithm 1 (L_simple, eq. 14): ‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)‖², t ~ U{1..T}.
With `prediction="v"` the network predicts v = α_t ε − σ_t x_0 instead (α_t = √ᾱ_t, σ_t = √(1−ᾱ_t);
Salimans & Ho 2022, §4 and App. D), trained on ‖v − v̂‖² (their "SNR+1" weighting of the x-loss):
x̂_0 = α_t x_t − σ_t v̂ stays defined where ᾱ_t → 0, which progressive distillation's few-step
students need (`models.pd`); the samplers read ε̂ = σ_t x_t + α_t v̂.
Sampling is Algorithm 2 (ancestral, σ_t² = β_t, `models.diffusion.ddpm_sample`), or DDIM (eq. 12,
`sampler="ddim"`, stochasticity η, `models.diffusion.ddim_sample`) on the same ε-network; both run
on any evenly spaced sub-sequence of the T training steps. On images the ancestral sampler clips
x̂_0 to [−1, 1] as Ho et al.'s code does; DDIM does not, as the DDIM paper's code does not.

With `conditional=True` it learns p(x | y) for the dataset's classes, the class replaced by a null
token ∅ with probability p_uncond (Ho & Salimans 2021, Algorithm 1), and samples with
classifier-free guidance w (their Algorithm 2 on either sampler): ε̃ = (1 + w) ε(x_t, y) − w ε(x_t, ∅),
both calls in one batch of 2n rows (2 NFE a step; w = 0 skips the unconditional call), labels
drawn uniformly over the classes so that coverage metrics stay comparable.
"""
from dataclasses import dataclass
from math import prod

import torch
from torch import nn

from .family import check_ranges, check_sampler, sampling, setting
from .diffusion import alpha_bars, cosine_betas, ddim_sample, ddpm_sample, linear_betas, q_sample, v_to_x0_eps, velocity
from .nets import TimeMLP, UNet, is_image
from .recipe import Recipe


PREDICTIONS = ("eps", "v")


@dataclass(frozen=True)
class Config(Recipe):
    T: int = 1000
    schedule: str = "linear"        # "linear" (DDPM) or "cosine" (Improved DDPM)
    prediction: str = "eps"         # what the network predicts: "eps" (DDPM) or "v" (Salimans & Ho 2022)
    beta_1: float = 1e-4
    beta_T: float = 0.02
    hidden: int = 128               # 2-D: residual MLP width, blocks, random Fourier features of x_t
    blocks: int = 3
    n_fourier: int = 64
    fourier_scale: float = 1.0
    ch: int = 64                    # images: U-Net base channels, residual blocks per resolution, dropout
    res_blocks: int = 2
    attn_lowest: bool = True        # attention also at the lowest resolution (8 px digits have no 16×16;
                                    # Ho's CIFAR-10 net: at 16×16 and the middle only)
    dropout: float = 0.1
    conditional: bool = False       # learn p(x | class) for classifier-free guidance (Ho & Salimans 2021)
    p_uncond: float = 0.1           # probability of training a batch element on the null class ∅
    lr: float = 1e-3                # paper: 2e-4 for a U-Net on CIFAR-10; a small MLP tolerates more
    batch_size: int = 512
    steps: int = 4000
    ema: float | None = 0.995       # paper: 0.9999 over 800k steps; this run is 100x shorter

    def __post_init__(self):
        super().__post_init__()
        check_ranges(self, positive=("T", "beta_1", "beta_T", "hidden", "blocks", "ch", "res_blocks", "lr",
                                     "fourier_scale"),
                     non_negative=("n_fourier",), fraction=("dropout", "p_uncond"))
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {self.prediction!r}")


def make_betas(cfg: Config) -> torch.Tensor:
    if cfg.schedule == "linear":
        return linear_betas(cfg.T, cfg.beta_1, cfg.beta_T)
    if cfg.schedule == "cosine":
        return cosine_betas(cfg.T)
    raise ValueError(f"unknown schedule {cfg.schedule!r}; choose linear or cosine")


def make_net(cfg: Config, data_shape: tuple, num_classes: int | None = None) -> nn.Module:
    """The network of (x_t, t[, class]): a U-Net for images, a residual MLP for points."""
    if is_image(data_shape):
        return UNet(data_shape, cfg.ch, cfg.res_blocks, cfg.dropout, attn_lowest=cfg.attn_lowest,
                    num_classes=num_classes)
    d = prod(data_shape)
    return TimeMLP(d, d, cfg.hidden, cfg.blocks, n_fourier=cfg.n_fourier, fourier_scale=cfg.fourier_scale,
                   num_classes=num_classes)


# images: the paper's optimiser (Adam 2e-4, dropout 0.1) on a U-Net narrowed for a CPU and for
# 8-32 px images, batch 128, and an EMA decay suited to a run of thousands (not 800k) of steps
IMAGE_CONFIG = Config(lr=2e-4, batch_size=128, steps=3000, ema=0.999, ch=32, res_blocks=1)


class DDPM(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("ancestral", "ddim")  # Algorithm 2; DDIM (Song et al. 2021) on the same ε-network
    SAMPLING_NETS = ("eps_net",)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape = cfg, tuple(data_shape)
        if cfg.conditional and not num_classes:
            raise ValueError("conditional=true, but the data have no classes to condition on (mixtures' modes, "
                             "digits and stacked codes do)")
        self.num_classes = num_classes if cfg.conditional else None
        self.eps_net = make_net(cfg, self.data_shape, self.num_classes)
        self.register_buffer("betas", make_betas(cfg))
        self.register_buffer("alpha_bar", alpha_bars(self.betas))
        self.bounded = is_image(data_shape)  # images live in [−1, 1] (x̂_0 is clipped there); points do not

    def players(self) -> dict[str, dict]:
        """Each player (a child network) and its Adam settings; the training loop builds the optimisers."""
        return {"eps_net": dict(lr=self.cfg.lr)}

    def _net(self, x_t, t, y=None):
        return (self.eps_net(x_t, t, y=y) if self.num_classes else self.eps_net(x_t, t)).view_as(x_t)

    def eps_hat(self, x_t, t, y=None):
        """ε̂(x_t, t[, class y]); y = num_classes is the null class ∅."""
        out = self._net(x_t, t, y)
        if self.cfg.prediction == "eps":
            return out
        return v_to_x0_eps(out, x_t, self.alpha_bar[t - 1])[1]

    def guided_eps(self, y, w: float):
        """ε̃(x_t, t) = (1 + w) ε̂(x_t, t, y) − w ε̂(x_t, t, ∅) (Ho & Salimans 2021, eq. 6), both in one call."""
        if w == 0:
            return lambda x_t, t: self.eps_hat(x_t, t, y)
        null = torch.full_like(y, self.num_classes)

        def eps(x_t, t):
            cond, uncond = self.eps_hat(torch.cat([x_t, x_t]), t, torch.cat([y, null])).chunk(2)
            return (1 + w) * cond - w * uncond
        return eps

    def train_step(self, x, noise, regularise=True, y=None):
        """One step of Algorithm 1 (on v with prediction="v"; conditional: the class dropped to ∅
        with probability p_uncond, Ho & Salimans' Algorithm 1)."""
        t = noise.randint(1, self.cfg.T + 1, x.shape[0])
        eps = noise.randn_like(x)
        alpha_bar = self.alpha_bar[t - 1]
        x_t = q_sample(x, alpha_bar, eps)
        target = eps if self.cfg.prediction == "eps" else velocity(x, eps, alpha_bar)
        if self.num_classes:
            y = torch.where(noise.rand(x.shape[0]) < self.cfg.p_uncond, self.num_classes, y)
        loss = (target - self._net(x_t, t, y)).square().mean()
        yield "eps_net", loss, {"loss": loss}

    @classmethod
    def resolve(cls, cfg, sampler=None, steps=None, **options):
        """Any evenly spaced sub-sequence of the T steps, one ε-network call per step (two with guidance)."""
        name = check_sampler(cls, sampler, options, guided=cfg.conditional)
        if steps is not None and not 1 <= steps <= cfg.T:
            raise ValueError(f"DDPM sampler steps must be in 1..{cfg.T}; got {steps}")
        steps = steps or cfg.T
        return setting(name, steps, steps * (2 if options.get("guidance") else 1), options)

    @sampling
    def sample(self, n, generator=None, setting=None, on_step=None):
        """`on_step(t, ᾱ_t, x_t)` sees the chain's state before each step (the report's trajectory)."""
        setting, device = setting or self.resolve(self.cfg), self.betas.device
        eps = self.eps_hat
        if self.num_classes:  # classes uniformly, before x_T: the same draws whatever the guidance
            eps = self.guided_eps(torch.randint(self.num_classes, (n,), generator=generator, device=device),
                                  setting.guidance)
        x_T = torch.randn((n, *self.data_shape), generator=generator, device=device)
        if setting.sampler == "ddim":
            return ddim_sample(eps, x_T, self.betas, setting.steps, setting.eta, generator, on_step)
        # images live in [−1, 1]: clip x̂_0 as Ho et al.'s code does; 2-D data has no bounds
        return ddpm_sample(eps, x_T, self.betas, setting.steps, generator, clip_x0=self.bounded,
                           on_step=on_step)
