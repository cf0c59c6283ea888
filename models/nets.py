"""Shared building blocks: MLPs for 2-D data; U-Net, DCGAN and convolutional encoders for images.

Families pick their networks from the data shape (`is_image`), never from a user flag.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def is_image(shape) -> bool:
    return len(shape) == 3


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer positional encoding of (possibly fractional) timesteps t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class FourierFeatures(nn.Module):
    """γ(x) = [x, sin(2π Bx), cos(2π Bx)] with B ~ N(0, s²) of shape (n, d_in): the random Gaussian
    Fourier features of Tancik et al. 2020 (§6, "Gaussian" mapping).

    An MLP fed raw 2-D coordinates is biased towards smooth functions and blurs mixtures whose
    modes are tens of σ apart; these features let it resolve them. The frequencies are isotropic
    random draws (seeded with the run), so they favour no axis, spacing or offset of the data:
    NeRF's axis-aligned powers of two, used here before, had period 2 along each axis, exactly
    grid25's spacing, and gave every grid25 mode the same features. `scale` s is in the units of
    the standardised data the models see (see `genbench.data.Dataset.to_model`).
    """

    def __init__(self, d_in: int, n: int, scale: float = 1.0):
        super().__init__()
        self.register_buffer("B", scale * torch.randn(n, d_in))  # persistent: saved with the weights
        self.d_out = d_in + 2 * n

    def forward(self, x):
        x = x.flatten(1)
        angles = 2 * math.pi * x @ self.B.T  # (batch, n)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)


def encoder_mlp(d_in: int, d_out: int, hidden: int, depth: int, n_fourier: int, fourier_scale: float,
                act=nn.SiLU) -> nn.Sequential:
    """An MLP that reads data-space input through Fourier features (none when n_fourier = 0)."""
    ff = FourierFeatures(d_in, n_fourier, fourier_scale)
    return nn.Sequential(ff, mlp(ff.d_out, d_out, hidden, depth, act))


def mlp(d_in: int, d_out: int, hidden: int, depth: int, act=nn.SiLU) -> nn.Sequential:
    """Plain MLP with `depth` hidden layers."""
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act()]
        d = hidden
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class Maxout(nn.Module):
    """max over k linear pieces (Goodfellow et al. 2013): (B, d_in) -> (B, d_out)."""

    def __init__(self, d_in: int, d_out: int, pieces: int):
        super().__init__()
        self.d_out, self.pieces = d_out, pieces
        self.linear = nn.Linear(d_in, d_out * pieces)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.d_out, self.pieces).amax(2)


def pacgan_networks(nz: int, d: int, pack: int) -> tuple[nn.Module, nn.Module]:
    """The 2-D networks of PacGAN's code (Lin et al. 2018, synthetic experiments): G z → 4 × 400
    (linear without bias, batch norm, ReLU) → d; D reads m packed samples through 3 maxout layers
    of 200 units × 5 pieces, then a linear logit. Weights N(0, 0.02²), biases 0, and batch-norm
    running averages with momentum 0.05, as its code."""
    g_layers, width = [], nz
    for _ in range(4):
        g_layers += [nn.Linear(width, 400, bias=False), nn.BatchNorm1d(400, momentum=0.05), nn.ReLU()]
        width = 400
    generator = nn.Sequential(*g_layers, nn.Linear(400, d))
    discriminator = nn.Sequential(Maxout(d * pack, 200, 5), Maxout(200, 200, 5), Maxout(200, 200, 5), nn.Linear(200, 1))
    for m in [*generator.modules(), *discriminator.modules()]:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return generator, discriminator


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


def class_embedding(num_classes: int | None, dim: int) -> nn.Embedding | None:
    """A learned embedding of the class, added to the time embedding (as Dhariwal & Nichol's and
    classifier-free guidance's U-Nets do); index num_classes is the null token ∅ ("no class")."""
    return nn.Embedding(num_classes + 1, dim) if num_classes else None


class TimeMLP(nn.Module):
    """ε(x, t) for 2-D diffusion (DDPM's ε-network): a residual MLP conditioned on a sinusoidal
    embedding of t, reading x through random Fourier features."""

    def __init__(self, d_in: int, d_out: int, hidden: int = 128, blocks: int = 3,
                 n_fourier: int = 0, fourier_scale: float = 1.0, num_classes: int | None = None):
        super().__init__()
        self.hidden = hidden
        ff = FourierFeatures(d_in, n_fourier, fourier_scale)
        self.inp = nn.Sequential(ff, nn.Linear(ff.d_out, hidden))
        self.t_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.class_emb = class_embedding(num_classes, hidden)
        self.blocks = nn.ModuleList(ResBlock(hidden) for _ in range(blocks))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, d_out))

    def forward(self, x, t, y=None):
        c = self.t_mlp(sinusoidal_embedding(t, self.hidden))
        if self.class_emb is not None:
            c = c + self.class_emb(y)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, c)
        return self.out(h)


