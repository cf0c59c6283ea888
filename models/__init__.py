"""The model registry: name -> family class. Every family follows the contract in the README's "Adding a model"."""
from .ddgan import DDGAN
from .ddpm import DDPM
from .gan import GAN
from .ldm import LDM
from .pd import PD
from .vae import VAE

MODELS = {"vae": VAE, "gan": GAN, "ddpm": DDPM, "ddgan": DDGAN, "pd": PD, "ldm": LDM}


def default_config(name: str, data_shape):
    """The family's tuned defaults for this kind of data: its Config() for 2-D points, its
    IMAGE_CONFIG for (C, H, W) images."""
    family = MODELS[name]
    return family.IMAGE_CONFIG if len(data_shape) == 3 else family.Config()
