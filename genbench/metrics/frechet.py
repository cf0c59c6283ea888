"""Fréchet distance between Gaussian fits (Dowson & Landau 1982; FID, Heusel et al. 2017)."""
import torch


def gaussian_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance of the rows of x: (N, D) -> (D,), (D, D), in float64."""
    x = x.flatten(1).double()
    return x.mean(0), torch.cov(x.T).reshape(x.shape[1], x.shape[1])


def _psd_sqrt(a: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(a)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½).

    tr((Σ₁Σ₂)^½) = Σᵢ √λᵢ(Σ₁^½ Σ₂ Σ₁^½): the matrix is symmetric PSD and similar to Σ₁Σ₂, so two
    symmetric eigendecompositions replace the general (and slower) sqrtm of pytorch-fid.
    """
    mu1, mu2, sigma1, sigma2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, mu2, sigma1, sigma2))
    s1 = _psd_sqrt(sigma1)
    m = s1 @ sigma2 @ s1
    tr_covmean = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr_covmean)


def frechet_distance_samples(x: torch.Tensor, y: torch.Tensor) -> float:
    return frechet_distance(*gaussian_stats(x), *gaussian_stats(y))