class StepMLP(nn.Module):
    """f(x, t[, z]) for DDGAN's few denoising steps on 2-D data: a plain MLP over [γ(x), onehot(t), z].

    DDGAN on 2-D is the GAN's networks conditioned on the step: with act=ReLU it is the GAN's G
    reading (x_{t+1}, t, z), with LeakyReLU(0.2) its D reading (x_t, x_{t+1}, t). Piecewise-linear
    nets draw the sharp, z-switched maps and decision regions that mixtures need; the smooth
    (SiLU) residual MLP of the diffusion ε-network left every sample between the modes. T is
    small, so t enters as one-hot (exact) rather than a sinusoidal embedding.
    """

    def __init__(self, d_in: int, d_out: int, hidden: int, depth: int, T: int, d_z: int = 0, act=nn.ReLU,
                 n_fourier: int = 0, fourier_scale: float = 1.0):
        super().__init__()
        self.T = T
        self.ff = FourierFeatures(d_in, n_fourier, fourier_scale)
        self.net = mlp(self.ff.d_out + T + d_z, d_out, hidden, depth, act)

    def forward(self, x, t, z=None):
        parts = [self.ff(x), F.one_hot(t, self.T).to(x.dtype)] + ([z] if z is not None else [])
        return self.net(torch.cat(parts, dim=1))


# ---------------------------------------------------------------- images

