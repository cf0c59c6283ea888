"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", §4 and App. D)."""
import numpy as np
import torch

SUBSETS, SUBSET_SIZE, SEED = 100, 1000, 2020  # the paper's and torch-fidelity's defaults


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """k(x, y) = (x·y / d + 1)³, the paper's cubic kernel."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """The unbiased estimator of MMD² (Gretton et al. 2012, Lemma 6) for two samples of equal size m:
    the within-set kernel means without their diagonals, minus twice the cross-set mean."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * k_xy.mean())


def kid(fake: torch.Tensor, real: torch.Tensor, subsets: int = SUBSETS, subset_size: int = SUBSET_SIZE,
        seed: int = SEED) -> tuple[float, float]:
    """Mean and standard deviation over `subsets` random subsets (of min(subset_size, N) points of
    each set, without replacement) of the unbiased MMD² between the features, in float64. The
    subsets are drawn as torch-fidelity draws them (numpy RandomState(seed): fake, then real), so
    the two agree on the same features."""
    fake, real = fake.flatten(1).double(), real.flatten(1).double()
    m = min(subset_size, len(fake), len(real))
    rng = np.random.RandomState(seed)
    mmds = []
    for _ in range(subsets):
        x = fake[torch.from_numpy(rng.choice(len(fake), m, replace=False))]
        y = real[torch.from_numpy(rng.choice(len(real), m, replace=False))]
        mmds.append(mmd2_unbiased(x, y))
    return float(np.mean(mmds)), float(np.std(mmds))
