"""Precision, recall (Kynkäänniemi et al. 2019) and density, coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its points, with radius the distance to the
point's k-th nearest neighbour in its own set. Distances are computed in row blocks, so memory
stays O(block · N), never N × N.
"""
import torch

BLOCK = 2048


def _blocks(a: torch.Tensor, b: torch.Tensor):
    """Yield (row slice, pairwise distances of a[rows] to all of b)."""
    for i in range(0, len(a), BLOCK):
        yield slice(i, i + BLOCK), torch.cdist(a[i:i + BLOCK], b)


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row of x."""
    out = torch.empty(len(x), dtype=x.dtype)
    for rows, d in _blocks(x, x):
        out[rows] = d.topk(k + 1, dim=1, largest=False).values[:, k]  # index 0 is the point itself
    return out


def _ball_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, the number of balls B(centres[j], radii[j]) that contain it (strictly)."""
    out = torch.empty(len(points), dtype=torch.long)
    for rows, d in _blocks(points, centres):
        out[rows] = (d < radii[None]).sum(1)
    return out


def _nearest(points: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Distance from each point to its nearest neighbour in `others`."""
    out = torch.empty(len(points), dtype=points.dtype)
    for rows, d in _blocks(points, others):
        out[rows] = d.min(1).values
    return out


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of fake points inside the real manifold. Recall: share of real points
    inside the fake manifold."""
    real, fake = real.flatten(1).double(), fake.flatten(1).double()
    precision = (_ball_counts(fake, real, knn_radii(real, k)) > 0).double().mean()
    recall = (_ball_counts(real, fake, knn_radii(fake, k)) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density: real-ball memberships per fake point, divided by k. Coverage: share of real points
    whose own ball holds at least one fake point."""
    real, fake = real.flatten(1).double(), fake.flatten(1).double()
    radii = knn_radii(real, k)
    density = _ball_counts(fake, real, radii).double().mean() / k
    coverage = (_nearest(real, fake) < radii).double().mean()
    return float(density), float(coverage)