def resolutions(size: int) -> list[int]:
    """Feature-map sides of a network that halves `size` while it is even and above 4:
    32 -> [32, 16, 8, 4], 28 -> [28, 14, 7], 8 -> [8, 4]."""
    out = [size]
    while out[-1] % 2 == 0 and out[-1] > 4:
        out.append(out[-1] // 2)
    return out


def group_norm(ch: int, affine: bool = True) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch // 4), ch, affine=affine)


class AdaptiveGroupNorm(nn.Module):
    """Group norm whose scale and shift come from the latent code, as in DDGAN's generator
    (StyleGAN's AdaIN on groups): (1 + γ(w)) · GN(h) + β(w)."""

    def __init__(self, ch: int, d_w: int):
        super().__init__()
        self.norm = group_norm(ch, affine=False)
        self.style = nn.Linear(d_w, 2 * ch)

    def forward(self, h, w):
        gamma, beta = self.style(w)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(h) + beta


class UResBlock(nn.Module):
    """DDPM's residual block: GN, SiLU, conv, + time embedding, GN, SiLU, dropout, conv, + skip.
    With a latent (d_w > 0) both norms are adaptive."""

    def __init__(self, c_in: int, c_out: int, d_emb: int, dropout: float = 0.0, d_w: int = 0):
        super().__init__()
        self.norm1 = AdaptiveGroupNorm(c_in, d_w) if d_w else group_norm(c_in)
        self.norm2 = AdaptiveGroupNorm(c_out, d_w) if d_w else group_norm(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(d_emb, c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def _norm(self, norm, h, w):
        return norm(h, w) if isinstance(norm, AdaptiveGroupNorm) else norm(h)

    def forward(self, x, emb, w=None):
        h = self.conv1(F.silu(self._norm(self.norm1, x, w)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self._norm(self.norm2, h, w))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = group_norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x, emb=None, w=None):
        b, c, hgt, wid = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)  # 3 × (B, HW, C)
        h = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(h.transpose(1, 2).reshape(b, c, hgt, wid))


class UNet(nn.Module):
    """The DDPM U-Net (Ho et al. 2020, App. B; PixelCNN++ backbone): residual blocks at every
    resolution, self-attention at 16×16 and (unless attn_lowest=False, Ho's CIFAR-10 net) at the
    lowest resolution, a middle block with attention, skip connections, and a sinusoidal embedding of t.

    Channel multipliers follow DDPM's CIFAR-10 net, (1, 2, 2, 2) cut to the resolutions there are.
    With d_z > 0 it is DDGAN's generator: z goes through a mapping MLP and modulates every norm.
    """

    def __init__(self, shape, ch: int = 64, res_blocks: int = 2, dropout: float = 0.0,
                 d_z: int = 0, t_scale: float = 1.0, out_channels: int | None = None, attn_lowest: bool = True,
                 num_classes: int | None = None):
        super().__init__()
        c_in, size = shape[0], shape[-1]
        res = resolutions(size)
        mults = (1, 2, 2, 2, 2, 2)[:len(res)]
        d_emb, self.ch, self.t_scale = 4 * ch, ch, t_scale
        self.t_mlp = nn.Sequential(nn.Linear(ch, d_emb), nn.SiLU(), nn.Linear(d_emb, d_emb))
        self.class_emb = class_embedding(num_classes, d_emb)
        self.z_mlp = mlp(d_z, d_emb, d_emb, 2) if d_z else None
        d_w = d_emb if d_z else 0

        def stage(c_in, c_out, r):  # a residual block, with attention at the chosen resolutions
            attn = [SelfAttention(c_out)] if r == 16 or (attn_lowest and r == res[-1]) else []
            return nn.ModuleList([UResBlock(c_in, c_out, d_emb, dropout, d_w), *attn])

        self.conv_in = nn.Conv2d(c_in, ch, 3, padding=1)
        self.down, chans, c = nn.ModuleList(), [ch], ch
        for i, r in enumerate(res):
            for _ in range(res_blocks):
                self.down.append(stage(c, ch * mults[i], r))
                c = ch * mults[i]
                chans.append(c)
            if i < len(res) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                chans.append(c)
        self.mid = nn.ModuleList([UResBlock(c, c, d_emb, dropout, d_w), SelfAttention(c),
                                  UResBlock(c, c, d_emb, dropout, d_w)])
        self.up = nn.ModuleList()
        for i, r in reversed(list(enumerate(res))):
            for _ in range(res_blocks + 1):  # one more than on the way down: it also takes the downsampler's skip
                self.up.append(stage(c + chans.pop(), ch * mults[i], r))
                c = ch * mults[i]
            if i > 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(c, c, 3, padding=1)]))
        self.out = nn.Sequential(group_norm(c), nn.SiLU(), nn.Conv2d(c, out_channels or c_in, 3, padding=1))

    @staticmethod
    def _layers(layers, h, emb, w):
        for layer in layers:
            h = layer(h, emb, w) if isinstance(layer, (UResBlock, SelfAttention)) else layer(h)
        return h

    def forward(self, x, t, z=None, y=None):
        emb = self.t_mlp(sinusoidal_embedding(t * self.t_scale, self.ch))
        if self.class_emb is not None:
            emb = emb + self.class_emb(y)
        w = self.z_mlp(z) if self.z_mlp is not None else None
        h = self.conv_in(x)
        skips = [h]
        for layers in self.down:
            h = self._layers(layers, h, emb, w)
            skips.append(h)
        h = self._layers(self.mid, h, emb, w)
        for layers in self.up:
            if isinstance(layers[0], UResBlock):
                h = torch.cat([h, skips.pop()], dim=1)
            h = self._layers(layers, h, emb, w)
        return self.out(h)


class TimeConvDiscriminator(nn.Module):
    """DDGAN's discriminator for images (the official `Discriminator_small`): reads x_t and x_{t+1}
    stacked as channels, downsampling residual blocks with the time embedding added, then the
    minibatch standard deviation, a 3×3 conv, LeakyReLU(0.2), a sum over pixels and a linear logit.
    No batch or group norm; the minibatch std couples only the samples of a group of 4."""

    def __init__(self, shape, ch: int = 64, t_scale: float = 1.0):
        super().__init__()
        res = resolutions(shape[-1])
        self.ch, self.t_scale = ch, t_scale
        self.t_mlp = nn.Sequential(nn.Linear(ch, 4 * ch), nn.LeakyReLU(0.2), nn.Linear(4 * ch, 4 * ch))
        self.conv_in = nn.Conv2d(shape[0], ch, 3, padding=1)
        chans = [ch * m for m in (1, 2, 4, 4, 4, 4)[:len(res)]]
        self.blocks = nn.ModuleList(DownBlock(a, b, 4 * ch) for a, b in zip(chans, chans[1:]))
        self.final_conv = nn.Conv2d(chans[-1] + 1, chans[-1], 3, padding=1)
        self.head = nn.Linear(chans[-1], 1)

    def forward(self, x, t):
        emb = self.t_mlp(sinusoidal_embedding(t * self.t_scale, self.ch))
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h, emb)
        h = self.final_conv(minibatch_std(h))
        return self.head(F.leaky_relu(h, 0.2).sum((2, 3)))


