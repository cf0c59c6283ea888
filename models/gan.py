"""GAN: the standard non-saturating GAN (Goodfellow et al. 2014, §3), optionally packed (PacGAN).

D maximises log D(x) + log(1 − D(G(z))); G maximises log D(G(z)) (the non-saturating
variant of the minimax loss). One D step then one G step per batch. With `pack = m` > 1 the
discriminator reads m samples concatenated and judges them jointly (PacGAN, Lin et al. 2018, §3):
real packs hold m real samples, fake packs m generated ones, which penalises a generator that
puts many samples in one mode. pack = 1 is the plain GAN, with nothing against mode collapse.
"""
from dataclasses import dataclass
from math import prod

import torch
import torch.nn.functional as F
from torch import nn

from .family import check_ranges, frozen, one_step, sampling
from .nets import conv_encoder, dcgan_generator, encoder_mlp, is_image, mlp, pacgan_networks
from .recipe import Recipe


@dataclass(frozen=True)
class Config(Recipe):
    nz: int = 2
    hidden: int = 256                 # 2-D: MLP width and depth of G and D
    depth: int = 3
    ch: int = 32                      # images: DCGAN base channels
    pack: int = 1                     # PacGAN's m: samples D judges jointly (1 = plain GAN)
    arch: str = "mlp"                 # 2-D: "mlp" (the default recipe's) or "pacgan" (PacGAN's code: BN G, maxout D)
    lr: float = 1e-3
    adam_beta1: float = 0.5
    adam_beta2: float = 0.9
    n_fourier: int = 0                # random Fourier features of D's input (nets.FourierFeatures); none
    fourier_scale: float = 1.0
    batch_size: int = 256
    steps: int = 6000
    lr_schedule: str = "cosine"

    def __post_init__(self):
        super().__post_init__()
        check_ranges(self, positive=("nz", "hidden", "depth", "ch", "pack", "lr", "fourier_scale"),
                     non_negative=("n_fourier",))
        if self.batch_size % self.pack:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of pack ({self.pack})")
        if self.arch not in ("mlp", "pacgan"):
            raise ValueError(f"arch must be mlp or pacgan, got {self.arch!r}")


# images: DCGAN's recipe (Adam 2e-4, β 0.5/0.999, constant rate, batch 128) with a 64-d latent
IMAGE_CONFIG = Config(nz=64, lr=2e-4, adam_beta2=0.999, lr_schedule="constant", batch_size=128, steps=4000)


class GAN(nn.Module):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLERS = ("generator",)
    SAMPLING_NETS = ("generator",)    # what samples, and what an EMA would average

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        super().__init__()
        self.cfg, self.data_shape = cfg, tuple(data_shape)
        d = prod(self.data_shape)
        if is_image(data_shape):  # DCGAN; a pack stacks its m images as channels (PacGAN §3)
            self.generator = dcgan_generator(cfg.nz, data_shape, cfg.ch)
            packed = (data_shape[0] * cfg.pack, *data_shape[1:])
            self.discriminator = conv_encoder(packed, 1, cfg.ch)
        elif cfg.arch == "pacgan":
            self.generator, self.discriminator = pacgan_networks(cfg.nz, d, cfg.pack)
        else:  # a pack concatenates its m points
            self.generator = mlp(cfg.nz, d, cfg.hidden, cfg.depth, act=nn.ReLU)
            self.discriminator = encoder_mlp(d * cfg.pack, 1, cfg.hidden, cfg.depth, cfg.n_fourier, cfg.fourier_scale,
                                             act=lambda: nn.LeakyReLU(0.2))

    def players(self) -> dict[str, dict]:
        """Each player (a child network) and its Adam settings; the training loop builds the optimisers."""
        adam = dict(lr=self.cfg.lr, betas=(self.cfg.adam_beta1, self.cfg.adam_beta2))
        return {"discriminator": adam, "generator": adam}

    def d_logit(self, x):
        """D's logit for each pack of m consecutive samples: (B, ...) -> (B/m,)."""
        m = self.cfg.pack
        return self.discriminator(x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])).view(-1)

    def train_step(self, x, noise, regularise=True, y=None):
        """One D step, then one G step on the D just updated: yields (player, loss, logs) and the
        training loop steps that player's optimiser before the next loss is computed."""
        with torch.no_grad():
            fake = self.generator(noise.randn(x.shape[0], self.cfg.nz))
        # −log D(x) − log(1 − D(G(z))), with D = sigmoid(logit)
        loss_d = F.softplus(-self.d_logit(x)).mean() + F.softplus(self.d_logit(fake.view_as(x))).mean()
        yield "discriminator", loss_d, {"loss_d": loss_d}
        with frozen(self.discriminator):
            loss_g = F.softplus(-self.d_logit(self.generator(noise.randn(x.shape[0], self.cfg.nz)).view_as(x))).mean()
            yield "generator", loss_g, {"loss_g": loss_g}  # −log D(G(z))

    @classmethod
    def resolve(cls, cfg, sampler=None, steps=None, **options):
        return one_step(cls, sampler, steps, **options)

    @sampling
    def sample(self, n, generator=None, setting=None, on_step=None):
        device = next(self.generator.parameters()).device
        z = torch.randn((n, self.cfg.nz), generator=generator, device=device)
        return self.generator(z).view(n, *self.data_shape)
