"""Known-answer tests for every metric."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from genbench.data import toy
from genbench.metrics import (frechet_distance, frechet_distance_samples, frechet_distance_to, gaussian_stats, knn,
                              matmul_gflops, median_seconds, mixture_modes, prdc)

MEANS = toy.grid25_means()


def test_samples_at_every_mean_cover_all_modes():
    m = mixture_modes(MEANS.repeat(4, 1), MEANS, sigma=0.05)
    assert m == {"modes": 25, "modes_total": 25, "hq": 1.0, "kl": 0.0}


def test_samples_at_one_mean_cover_one_mode():
    m = mixture_modes(MEANS[7].repeat(100, 1), MEANS, sigma=0.05)
    assert (m["modes"], m["hq"]) == (1, 1.0)
    assert m["kl"] == pytest.approx(math.log(25))


def test_mode_histogram_kl_and_quality_threshold():
    # 3 samples at mode 0, 1 at mode 1, and 4 just outside 3σ of mode 2 (not high quality)
    off = MEANS[2] + torch.tensor([0.151, 0.0])
    x = torch.cat([MEANS[0].repeat(3, 1), MEANS[1][None], off.repeat(4, 1)])
    m = mixture_modes(x, MEANS, sigma=0.05)
    assert (m["modes"], m["hq"]) == (2, 0.5)
    assert m["kl"] == pytest.approx(0.75 * math.log(0.75 * 25) + 0.25 * math.log(0.25 * 25))


def test_no_high_quality_sample_is_infinite_kl():
    m = mixture_modes(torch.full((10, 2), 1.0), MEANS, sigma=0.05)
    assert (m["modes"], m["hq"], m["kl"]) == (0, 0.0, math.inf)


def test_frechet_closed_form_diagonal():
    # d² = ‖μ₁−μ₂‖² + Σᵢ (√aᵢ − √bᵢ)² for diagonal covariances
    d = frechet_distance(torch.tensor([0.0, 1.0]), torch.diag(torch.tensor([1.0, 4.0])),
                         torch.tensor([3.0, 1.0]), torch.diag(torch.tensor([9.0, 1.0])))
    assert d == pytest.approx(9 + (1 - 3) ** 2 + (2 - 1) ** 2)


def test_frechet_matches_sqrtm_formula_on_full_covariances():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 6, generator=g, dtype=torch.float64), torch.randn(6, 6, generator=g, dtype=torch.float64)
    s1, s2 = a @ a.T + 0.1 * torch.eye(6), b @ b.T + 0.1 * torch.eye(6)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    covmean = scipy.linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1.numpy() + s2.numpy() - 2 * covmean))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_of_samples_estimates_the_gaussians():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, 2, generator=g)
    y = 2 * torch.randn(200_000, 2, generator=g) + torch.tensor([1.0, 0.0])
    assert frechet_distance_samples(x, y) == pytest.approx(1 + 2 * (2 - 1) ** 2, rel=0.02)
    assert frechet_distance_samples(x, x) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("n", [10, 64, 65, 300])
def test_frechet_to_a_gaussian_equals_the_full_covariance_route(n):
    """N ≤ D takes the N × N route, N > D the D × D one; both give the same d².

    For N ≤ D the D × D route is the less exact one (its null-space eigenvalues are rounding noise that
    enters through square roots): at N = 10 it sits 1.4e-8 from a 40-digit mpmath evaluation, the
    N × N route 8e-11."""
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 64, generator=g) * 2 + 1
    y = torch.randn(400, 64, generator=g) @ torch.randn(64, 64, generator=g) * 0.3
    stats = gaussian_stats(y)
    assert frechet_distance_to(x, *stats) == pytest.approx(frechet_distance(*gaussian_stats(x), *stats), rel=1e-7)


def _line(*xs):
    return torch.tensor([[x, 0.0] for x in xs])


def test_prdc_by_hand():
    real, fake = _line(0, 1, 2, 3), _line(0.5, 10)
    # real k=1 radii are all 1; fake radii are 9.5. Fake 0.5 lies in the balls of real 0 and 1.
    assert prdc(real, fake, k_pr=1, k_dc=1) == {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 0.5}


def test_prdc_identical_sets_are_perfect():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    m = prdc(x, x.clone())
    assert (m["precision"], m["recall"], m["coverage"]) == (1.0, 1.0, 1.0)


def _dense_prdc(real, fake, k):
    """The definitions with full distance matrices, for comparison with the blocked version."""
    d_rr, d_ff, d_rf = torch.cdist(real, real), torch.cdist(fake, fake), torch.cdist(real, fake)
    r_real = d_rr.sort(1).values[:, k]
    r_fake = d_ff.sort(1).values[:, k]
    inside = d_rf < r_real[:, None]  # inside[i, j]: fake j in the ball of real i
    return ((inside.any(0)).double().mean().item(), (d_rf < r_fake[None]).any(1).double().mean().item(),
            inside.sum(0).double().mean().item() / k, (d_rf.min(1).values < r_real).double().mean().item())


def test_blocked_prdc_equals_dense_definition(monkeypatch):
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(500, 4, generator=g).double(), 1.3 * torch.randn(400, 4, generator=g).double()
    monkeypatch.setattr(knn, "BLOCK", 64)
    for k_pr, k_dc in ((3, 5), (1, 2)):
        got = prdc(real, fake, k_pr, k_dc)
        assert (got["precision"], got["recall"]) == _dense_prdc(real, fake, k_pr)[:2]
        assert (got["density"], got["coverage"]) == _dense_prdc(real, fake, k_dc)[2:]


def test_median_seconds_runs_warmup_then_repeats():
    calls = []
    t = median_seconds(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and 0 <= t < 0.1


class _CountingSampler(torch.nn.Module):
    """A stand-in model whose sampler records the batch sizes it is asked for."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = []

    def sample(self, n, generator=None, setting=None):
        self.calls.append(n)
        return torch.randn(n, 2, generator=generator)


