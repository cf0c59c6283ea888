"""Noise schedules and samplers as pure functions.

Index convention (Ho et al. 2020): tensors of length T hold step t = 1..T at index t-1,
so ``alpha_bar[t-1]`` is ᾱ_t and ᾱ_0 = 1 is implicit.
"""
import math

import torch


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """DDPM's linear schedule, β_t from β_1 to β_T (Ho et al. 2020, §4)."""
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Improved DDPM's cosine schedule (Nichol & Dhariwal 2021, eq. 17).

    ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T + s)/(1 + s))·π/2); β_t = 1 − ᾱ_t/ᾱ_{t−1}, clipped at 0.999.
    """
    t = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def vp_alpha_bars(T: int, beta_min: float = 0.1, beta_max: float = 20.0, eps: float = 1e-3) -> torch.Tensor:
    """DDGAN's discretised VP-SDE schedule (Xiao et al. 2022, App. B): ᾱ at t_0..t_T.

    t_i = i/T·(1 − ε) + ε and ᾱ(t) = exp(−½t²(β_max − β_min) − tβ_min). Returns T + 1 values.
    """
    t = torch.arange(T + 1, dtype=torch.float64) / T * (1 - eps) + eps
    return torch.exp(-0.5 * t**2 * (beta_max - beta_min) - t * beta_min)


def betas_from_alpha_bars(alpha_bar: torch.Tensor) -> torch.Tensor:
    """β_i = 1 − ᾱ_i/ᾱ_{i−1} for consecutive entries of ᾱ (length len(ᾱ) − 1)."""
    return 1 - alpha_bar[1:] / alpha_bar[:-1]


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = ∏_{s≤t} (1 − β_s)."""
    return torch.cumprod(1 - betas, dim=0)


