"""GAN: the standard non-saturating GAN (Goodfellow et al. 2014, §3).

D maximises log D(x) + log(1 − D(G(z))); G maximises log D(G(z)) (the non-saturating
variant of the minimax loss). One D step then one G step per batch; nothing is added
against mode collapse: this is the baseline of the trilemma.
"""
from dataclasses import dataclass
from math import prod

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_ranges, check_sampler, sampling
from .nets import conv_encoder, dcgan_generator, encoder_mlp, is_image, mlp


@dataclass(frozen=True)
class Config:
    nz: int = 2
    hidden: int = 256                 # 2-D: MLP width and depth
    depth: int = 3
    ch: int = 32                      # images: DCGAN base channels
    lr: float = 1e-4
    adam_beta1: float = 0.5         # DCGAN's Adam setting
    adam_beta2: float = 0.999
    batch_size: int = 512
    steps: int = 8000
    n_freq: int = 6                 # Fourier features of D's input (see nets.FourierFeatures)
    ema: float | None = None

    def __post_init__(self):
        check_ranges(self, positive=("nz", "hidden", "depth", "ch", "lr", "batch_size", "steps"),
                     non_negative=("n_freq",), fraction=("ema",))


# images: DCGAN's recipe (Adam 2e-4, β1 0.5, batch 128) with a 64-d latent
IMAGE_CONFIG = Config(nz=64, lr=2e-4, batch_size=128, steps=4000)


class GAN(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("generator",)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape = cfg, tuple(data_shape)
        d = prod(self.data_shape)
        if is_image(data_shape):  # DCGAN
            self.generator = dcgan_generator(cfg.nz, data_shape, cfg.ch)
            self.discriminator = conv_encoder(data_shape, 1, cfg.ch)
        else:
            self.generator = mlp(cfg.nz, d, cfg.hidden, cfg.depth, act=nn.ReLU)
            self.discriminator = encoder_mlp(d, 1, cfg.hidden, cfg.depth, cfg.n_freq, act=lambda: nn.LeakyReLU(0.2))
        adam = dict(lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2))
        self.opts = {"generator": torch.optim.Adam(self.generator.parameters(), **adam),
                     "discriminator": torch.optim.Adam(self.discriminator.parameters(), **adam)}

    def train_step(self, x, y=None):
        opt_g, opt_d = self.opts["generator"], self.opts["discriminator"]
        z = torch.randn(x.shape[0], self.cfg.nz, device=x.device)
        with torch.no_grad():
            fake = self.generator(z)
        # −log D(x) − log(1 − D(G(z))), with D = sigmoid(logit)
        loss_d = F.softplus(-self.discriminator(x)).mean() + F.softplus(self.discriminator(fake.view_as(x))).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        z = torch.randn(x.shape[0], self.cfg.nz, device=x.device)
        self.discriminator.requires_grad_(False)
        loss_g = F.softplus(-self.discriminator(self.generator(z).view_as(x))).mean()  # −log D(G(z))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        self.discriminator.requires_grad_(True)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    @sampling
    def sample(self, n, generator=None, steps=None, sampler=None, eta=0.0):
        self.nfe(steps, sampler, eta)
        device = next(self.generator.parameters()).device
        z = torch.randn((n, self.cfg.nz), generator=generator, device=device)
        return self.generator(z).view(n, *self.data_shape)

    def nfe(self, steps=None, sampler=None, eta=0.0):
        check_sampler(type(self), sampler, eta)
        if steps not in (None, 1):
            raise ValueError(f"{type(self).__name__} samples in one step; got steps={steps}")
        return 1
