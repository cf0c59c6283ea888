"""Latent diffusion (Rombach et al. 2022): DDPM in the latent space of a trained autoencoder.

First stage: a VAE run of the same dataset (`--set autoencoder=<run_id>` or a run folder; unset:
the dataset's default VAE with a small KL weight, `DEFAULT_AUTOENCODER`, trained first), frozen;
its encoder mean E(x) is the latent, as the paper's KL-regularised autoencoder's (§3). Second
stage: DDPM (Algorithm 1; ancestral or DDIM sampling) on z = E(x)/σ, σ the standard deviation of
the training latents (the paper's rescaling by 1/σ, App. G; estimated here on the first 2,048
training samples rather than one batch, so all data-parallel ranks agree). Sampling decodes:
x = D(σ z_0), the decoder mean, so NFE = the sampler's steps + 1 decoder call, and the timing
covers both. Class-conditional and guided as DDPM (`--set conditional=true`, `--guidance`).

The latent is the autoencoder's: a flat vector of `ae_latent` numbers (genbench's default VAE, a
DCGAN-shaped conv encoder), diffused by DDPM's residual MLP; or, from a VAE run with `factor` f,
the paper's spatial latent, `ae_latent` channels at side/f, diffused by DDPM's U-Net. Departure:
the default is the flat latent (measured first; see the README for both). On 2-D data the latent
is as large as the data, so latent diffusion saves nothing there; it runs, for the contract's sake.
The reverse chain lives in latent space, so the report's trajectory figure does not show it.
"""
import dataclasses
from dataclasses import dataclass

import torch

from . import ddpm, vae
from .family import adopt, sampling

# the autoencoder's fields, as this config names them (the DDPM's own `hidden` and `ch` are taken)
AE_FIELDS = {"latent": "ae_latent", "hidden": "ae_hidden", "depth": "ae_depth", "ch": "ae_ch", "factor": "ae_factor"}
SCALE_SAMPLES = 2048


@dataclass(frozen=True)
class Config(ddpm.Config):
    autoencoder: str = ""           # the VAE run: a run id in the results folder or a run folder; "" = the
                                    # dataset's default VAE with DEFAULT_AUTOENCODER's settings, trained first
    ae_latent: int = 2              # copied from the autoencoder's run (`genbench.runner.link_teacher`)
    ae_hidden: int = 256
    ae_depth: int = 3
    ae_ch: int = 32
    ae_factor: int = 0              # 0: a flat latent (the residual MLP diffuses it); f: a spatial latent (a U-Net)


# a nearly deterministic autoencoder (the paper's KL weight is ~1e-6 beside perceptual and GAN
# losses; beside this VAE's Gaussian likelihood in nats a weight of 0.01 keeps the latent near N(0, I))
DEFAULT_AUTOENCODER = {"kl_weight": 0.01}
# a spatial latent is diffused by the U-Net of pixel DDPM's image recipe (ch, res_blocks)
IMAGE_CONFIG = dataclasses.replace(Config(), ae_latent=vae.IMAGE_CONFIG.latent, ae_ch=vae.IMAGE_CONFIG.ch,
                                   batch_size=256, steps=4000, ema=0.999, lr=1e-3, ch=ddpm.IMAGE_CONFIG.ch,
                                   res_blocks=ddpm.IMAGE_CONFIG.res_blocks)


def autoencoder_config(cfg: Config) -> vae.Config:
    return dataclasses.replace(vae.IMAGE_CONFIG, **{f: getattr(cfg, mine) for f, mine in AE_FIELDS.items()})


class LDM(ddpm.DDPM):
    Config, IMAGE_CONFIG = Config, IMAGE_CONFIG
    SAMPLING_NETS = ("eps_net",)
    TEACHER, TEACHER_FIELD = "vae", "autoencoder"   # the run this family builds on (`genbench.runner.link_teacher`)

    def __init__(self, cfg: Config, data_shape, num_classes=None):
        autoencoder = vae.VAE(autoencoder_config(cfg), data_shape)
        super().__init__(cfg, autoencoder.latent_shape, num_classes)   # the DDPM, on latent vectors or maps
        self.image_shape = tuple(data_shape)
        self.bounded = False  # latents have unit spread, not the images' [−1, 1]: x̂_0 is not clipped
        self.encoder = autoencoder.encoder.requires_grad_(False)
        self.decoder = autoencoder.decoder.requires_grad_(False)
        self.register_buffer("scale", torch.ones(()))  # 1/σ of the training latents, set by `from_teacher`

    @staticmethod
    def default_teacher(defaults: vae.Config) -> vae.Config:
        return dataclasses.replace(defaults, **DEFAULT_AUTOENCODER)

    @staticmethod
    def taught_by(cfg: Config, defaults: Config, autoencoder: vae.Config, name: str) -> Config:
        """This config with the autoencoder's run named and its network's fields copied."""
        return dataclasses.replace(adopt(cfg, defaults, autoencoder, AE_FIELDS, "autoencoder"), autoencoder=name)

    def from_teacher(self, autoencoder: vae.VAE, x_train: torch.Tensor) -> None:
        """Take the trained VAE's encoder and decoder, and the latents' scale 1/σ."""
        self.encoder.load_state_dict(autoencoder.encoder.state_dict())
        self.decoder.load_state_dict(autoencoder.decoder.state_dict())
        self.scale.fill_(1.0)
        with torch.no_grad():
            self.scale.fill_(1 / self.encode(x_train[:SCALE_SAMPLES].to(self.scale.device)).std())

    def encode(self, x):
        return self.encoder(x).chunk(2, dim=1)[0] * self.scale    # the posterior mean, rescaled

    def train_step(self, x, noise, regularise=True, y=None):
        """DDPM's Algorithm 1 on the frozen encoder's latents."""
        with torch.no_grad():
            z = self.encode(x)
        yield from super().train_step(z, noise, regularise, y)

    @classmethod
    def resolve(cls, cfg, sampler=None, steps=None, **options):
        """DDPM's settings in latent space, plus the decoder's one call."""
        setting = super().resolve(cfg, sampler, steps, **options)
        return dataclasses.replace(setting, nfe=setting.nfe + 1)

    @sampling
    def sample(self, n, generator=None, setting=None, on_step=None):
        """DDPM's sampler in latent space (its chain is not reported: it is not in data space), then the decoder."""
        return self.decoder(super().sample(n, generator, setting) / self.scale).view(n, *self.image_shape)
