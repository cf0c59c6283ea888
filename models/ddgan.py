"""DDGAN: denoising diffusion GAN (Xiao et al. 2022, "Tackling the generative learning trilemma").

T few, large denoising steps. Each reverse step is an implicit conditional GAN: the generator
predicts x̂_0 = G(x_{t+1}, t, z) and the fake x_t is drawn from the posterior q(x_t | x_{t+1}, x̂_0)
(eq. 7); a time-conditioned discriminator D(x_t, x_{t+1}, t) tells real pairs from fake ones with
the non-saturating loss (eqs. 4–5) plus the R1 penalty on real x_t. Schedule: discretised VP-SDE.

Networks: on images the paper's shapes (a U-Net G with z through adaptive group norm, a
downsampling D on the stacked pair that ends, as the official D does, in the minibatch std); on
2-D points the GAN family's MLPs conditioned on the step (`nets.StepMLP`), since the paper has no
2-D networks of its own.
"""
from dataclasses import dataclass
from math import prod

import torch
import torch.nn.functional as F
from torch import nn

from .family import check_ranges, check_sampler, eager, frozen, sampling, setting
from .diffusion import betas_from_alpha_bars, expand_like, posterior, q_sample, vp_alpha_bars
from .nets import StepMLP, TimeConvDiscriminator, UNet, is_image
from .recipe import Recipe


@dataclass(frozen=True)
class Config(Recipe):
    T: int = 4
    beta_min: float = 0.1
    beta_max: float = 20.0
    nz: int = 8                     # paper: 100 for CIFAR-10; 2-D data needs far fewer
    hidden: int = 256               # 2-D: width and depth of G's and D's MLPs (the GAN's)
    depth: int = 3
    ch: int = 64                    # images: base channels of the U-Net G, its blocks per resolution
    res_blocks: int = 2
    d_ch: int = 0                   # images: D's base channels; 0 = sized like the paper's, see `d_width`
    lr_g: float = 1e-3              # 2-D: the GAN's rate for MLPs (images: the paper's, IMAGE_CONFIG)
    lr_d: float = 1e-3
    adam_beta1: float = 0.5         # the paper's Adam betas
    adam_beta2: float = 0.9
    r1_gamma: float = 0.05          # the official code's default γ (its CIFAR-10 script: 0.02); on 2-D data it balances the modes (KL 0.2 -> 0.004)
    n_fourier: int = 0              # 2-D: random Fourier features of D's inputs (nets.FourierFeatures): none,
    fourier_scale: float = 1.0      # they let D snap G onto a few modes
    batch_size: int = 512           # 2-D: grid25 hq 0.910/0.899/0.915 at 256 -> 0.945/0.942/0.938 (seeds 0-2; README)
    steps: int = 20000
    lr_schedule: str = "cosine"     # the paper's cosine decay (its lr_min 1e-5 on CIFAR-10)
    ema: float | None = 0.999       # with warm-up; paper: 0.9999 over ~400k steps

    def __post_init__(self):
        super().__post_init__()
        check_ranges(self, positive=("T", "beta_min", "beta_max", "nz", "hidden", "depth", "ch", "res_blocks", "lr_g", "lr_d",
                                     "fourier_scale"),
                     non_negative=("r1_gamma", "n_fourier", "d_ch"))


# images: twice the paper's CIFAR-10 rates (1.6e-4, 1.25e-4), constant, for a run of a few thousand
# steps, not ~400k (measured on digits, seed 0: FD-domain 35.9 -> 22.9, the floor 9.5; README), Adam's
# β1 = 0, not the paper's 0.5 (momentum feeds the game's rotation: digits, seeds 0-2, 10 draws each,
# 2.65x -> 2.14x the floor; README), 3,000 steps (with β1 = 0 longer runs gain on every seed: 2.14x ->
# 1.90x; with 0.5 they did not), R1 γ = 0.02 every 15th step, unscaled (the official CIFAR-10 run's
# `--lazy_reg 15`), a narrower U-Net for a CPU
IMAGE_CONFIG = Config(nz=32, ch=32, res_blocks=1, lr_g=3.2e-4, lr_d=2.5e-4, adam_beta1=0.0, lr_schedule="constant",
                      r1_gamma=0.02, lazy_reg=15, batch_size=128, steps=3000, ema=0.999)
