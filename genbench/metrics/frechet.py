"""Fréchet distance between Gaussian fits (Dowson & Landau 1982; FID, Heusel et al. 2017)."""
import torch


def gaussian_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of the rows of x: (N, D) -> (D,), (D, D), in float64."""
    x = x.flatten(1).double()
    return x.mean(0), torch.cov(x.T).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(a: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(a)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def _trace_sqrt(m: torch.Tensor) -> torch.Tensor:
    """tr(M^½) of a symmetric PSD matrix: symmetrised and clamped against rounding."""
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½).

    tr((Σ₁Σ₂)^½) = Σᵢ √λᵢ(Lᵀ Σ₂ L) with Σ₁ = L Lᵀ: Lᵀ Σ₂ L = L⁻¹(Σ₁Σ₂)L is similar to Σ₁Σ₂ and
    symmetric PSD, so a Cholesky factor and one symmetric eigendecomposition replace the general
    (and much slower) sqrtm of pytorch-fid. A singular Σ₁ (fewer samples than dimensions) has no
    Cholesky factor; its PSD square root Σ₁^½ plays the role of L.
    """
    mu1, mu2, sigma1, sigma2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, mu2, sigma1, sigma2))
    L, info = torch.linalg.cholesky_ex(sigma1)
    if info != 0:
        L = _psd_sqrt(sigma1)
    m = L.T @ sigma2 @ L
    tr_covmean = _trace_sqrt(m)
    return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr_covmean)


def frechet_distance_to(x: torch.Tensor, mu2, sigma2) -> float:
    """d² between the Gaussian fit of the rows of x (N, D) and N(μ₂, Σ₂).

    With N ≤ D (FID's 2,048 features of a few hundred digits) Σ₁ = XᵀX/(N − 1), X the centred rows,
    has rank < N, and the nonzero eigenvalues of Σ₁Σ₂ are those of the symmetric N × N matrix
    XΣ₂Xᵀ/(N − 1) (AB and BA share them): the same d² from an N × N eigenproblem instead of a D × D
    one, without the D − N + 1 rounding-level eigenvalues of Σ₁'s null space that the D × D route
    takes square roots of."""
    x = x.flatten(1).double()
    if len(x) > x.shape[1]:
        return frechet_distance(*gaussian_stats(x), mu2, sigma2)
    mu2, sigma2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu2, sigma2))
    mu1 = x.mean(0)
    xc = (x - mu1) / (len(x) - 1) ** 0.5
    m = xc @ sigma2 @ xc.T
    tr_covmean = _trace_sqrt(m)
    return float((mu1 - mu2).square().sum() + xc.square().sum() + sigma2.trace() - 2 * tr_covmean)


def frechet_distance_samples(x: torch.Tensor, y: torch.Tensor) -> float:
    return frechet_distance_to(x, *gaussian_stats(y))