def expand_like(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample coefficients (B,) -> (B, 1, ..., 1) to broadcast against x."""
    return v.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))


def q_sample(x_0: torch.Tensor, alpha_bar_t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Forward marginal q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I), reparametrised (DDPM eq. 4)."""
    a = expand_like(alpha_bar_t, x_0)
    return a.sqrt() * x_0 + (1 - a).sqrt() * eps


def velocity(x_0: torch.Tensor, eps: torch.Tensor, alpha_bar_t: torch.Tensor) -> torch.Tensor:
    """v = α_t ε − σ_t x_0 (Salimans & Ho 2022, §4), α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t)."""
    a = expand_like(alpha_bar_t, x_0)
    return a.sqrt() * eps - (1 - a).sqrt() * x_0


def v_to_x0_eps(v: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂_0, ε̂) = (α_t x_t − σ_t v̂, σ_t x_t + α_t v̂): both defined even where ᾱ_t = 0."""
    a = expand_like(alpha_bar_t, x_t)
    alpha, sigma = a.sqrt(), (1 - a).sqrt()
    return alpha * x_t - sigma * v, sigma * x_t + alpha * v


def posterior(x_0, x_t, beta_t, alpha_bar_t, alpha_bar_prev):
    """Mean and variance of q(x_{t−1} | x_t, x_0) (DDPM eqs. 6–7); coefficients per sample (B,)."""
    beta, ab, ab_prev = (expand_like(v, x_t) for v in (beta_t, alpha_bar_t, alpha_bar_prev))
    mean = (ab_prev.sqrt() * beta * x_0 + (1 - beta).sqrt() * (1 - ab_prev) * x_t) / (1 - ab)
    var = beta * (1 - ab_prev) / (1 - ab)
    return mean, var


def respace(alpha_bar: torch.Tensor, steps: int) -> torch.Tensor:
    """Evenly spaced sub-sequence τ of 1..T with `steps` entries, always ending at T (Improved DDPM §4)."""
    T = len(alpha_bar)
    if not 1 <= steps <= T:
        raise ValueError(f"sampler steps must be in 1..{T}, got {steps}")
    return torch.linspace(T, 1, steps, dtype=torch.float64).round().long().flip(0)


@torch.no_grad()
def ddpm_sample(eps_model, x_T: torch.Tensor, betas: torch.Tensor, steps: int | None = None,
                generator: torch.Generator | None = None, clip_x0: bool = False, on_step=None) -> torch.Tensor:
    """DDPM Algorithm 2: ancestral sampling with σ_t² = β_t.

    With `steps` < T the chain runs on a respaced sub-sequence τ whose betas are
    β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}} (Nichol & Dhariwal 2021 §4); steps = T is Algorithm 2 exactly.
    With `clip_x0` (data in [−1, 1], as Ho et al.'s code samples images), the mean is the posterior
    mean μ̃_t(x_t, x̂_0) (eq. 7) of x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t clipped to [−1, 1]; unclipped,
    μ̃_t(x_t, x̂_0) equals Algorithm 2's mean. `eps_model(x_t, t)` takes integer t in 1..T as a
    (1,) tensor shared by the batch (so a network computes its time conditioning once, not per sample);
    `on_step(t, ᾱ_t, x_t)`, if given, sees each state (t = 0, ᾱ = 1: the sample).
    """
    alpha_bar = alpha_bars(betas)
    tau = respace(alpha_bar, steps or len(betas))
    ab = alpha_bar[tau - 1]
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    beta = 1 - ab / ab_prev
    x = x_T
    for i in reversed(range(len(tau))):
        t = torch.full((1,), int(tau[i]), device=x.device, dtype=torch.long)  # one t for the batch: nets broadcast it
        if on_step:
            on_step(int(tau[i]), float(ab[i]), x)
        eps_hat = eps_model(x, t)
        if clip_x0:
            x_0_hat = ((x - (1 - ab[i]).sqrt() * eps_hat) / ab[i].sqrt()).clamp(-1, 1)
            per_sample = lambda v: v.expand(x.shape[0])
            mean, _ = posterior(x_0_hat, x, per_sample(beta[i]), per_sample(ab[i]), per_sample(ab_prev[i]))
        else:
            mean = (x - beta[i] / (1 - ab[i]).sqrt() * eps_hat) / (1 - beta[i]).sqrt()
        if i > 0:
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = mean + beta[i].sqrt() * z
        else:
            x = mean
    if on_step:
        on_step(0, 1.0, x)
    return x


@torch.no_grad()
def ddim_sample(eps_model, x_T: torch.Tensor, betas: torch.Tensor, steps: int | None = None, eta: float = 0.0,
                generator: torch.Generator | None = None, on_step=None) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12) over the evenly spaced sub-sequence τ of 1..T:

        x_{τ_{i−1}} = √ᾱ_{τ_{i−1}} x̂_0 + √(1 − ᾱ_{τ_{i−1}} − σ_i²) ε̂ + σ_i z,
        x̂_0 = (x_{τ_i} − √(1 − ᾱ_{τ_i}) ε̂) / √ᾱ_{τ_i},
        σ_i = η √((1 − ᾱ_{τ_{i−1}}) / (1 − ᾱ_{τ_i})) √(1 − ᾱ_{τ_i} / ᾱ_{τ_{i−1}}),

    with ᾱ_{τ_0} = 1 after the last step. η = 0 is the deterministic sampler; η = 1 with all
    steps is ancestral sampling with the posterior variance β̃_t (DDPM's other choice of σ_t²).
    x̂_0 is not clipped, as in the DDIM paper's code (`generalized_steps`; only its DDPM sampler
    clips), so η = 0 stays the deterministic ODE-like map the paper analyses. `on_step` as in
    `ddpm_sample`.
    """
    if eta < 0:
        raise ValueError(f"DDIM η must be >= 0, got {eta}")
    alpha_bar = alpha_bars(betas)
    tau = respace(alpha_bar, steps or len(betas))
    ab = alpha_bar[tau - 1]
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    x = x_T
    for i in reversed(range(len(tau))):
        t = torch.full((1,), int(tau[i]), device=x.device, dtype=torch.long)  # one t for the batch: nets broadcast it
        if on_step:
            on_step(int(tau[i]), float(ab[i]), x)
        eps_hat = eps_model(x, t)
        x_0_hat = (x - (1 - ab[i]).sqrt() * eps_hat) / ab[i].sqrt()
        sigma = eta * ((1 - ab_prev[i]) / (1 - ab[i])).sqrt() * (1 - ab[i] / ab_prev[i]).sqrt()
        x = ab_prev[i].sqrt() * x_0_hat + (1 - ab_prev[i] - sigma ** 2).clamp(min=0).sqrt() * eps_hat
        if i > 0 and eta > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if on_step:
        on_step(0, 1.0, x)
    return x
