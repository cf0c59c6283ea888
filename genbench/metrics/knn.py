"""Precision, recall (Kynkäänniemi et al. 2019) and density, coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its points, with radius the distance to the
point's k-th nearest other point in its own set; membership is strict (<). Distances are computed
in row blocks, so memory stays O(block · N), never N × N, and the four metrics share three passes:
real × real and fake × fake for the radii, fake × real for everything else.
"""
import torch

BLOCK = 2048


def knn_radii(x: torch.Tensor, ks: tuple[int, ...]) -> torch.Tensor:
    """(len(ks), N): distance from each row of x to its k-th nearest other row, for each k."""
    out = torch.empty(len(ks), len(x), dtype=x.dtype)
    for i in range(0, len(x), BLOCK):
        nearest = torch.cdist(x[i:i + BLOCK], x).topk(max(ks) + 1, dim=1, largest=False).values
        out[:, i:i + BLOCK] = nearest[:, list(ks)].T  # column 0 is the point itself
    return out


def prdc(real: torch.Tensor, fake: torch.Tensor, k_pr: int = 3, k_dc: int = 5) -> dict:
    """precision: share of fake points inside the real manifold (k_pr); recall: share of real
    points inside the fake manifold (k_pr); density: real-ball memberships per fake point / k_dc;
    coverage: share of real points whose own ball (k_dc) holds a fake point."""
    real, fake = real.flatten(1).double(), fake.flatten(1).double()
    real_pr, real_dc = knn_radii(real, (k_pr, k_dc))
    fake_pr, = knn_radii(fake, (k_pr,))
    in_real = torch.empty(len(fake), dtype=torch.bool)
    memberships = torch.empty(len(fake), dtype=torch.long)
    recalled = torch.zeros(len(real), dtype=torch.bool)
    nearest_fake = torch.full((len(real),), torch.inf, dtype=torch.float64)
    for i in range(0, len(fake), BLOCK):
        d = torch.cdist(fake[i:i + BLOCK], real)  # (block, N_real)
        in_real[i:i + BLOCK] = (d < real_pr).any(1)
        memberships[i:i + BLOCK] = (d < real_dc).sum(1)
        recalled |= (d < fake_pr[i:i + BLOCK, None]).any(0)
        nearest_fake = torch.minimum(nearest_fake, d.min(0).values)
        del d  # free this block before the next is computed
    return {"precision": float(in_real.double().mean()), "recall": float(recalled.double().mean()),
            "density": float(memberships.double().mean() / k_dc),
            "coverage": float((nearest_fake < real_dc).double().mean())}
