"""genbench: VAE, GAN, DDPM and DDGAN on one harness: sample quality, mode coverage, sampling speed."""
__version__ = "0.1.0"
