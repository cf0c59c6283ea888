"""The model registry: name -> family class. Every family follows the contract in DESIGN.md §2."""
from .ddgan import DDGAN
from .ddpm import DDPM
from .gan import GAN
from .vae import VAE

MODELS = {"vae": VAE, "gan": GAN, "ddpm": DDPM, "ddgan": DDGAN}
