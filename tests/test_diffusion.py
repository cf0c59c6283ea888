"""Schedules and samplers against their formulas."""
import math

import pytest
import torch

from models.ddgan import DDGAN
from models.family import BatchNoise
from models.diffusion import (alpha_bars, betas_from_alpha_bars, cosine_betas, ddim_sample, ddpm_sample, linear_betas,
                              posterior, q_sample, vp_alpha_bars)


def test_linear_schedule_alpha_bar():
    betas = linear_betas(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    ab = alpha_bars(betas)
    t = 500
    expected = math.prod(1 - (1e-4 + (0.02 - 1e-4) * s / 999) for s in range(t))
    assert ab[t - 1].item() == pytest.approx(expected, rel=1e-12)
    assert ab[-1].item() == pytest.approx(4.036e-5, rel=1e-3)  # DDPM's ᾱ_T, the prior's near-zero signal


def test_cosine_schedule_alpha_bar():
    T, s = 1000, 0.008
    ab = alpha_bars(cosine_betas(T))
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    for t in (1, 10, 500, 900):
        assert ab[t - 1].item() == pytest.approx(f(t) / f(0), rel=1e-9)
    assert cosine_betas(T).max().item() == pytest.approx(0.999)  # the clip at the end


def test_vp_schedule():
    ab = vp_alpha_bars(4)
    t = torch.tensor([0.001, 0.25075, 0.5005, 0.75025, 1.0], dtype=torch.float64)
    assert torch.allclose(ab, torch.exp(-0.5 * t**2 * 19.9 - 0.1 * t))
    betas = betas_from_alpha_bars(ab)
    assert torch.allclose(alpha_bars(betas) * ab[0], ab[1:])


def test_q_sample_marginal_mean_and_variance():
    g = torch.Generator().manual_seed(0)
    x_0 = torch.full((400_000, 1), 1.5)
    ab = torch.full((400_000,), 0.3)
    x_t = q_sample(x_0, ab, torch.randn(x_0.shape, generator=g))
    assert x_t.mean().item() == pytest.approx(math.sqrt(0.3) * 1.5, abs=5e-3)
    assert x_t.var().item() == pytest.approx(0.7, rel=1e-2)


def test_posterior_is_the_conditional_of_the_joint_gaussian():
    # x_{t-1} ~ q(x_{t-1}|x_0), x_t = √(1−β) x_{t-1} + √β ε: regress x_{t-1} on x_t empirically
    g = torch.Generator().manual_seed(0)
    ab_prev, beta, x0 = 0.6, 0.2, 0.7
    n = 400_000
    x_prev = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * torch.randn(n, 1, generator=g, dtype=torch.float64)
    x_t = math.sqrt(1 - beta) * x_prev + math.sqrt(beta) * torch.randn(n, 1, generator=g, dtype=torch.float64)
    ab = ab_prev * (1 - beta)
    mean, var = posterior(torch.full_like(x_t, x0), x_t, *(torch.full((n,), v, dtype=torch.float64) for v in (beta, ab, ab_prev)))
    resid = x_prev - mean
    assert resid.mean().item() == pytest.approx(0, abs=3e-3)
    assert resid.var().item() == pytest.approx(var[0].item(), rel=1e-2)


@pytest.mark.parametrize("steps", [None, 50])
def test_ddpm_sampler_with_the_exact_eps_of_a_point_mass_returns_it(steps):
    c = torch.tensor([[0.5, -1.0]])
    betas = linear_betas(1000)
    ab = alpha_bars(betas).float()
    eps_star = lambda x_t, t: (x_t - ab[t - 1, None].sqrt() * c) / (1 - ab[t - 1, None]).sqrt()  # noqa: E731
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    x_0 = ddpm_sample(eps_star, x_T, betas, steps, torch.Generator().manual_seed(1))
    assert torch.allclose(x_0, c.expand_as(x_0), atol=1e-4)


def test_ddgan_chain_with_a_perfect_generator_ends_on_the_data_point():
    model = DDGAN(DDGAN.Config(), (2,))
    c = torch.tensor([[0.5, -1.0]])
    model.generator.forward = lambda x, t, z: c.expand_as(x)
    x = model.sample(32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, c.expand_as(x), atol=1e-5)


def test_ddgan_pairs_follow_the_forward_process():
    model = DDGAN(DDGAN.Config(), (2,))
    x0 = torch.zeros(200_000, 2)
    t = torch.full((200_000,), 1)
    x_t, x_tp1 = model.q_sample_pairs(x0, t, BatchNoise(torch.Generator().manual_seed(0)))
    assert x_t.var().item() == pytest.approx(1 - model.alpha_bar[1].item(), rel=2e-2)
    assert x_tp1.var().item() == pytest.approx(1 - model.alpha_bar[2].item(), rel=2e-2)


def _gaussian_eps(m: float, s: float, betas: torch.Tensor):
    """The exact ε-predictor E[ε | x_t] for data N(m, s²): the network a perfect DDPM would learn."""
    alpha_bar = alpha_bars(betas.double())

    def eps_model(x_t, t):
        ab = alpha_bar[t - 1].view(-1, 1)
        return (1 - ab).sqrt() * (x_t - ab.sqrt() * m) / (ab * s ** 2 + 1 - ab)
    return eps_model


def test_ddim_eta_1_with_all_steps_matches_ancestral_sampling_in_distribution():
    betas = linear_betas(1000, 1e-4, 0.02).double()
    eps_model, m, s = _gaussian_eps(1.5, 0.3, betas), 1.5, 0.3
    g = torch.Generator().manual_seed(0)
    x_T = torch.randn(20_000, 1, generator=g, dtype=torch.float64)
    ddim = ddim_sample(eps_model, x_T, betas, eta=1.0, generator=g)
    ancestral = ddpm_sample(eps_model, x_T, betas, generator=g)
    for x in (ddim, ancestral):
        assert x.mean().item() == pytest.approx(m, abs=0.01) and x.std().item() == pytest.approx(s, abs=0.01)
    assert ddim.std().item() == pytest.approx(ancestral.std().item(), abs=0.01)


def test_ddim_eta_0_is_deterministic_and_exact_with_all_steps():
    betas = linear_betas(1000, 1e-4, 0.02).double()
    eps_model = _gaussian_eps(1.5, 0.3, betas)
    x_T = torch.randn(20_000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = ddim_sample(eps_model, x_T, betas, steps=50, generator=torch.Generator().manual_seed(1))
    b = ddim_sample(eps_model, x_T, betas, steps=50, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)  # η = 0 never draws noise: x_T alone fixes the sample
    exact = ddim_sample(eps_model, x_T, betas)  # the probability-flow ODE maps N(0, 1) onto N(m, s²)
    assert exact.mean().item() == pytest.approx(1.5, abs=0.01) and exact.std().item() == pytest.approx(0.3, abs=0.005)
    assert a.std().item() < exact.std().item()  # 50 steps: the known discretisation bias (0.277 here)