def test_speed_is_timed_on_the_evaluation_batches_without_extra_sampling():
    from genbench.data import get_dataset
    from genbench.evaluate import evaluate
    data = get_dataset("grid25", n_reference=700)
    model = _CountingSampler()
    metrics, _ = evaluate(model, data, batch=100, seed=0, repeats=5)
    assert model.calls == [100] * 7  # 6 timed batches after the warm-up one: enough, nothing drawn again
    assert metrics["sample_sec_per_1k"] > 0 and metrics["sample_batch"] == 100
    model = _CountingSampler()  # too few full batches in the pass: top up to `repeats` timed calls
    evaluate(model, data, batch=300, seed=0, repeats=5)
    assert model.calls == [300, 300, 100, 300, 300, 300, 300]
    model = _CountingSampler()  # no full batch at all: a warm-up, then `repeats` timed calls
    evaluate(model, data, batch=1000, seed=0, repeats=3)
    assert model.calls == [700, 1000, 1000, 1000, 1000]


def _hard_sets(g):
    """Sets where float32 distances would go wrong or tie: far from the origin, on an integer
    lattice (exact ties and duplicates), and high-dimensional non-negative (Inception-like)."""
    far = torch.tensor([1000.0, -500.0]).double()
    return {"far": (2 * torch.randn(300, 2, generator=g).double() + far, 2 * torch.randn(250, 2, generator=g).double() + far),
            "lattice": (torch.randint(0, 4, (300, 3), generator=g).double(), torch.randint(0, 4, (260, 3), generator=g).double()),
            "256-d": (torch.randn(300, 256, generator=g).double().relu(), (torch.randn(280, 256, generator=g).double() + 0.1).relu())}


@pytest.mark.parametrize("unit_roundoff, candidates", [(2.0 ** -24, 16), (1e-2, 16), (2.0 ** -24, 0)])
def test_float32_prdc_decides_exactly_as_float64(monkeypatch, unit_roundoff, candidates):
    """The float32 products with float64 rechecks equal the float64 definition on hard sets; also with
    a bound so loose that most pairs are rechecked, and with no spare candidates (rows fall back to
    full float64 distances): every path gives the same answer."""
    monkeypatch.setattr(knn, "BLOCK", 64)
    monkeypatch.setattr(knn, "_U", unit_roundoff)
    monkeypatch.setattr(knn, "CANDIDATES", candidates)
    for name, (real, fake) in _hard_sets(torch.Generator().manual_seed(1)).items():
        got = prdc(real, fake, 3, 5)
        assert (got["precision"], got["recall"]) == _dense_prdc(real, fake, 3)[:2], name
        assert (got["density"], got["coverage"]) == _dense_prdc(real, fake, 5)[2:], name


def test_kid_agrees_with_torch_fidelity_on_the_same_features():
    """Bińkowski et al.'s KID (unbiased MMD², cubic kernel, random subsets) against torch-fidelity's
    implementation on the same features, same subsets: to 1e-4 relative."""
    from torch_fidelity.metric_kid import kid_features_to_metric
    from genbench.metrics import kid
    g = torch.Generator().manual_seed(0)
    real = torch.randn(1200, 64, generator=g).relu()
    fake = (torch.randn(900, 64, generator=g) + 0.3).relu()
    ours = kid(fake, real, subsets=20, subset_size=500)
    theirs = kid_features_to_metric(fake, real, kid_subsets=20, kid_subset_size=500, verbose=False)
    assert ours[0] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    assert ours[1] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-4)
    same, _ = kid(real[600:], real[:600], subsets=5, subset_size=500)
    assert abs(same) < 0.1 * ours[0]  # two halves of one set: MMD² near 0, far below the shifted set's


def test_kid_of_an_image_run_is_in_its_row(tmp_path):
    """kid_domain is computed for every image evaluation and lands in the leaderboard."""
    from click.testing import CliRunner
    from genbench.cli import cli
    from genbench.results import load_leaderboard
    r = CliRunner().invoke(cli, ["run", "--model", "gan", "--dataset", "digits", "--steps", "3", "--n-eval", "40",
                                 "--sample-batch", "20", "--no-progress", "--results", str(tmp_path)])
    assert r.exit_code == 0, r.output + r.stderr
    board = load_leaderboard(tmp_path)
    real, run = board.iloc[0], board.iloc[1]
    assert real["model"] == "real" and run["kid_domain"] > real["kid_domain"]  # untrained G is far from the data


def test_inception_score_agrees_with_torch_fidelity_on_the_same_logits():
    from torch_fidelity.metric_isc import isc_features_to_metric
    from genbench.metrics import inception_score
    logits = 3 * torch.randn(500, 1008, generator=torch.Generator().manual_seed(0))
    ours, theirs = inception_score(logits), isc_features_to_metric(logits)
    assert ours[0] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours[1] == pytest.approx(theirs["inception_score_std"], rel=1e-6)
    assert inception_score(torch.zeros(500, 1008))[0] == pytest.approx(1.0)  # one prediction for all: IS 1


def test_matmul_rate_is_a_rate_and_draws_no_random_numbers():
    state = torch.get_rng_state()
    one, two = matmul_gflops(calls=5, repeats=3), matmul_gflops(calls=20, repeats=3)
    assert torch.equal(torch.get_rng_state(), state)  # a run measures it between seeding and training
    # the same rate whatever the number of calls (4x the work in 4x the time), within timing noise
    assert 0 < one < 1e5 and 0.2 < two / one < 5
