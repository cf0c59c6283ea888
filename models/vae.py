"""VAE: auto-encoding variational Bayes (Kingma & Welling 2014).

Gaussian encoder q(z|x) = N(μ_φ(x), diag σ_φ²(x)), Gaussian decoder p(x|z) = N(μ_θ(z), diag σ²)
with a learned per-dimension σ, prior N(0, I). Training maximises the ELBO (eq. 3):
E_q[log p(x|z)] − KL(q(z|x) ‖ N(0, I)), with the reparametrisation z = μ + σ ⊙ ε (eq. 10).
Samples decode z ~ N(0, I) and return the decoder mean μ_θ(z), the usual way VAE samples are shown.
"""
import math
from dataclasses import dataclass
from math import prod

import torch
from torch import nn

from .checks import check_ranges, check_sampler, sampling
from .nets import conv_encoder, dcgan_generator, is_image, mlp
from .recipe import Recipe, optimise


@dataclass(frozen=True)
class Config(Recipe):               # the standard recipe keeps no EMA (Recipe.ema = None)
    latent: int = 2
    hidden: int = 256                 # 2-D: MLP width and depth
    depth: int = 3
    ch: int = 32                      # images: base channels of the conv encoder/decoder
    lr: float = 1e-3
    batch_size: int = 512
    steps: int = 8000

    def __post_init__(self):
        super().__post_init__()
        check_ranges(self, positive=("latent", "hidden", "depth", "ch", "lr"))


# images: a 16-d latent (2 cannot hold a digit) and a batch size and rate usual for conv VAEs
IMAGE_CONFIG = Config(latent=16, lr=5e-4, batch_size=128, steps=4000)


class VAE(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("decoder",)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape = cfg, tuple(data_shape)
        d = prod(self.data_shape)
        if is_image(data_shape):
            self.encoder = conv_encoder(data_shape, 2 * cfg.latent, cfg.ch, batch_norm=False)
            self.decoder = dcgan_generator(cfg.latent, data_shape, cfg.ch, batch_norm=False, out_act=None)
        else:
            self.encoder = mlp(d, 2 * cfg.latent, cfg.hidden, cfg.depth)
            self.decoder = mlp(cfg.latent, d, cfg.hidden, cfg.depth)
        self.log_sigma = nn.Parameter(torch.zeros(d))  # decoder noise scale, learned
        self.opts = {"vae": torch.optim.Adam(self.parameters(), lr=cfg.lr)}

    def negative_elbo(self, x):
        """−ELBO per sample, in nats: Gaussian NLL of x under p(x|z) + KL(q(z|x) ‖ N(0, I))."""
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        z = mu + (0.5 * log_var).exp() * torch.randn_like(mu)
        x_hat = self.decoder(z).flatten(1)
        nll = 0.5 * (((x.flatten(1) - x_hat) / self.log_sigma.exp()).square()
                     + 2 * self.log_sigma + math.log(2 * math.pi)).sum(1)
        kl = 0.5 * (mu.square() + log_var.exp() - 1 - log_var).sum(1)
        return nll.mean(), kl.mean()

    def train_step(self, x, y=None, regularise=True):
        nll, kl = self.negative_elbo(x)
        optimise(self.opts["vae"], nll + kl, self.cfg)
        return {"loss": (nll + kl).item(), "nll": nll.item(), "kl": kl.item()}

    @sampling
    def sample(self, n, generator=None, steps=None, sampler=None, eta=0.0):
        self.nfe(steps, sampler, eta)
        z = torch.randn((n, self.cfg.latent), generator=generator, device=self.log_sigma.device)
        return self.decoder(z).view(n, *self.data_shape)

    def nfe(self, steps=None, sampler=None, eta=0.0):
        check_sampler(type(self), sampler, eta)
        if steps not in (None, 1):
            raise ValueError(f"{type(self).__name__} samples in one step; got steps={steps}")
        return 1