def minibatch_std(h: torch.Tensor, group: int = 4) -> torch.Tensor:
    """h with one more channel: the standard deviation of each feature over a group of samples,
    averaged over features and pixels (Karras et al. 2018, §3; StyleGAN2's and DDGAN's D end with
    it, groups of 4). It lets D see a batch's variety, which a collapsing G lacks; sample i is in
    group i mod (B / group), as in the official code. The group shrinks to divide the batch."""
    b = h.shape[0]
    g = min(group, b)
    while b % g:
        g -= 1
    groups = h.view(g, -1, *h.shape[1:])
    # the biased variance over the group, written out: Tensor.var over dim 0 is ~30x slower on CPU
    var = (groups - groups.mean(0)).square().mean(0)
    std = var.add(1e-8).sqrt().mean((1, 2, 3))  # (B / g,)
    return torch.cat([h, std.repeat(g)[:, None, None, None].expand(-1, 1, *h.shape[2:])], dim=1)


class DownBlock(nn.Module):
    """Residual downsampling block of DDGAN's discriminator, time embedding added after conv1."""

    def __init__(self, c_in: int, c_out: int, d_emb: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(d_emb, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x, emb):
        h = self.conv1(F.leaky_relu(x, 0.2)) + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.leaky_relu(h, 0.2))
        h = F.avg_pool2d(h, 2)
        return (F.avg_pool2d(self.skip(x), 2) + h) / math.sqrt(2)


def dcgan_generator(nz: int, shape, ch: int = 64, batch_norm: bool = True, out_act=nn.Tanh) -> nn.Sequential:
    """DCGAN's generator (Radford et al. 2016): a linear map to the lowest resolution, then
    stride-2 transposed convolutions that halve the channels, BN + ReLU, tanh output."""
    res = resolutions(shape[-1])[::-1]
    chans = [ch * 2 ** i for i in range(len(res))][::-1]
    norm = nn.BatchNorm2d if batch_norm else nn.Identity
    layers = [nn.Linear(nz, chans[0] * res[0] ** 2), nn.Unflatten(1, (chans[0], res[0], res[0])),
              norm(chans[0]), nn.ReLU()]
    for a, b in zip(chans, chans[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), norm(b), nn.ReLU()]
    layers.append(nn.Conv2d(chans[-1], shape[0], 3, padding=1))
    return nn.Sequential(*layers, *([out_act()] if out_act else []))


def spatial_encoder(shape, c_out: int, ch: int, factor: int) -> nn.Sequential:
    """The encoder of a spatial latent (latent diffusion's first stage, Rombach et al. 2022 §3):
    (C, H, W) -> (c_out, H/f, W/f) by log2(f) stride-2 convolutions doubling the channels, SiLU."""
    chans = [ch * 2 ** i for i in range(factor.bit_length())]
    layers = [nn.Conv2d(shape[0], ch, 3, padding=1), nn.SiLU()]
    for a, b in zip(chans, chans[1:]):
        layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.SiLU(), nn.Conv2d(b, b, 3, padding=1), nn.SiLU()]
    return nn.Sequential(*layers, nn.Conv2d(chans[-1], c_out, 3, padding=1))


def spatial_decoder(c_in: int, shape, ch: int, factor: int) -> nn.Sequential:
    """The mirror of `spatial_encoder`: (c_in, H/f, W/f) -> (C, H, W), no output activation."""
    chans = [ch * 2 ** i for i in range(factor.bit_length())][::-1]
    layers = [nn.Conv2d(c_in, chans[0], 3, padding=1), nn.SiLU()]
    for a, b in zip(chans, chans[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.SiLU(), nn.Conv2d(b, b, 3, padding=1), nn.SiLU()]
    return nn.Sequential(*layers, nn.Conv2d(chans[-1], shape[0], 3, padding=1))


def conv_encoder(shape, d_out: int, ch: int = 64, batch_norm: bool = True) -> nn.Sequential:
    """DCGAN's discriminator body: stride-2 convolutions doubling the channels, LeakyReLU(0.2),
    BN after all but the first, then a linear map to d_out (1 for a GAN's logit)."""
    res = resolutions(shape[-1])
    chans = [ch * 2 ** i for i in range(len(res))]
    layers = [nn.Conv2d(shape[0], ch, 3, padding=1), nn.LeakyReLU(0.2)]
    for a, b in zip(chans, chans[1:]):
        layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b) if batch_norm else nn.Identity(),
                   nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(chans[-1] * res[-1] ** 2, d_out))