D_TO_G = 12.7 / 48.4                # parameters of the official CIFAR-10 D over G (NCSN++ G 48.4M, D 12.7M)


def d_width(pair_shape, t_scale: float, g_params: int) -> int:
    """The widest D (a multiple of 8 channels) with at most D_TO_G × G's parameters, counted on the
    meta device (nothing allocated): the paper's balance of D and G at any image size."""
    def fits(ch):
        with torch.device("meta"):
            d = TimeConvDiscriminator(pair_shape, ch, t_scale=t_scale)
        return sum(p.numel() for p in d.parameters()) <= D_TO_G * g_params

    lo, hi = 1, 64  # bisect on ch = 8k: the count grows with the width
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(8 * mid) else (lo, mid - 1)
    return 8 * lo


class DDGAN(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("posterior",)        # x̂_0 = G(x_{t+1}, t, z), then x_t ~ q(x_t | x_{t+1}, x̂_0)
    SAMPLING_NETS = ("generator",)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape = cfg, tuple(data_shape)
        d = prod(self.data_shape)
        if is_image(data_shape):  # D reads x_t and x_{t+1} stacked as channels
            t_scale = 1000 / cfg.T  # spread the few step indices over the embedding's frequencies
            self.generator = UNet(data_shape, cfg.ch, cfg.res_blocks, d_z=cfg.nz, t_scale=t_scale)
            pair_shape = (2 * data_shape[0], *data_shape[1:])
            g_params = sum(p.numel() for p in self.generator.parameters())
            d_ch = cfg.d_ch or d_width(pair_shape, t_scale, g_params)
            self.discriminator = TimeConvDiscriminator(pair_shape, d_ch, t_scale=t_scale)
        else:
            self.generator = StepMLP(d, d, cfg.hidden, cfg.depth, cfg.T, d_z=cfg.nz)
            self.discriminator = StepMLP(2 * d, 1, cfg.hidden, cfg.depth, cfg.T, act=lambda: nn.LeakyReLU(0.2),
                                         n_fourier=cfg.n_fourier, fourier_scale=cfg.fourier_scale)
        # ᾱ at t_0..t_T, renormalised so that ᾱ_0 = 1 (x_0 is the data), as DDGAN's code does
        ab = vp_alpha_bars(cfg.T, cfg.beta_min, cfg.beta_max)
        self.register_buffer("alpha_bar", ab / ab[0])
        self.register_buffer("betas", betas_from_alpha_bars(self.alpha_bar))  # β_1..β_T

    def players(self) -> dict[str, dict]:
        """Each player (a child network) and its Adam settings; the training loop builds the optimisers."""
        betas = (self.cfg.adam_beta1, self.cfg.adam_beta2)
        return {"discriminator": dict(lr=self.cfg.lr_d, betas=betas), "generator": dict(lr=self.cfg.lr_g, betas=betas)}

    def q_sample_pairs(self, x_0, t, noise):
        """(x_t, x_{t+1}) with x_t ~ q(x_t | x_0) and x_{t+1} ~ q(x_{t+1} | x_t); t in 0..T−1."""
        x_t = q_sample(x_0, self.alpha_bar[t], noise.randn_like(x_0))
        beta = expand_like(self.betas[t], x_0)
        x_tp1 = (1 - beta).sqrt() * x_t + beta.sqrt() * noise.randn_like(x_0)
        return x_t, x_tp1

    def posterior_sample(self, x_0, x_tp1, t, z):
        """x_t ~ q(x_t | x_{t+1}, x_0) (DDPM eqs. 6–7) with standard normal z, no noise at t = 0."""
        mean, var = posterior(x_0, x_tp1, self.betas[t], self.alpha_bar[t + 1], self.alpha_bar[t])
        return mean + expand_like(t > 0, x_0) * var.sqrt() * z

    def fake_x_t(self, x_tp1, t, z, z_post):
        """x_t ~ p_θ(x_t | x_{t+1}) (eq. 7): x̂_0 = G(x_{t+1}, t, z), then the posterior with noise z_post."""
        x_0_hat = self.generator(x_tp1, t, z).view_as(x_tp1)
        if is_image(self.data_shape):  # images: x̂_0 in [−1, 1] through tanh, as the official NCSN++ G ends
            x_0_hat = torch.tanh(x_0_hat)
        return self.posterior_sample(x_0_hat, x_tp1, t, z_post)

    def fake_from_noise(self, x_tp1, t, noise):
        return self.fake_x_t(x_tp1, t, noise.randn(x_tp1.shape[0], self.cfg.nz), noise.randn_like(x_tp1))

    def d_logit(self, x_t, x_tp1, t):
        return self.discriminator(torch.cat([x_t, x_tp1], dim=1), t).view(-1)  # (B, 2d) or (B, 2C, H, W)

    def train_step(self, x, noise, regularise=True, y=None):
        """One D step (non-saturating loss, + γ/2·R1 on real x_t when the loop says `regularise`:
        every lazy_reg-th step, unscaled, as the official code does), then one G step on the D
        just updated; each yields (player, loss, logs) for the training loop to step."""
        t = noise.randint(0, self.cfg.T, x.shape[0])
        x_t, x_tp1 = self.q_sample_pairs(x, t, noise)
        regularise = regularise and self.cfg.r1_gamma > 0
        x_t.requires_grad_(regularise)
        with eager(regularise):  # R1's double backward cannot go through a compiled D (--compile)
            d_real = self.d_logit(x_t, x_tp1, t)
        r1 = torch.zeros((), device=x.device)
        if regularise:
            grad, = torch.autograd.grad(d_real.sum(), x_t, create_graph=True)
            r1 = grad.flatten(1).square().sum(1).mean()
        with torch.no_grad():
            x_fake = self.fake_from_noise(x_tp1, t, noise)
        loss_d = F.softplus(-d_real).mean() + F.softplus(self.d_logit(x_fake, x_tp1, t)).mean()
        yield "discriminator", loss_d + self.cfg.r1_gamma / 2 * r1, {"loss_d": loss_d, "r1": r1}

        t = noise.randint(0, self.cfg.T, x.shape[0])
        _, x_tp1 = self.q_sample_pairs(x, t, noise)
        with frozen(self.discriminator):  # G's step needs no gradients for D's weights
            loss_g = F.softplus(-self.d_logit(self.fake_from_noise(x_tp1, t, noise), x_tp1, t)).mean()
            yield "generator", loss_g, {"loss_g": loss_g}

    @classmethod
    def resolve(cls, cfg, sampler=None, steps=None, **options):
        """The T steps the generator was trained on, one G call each."""
        name = check_sampler(cls, sampler, options)
        if steps not in (None, cfg.T):
            raise ValueError(f"DDGAN samples with its training T={cfg.T}; got steps={steps}")
        return setting(name, cfg.T, cfg.T, options)

    @sampling
    def sample(self, n, generator=None, setting=None, on_step=None):
        """The T-step chain from x_T ~ N(0, I); `on_step(t, ᾱ_t, x_t)` sees each state."""
        x = torch.randn((n, *self.data_shape), generator=generator, device=self.alpha_bar.device)
        randn = lambda *shape: torch.randn(shape, generator=generator, device=x.device)
        for i in reversed(range(self.cfg.T)):
            if on_step:
                on_step(i + 1, float(self.alpha_bar[i + 1]), x)
            t = torch.full((n,), i, device=x.device, dtype=torch.long)
            x = self.fake_x_t(x, t, randn(n, self.cfg.nz), randn(*x.shape))
        if on_step:
            on_step(0, 1.0, x)
        return x
