"""VAE: auto-encoding variational Bayes (Kingma & Welling 2014).

Gaussian encoder q(z|x) = N(μ_φ(x), diag σ_φ²(x)), Gaussian decoder p(x|z) = N(μ_θ(z), diag σ²)
with a learned per-dimension σ, prior N(0, I). Training maximises the ELBO (eq. 3):
E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I)), with the reparametrisation z = μ + σ ⊙ ε (eq. 10);
`kl_weight` β ≠ 1 weighs the KL term (β-VAE; latent diffusion's first stage, `models.ldm`).
Samples decode z ~ N(0, I) and return the decoder mean μ_θ(z), the usual way VAE samples are shown.
"""
import math
from dataclasses import dataclass
from math import prod

import torch
from torch import nn

from .family import check_ranges, one_step, sampling
from .nets import conv_encoder, dcgan_generator, is_image, mlp, spatial_decoder, spatial_encoder
from .recipe import Recipe


@dataclass(frozen=True)
class Config(Recipe):               # the standard recipe keeps no EMA (Recipe.ema = None)
    latent: int = 2
    hidden: int = 256                 # 2-D: MLP width and depth
    depth: int = 3
    ch: int = 32                      # images: base channels of the conv encoder/decoder
    factor: int = 0                   # images: 0 = a flat latent of `latent` numbers; f = 1, 2, 4, ...: a
                                      # spatial latent of `latent` channels at side/f (latent diffusion's)
    kl_weight: float = 1.0            # β on the KL term: 1 is the ELBO; small (β-VAE) makes the nearly
                                      # deterministic autoencoder latent diffusion's first stage uses
    sigma_init: float = 0.1           # the decoder's σ at the start (model units): below standardised data's unit
                                      # scale, where σ = 1 already fits N(0, I) with z unused (posterior collapse)
    lr: float = 1e-3
    batch_size: int = 512
    steps: int = 8000

    def __post_init__(self):
        super().__post_init__()
        check_ranges(self, positive=("latent", "hidden", "depth", "ch", "sigma_init", "lr", "kl_weight"), non_negative=("factor",))
        if self.factor & (self.factor - 1):
            raise ValueError(f"factor must be 0 (a flat latent) or a power of two, got {self.factor}")


# images: a 16-d latent (2 cannot hold a digit) and a batch size and rate usual for conv VAEs
IMAGE_CONFIG = Config(latent=16, sigma_init=1.0, lr=5e-4, batch_size=128, steps=4000)


class VAE(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("decoder",)
    SAMPLING_NETS = ("decoder",)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape = cfg, tuple(data_shape)
        d = prod(self.data_shape)
        if cfg.factor and not (is_image(data_shape) and data_shape[-1] % cfg.factor == 0):
            raise ValueError(f"factor {cfg.factor} needs images whose side it divides; the data are {self.data_shape}")
        # flat (latent,) or spatial (latent, H/f, W/f): the encoder's 2·latent outputs are μ and log σ² (per position)
        self.latent_shape = (cfg.latent, *(side // cfg.factor for side in self.data_shape[1:])) if cfg.factor else (cfg.latent,)
        if cfg.factor:
            self.encoder = spatial_encoder(data_shape, 2 * cfg.latent, cfg.ch, cfg.factor)
            mean = spatial_decoder(cfg.latent, data_shape, cfg.ch, cfg.factor)
        elif is_image(data_shape):
            self.encoder = conv_encoder(data_shape, 2 * cfg.latent, cfg.ch, batch_norm=False)
            mean = dcgan_generator(cfg.latent, data_shape, cfg.ch, batch_norm=False, out_act=None)
        else:
            self.encoder = mlp(d, 2 * cfg.latent, cfg.hidden, cfg.depth)
            mean = mlp(cfg.latent, d, cfg.hidden, cfg.depth)
        self.decoder = GaussianDecoder(mean, d, cfg.sigma_init)

    def players(self) -> dict[str, dict]:
        """Each player (a child network) and its Adam settings; the training loop builds the optimisers."""
        return {"encoder": dict(lr=self.cfg.lr), "decoder": dict(lr=self.cfg.lr)}

    def negative_elbo(self, x, eps):
        """−ELBO per sample, in nats: Gaussian NLL of x under p(x|z) + KL(q(z|x) ‖ N(0, I)), with
        z = μ + σ ⊙ ε (eq. 10)."""
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        z = mu + (0.5 * log_var).exp() * eps
        x_hat, log_sigma = self.decoder(z).flatten(1), self.decoder.log_sigma
        nll = 0.5 * (((x.flatten(1) - x_hat) / log_sigma.exp()).square()
                     + 2 * log_sigma + math.log(2 * math.pi)).sum(1)
        kl = 0.5 * (mu.square() + log_var.exp() - 1 - log_var).flatten(1).sum(1)
        return nll.mean(), kl.mean()

    def train_step(self, x, noise, regularise=True, y=None):
        """One step on −ELBO (NLL + β·KL) for encoder and decoder together."""
        nll, kl = self.negative_elbo(x, noise.randn(x.shape[0], *self.latent_shape))
        loss = nll + self.cfg.kl_weight * kl
        yield ("encoder", "decoder"), loss, {"loss": loss, "nll": nll, "kl": kl}

    @classmethod
    def resolve(cls, cfg, sampler=None, steps=None, **options):
        return one_step(cls, sampler, steps, **options)

    @sampling
    def sample(self, n, generator=None, setting=None, on_step=None):
        z = torch.randn((n, *self.latent_shape), generator=generator, device=self.decoder.log_sigma.device)
        return self.decoder(z).view(n, *self.data_shape)


class GaussianDecoder(nn.Module):
    """p(x|z) = N(μ_θ(z), diag σ²): the mean network and a learned per-dimension log σ."""

    def __init__(self, mean: nn.Module, d: int, sigma_init: float = 1.0):
        super().__init__()
        self.mean, self.log_sigma = mean, nn.Parameter(torch.full((d,), math.log(sigma_init)))

    def forward(self, z):
        return self.mean(z)
