"""Shared building blocks: MLPs and sinusoidal time embeddings for 2-D data."""
import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer positional encoding of (possibly fractional) timesteps t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class FourierFeatures(nn.Module):
    """γ(x) = [x, sin(2^k π x), cos(2^k π x)] for k < L (NeRF's positional encoding).

    An MLP fed raw 2-D coordinates is biased towards smooth functions (Tancik et al. 2020) and
    cannot resolve mixtures whose modes are 40 σ apart; these features let it.
    """

    def __init__(self, d_in: int, n_freq: int):
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(n_freq), persistent=False)
        self.d_out = d_in * (1 + 2 * n_freq)

    def forward(self, x):
        x = x.flatten(1)
        angles = (x[:, :, None] * self.freqs).flatten(1)  # (B, d·L)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)


def encoder_mlp(d_in: int, d_out: int, hidden: int, depth: int, n_freq: int, act=nn.SiLU) -> nn.Sequential:
    """An MLP that reads data-space input through Fourier features (none when n_freq = 0)."""
    ff = FourierFeatures(d_in, n_freq)
    return nn.Sequential(ff, mlp(ff.d_out, d_out, hidden, depth, act))


def mlp(d_in: int, d_out: int, hidden: int, depth: int, act=nn.SiLU) -> nn.Sequential:
    """Plain MLP with `depth` hidden layers."""
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act()]
        d = hidden
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """Residual MLP block; the conditioning vector is added before the non-linearity.

    No normalisation layer: LayerNorm of a projection of 2-D input keeps only its direction and
    throws away its magnitude, which the networks here need.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden, hidden)
        self.cond = nn.Linear(hidden, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, h, c):
        return h + self.fc2(nn.functional.silu(self.fc1(h) + self.cond(c)))


class TimeMLP(nn.Module):
    """f(x, t[, z]) for 2-D diffusion: residual MLP conditioned on a sinusoidal embedding of t.

    Used as DDPM's ε-network and as DDGAN's generator (with latent z) and discriminator
    (whose extra input x_{t+1} is concatenated to x_t by the caller).
    """

    def __init__(self, d_in: int, d_out: int, hidden: int = 128, blocks: int = 3,
                 d_z: int = 0, t_scale: float = 1.0, n_freq: int = 0):
        super().__init__()
        self.hidden, self.t_scale = hidden, t_scale
        ff = FourierFeatures(d_in, n_freq)
        self.inp = nn.Sequential(ff, nn.Linear(ff.d_out, hidden))
        self.t_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.z_mlp = mlp(d_z, hidden, hidden, 1) if d_z else None
        self.blocks = nn.ModuleList(ResBlock(hidden) for _ in range(blocks))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, d_out))

    def forward(self, x, t, z=None):
        # t_scale maps small integer step counts (DDGAN's T=4) onto the embedding's frequency range
        c = self.t_mlp(sinusoidal_embedding(t * self.t_scale, self.hidden))
        if self.z_mlp is not None:
            c = c + self.z_mlp(z)  # z modulates every block, like DDGAN's adaptive group norm
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, c)
        return self.out(h)
