"""Precision, recall (Kynkäänniemi et al. 2019) and density, coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its points, with radius the distance to the
point's k-th nearest other point in its own set; membership is strict (<).

Distances come in row blocks (memory O(block · N), never N × N) from one float32 matrix product per
block, ‖a‖² + ‖b‖² − 2a·b: about twice the speed of float64 and five times that of float64 `cdist`
here. The results are still those of exact float64 distances: a float32 value whose worst-case
rounding error could put it on either side of its threshold (a few hundred of 20 million pairs per
block on Inception features) is decided again from (a − b)² in float64, and a k-th-neighbour radius
is the exact distance to the one (of a few float32 candidates) that provably is the k-th neighbour.
The self-distances (real × real, fake × fake) compute each pair of blocks once and use it both ways.
"""
import torch

BLOCK = 2048
CANDIDATES = 16      # float32 nearest neighbours kept beyond the k + 1 a radius needs
_U = 2.0 ** -24      # float32 unit roundoff


class _Points:
    """A point set as float64 (exact rechecks: differences, so uncentred) and as float32 centred on
    `origin` (matrix products: distances do not move, and the float32 error, which scales with
    ‖a‖² + ‖b‖², shrinks), centred in chunks so that no centred float64 copy of the set is made."""

    def __init__(self, x: torch.Tensor, origin: torch.Tensor, chunk: int = 1024):
        self.x64 = x.flatten(1).double()
        self.x32 = torch.empty(self.x64.shape, dtype=torch.float32)
        self.max_sq = 0.0  # the largest float64 ‖x − origin‖²
        for s in range(0, len(x), chunk):
            centred = self.x64[s:s + chunk] - origin
            self.x32[s:s + chunk] = centred
            self.max_sq = max(self.max_sq, float(centred.square().sum(1).max()))
        self.sq = self.x32.square().sum(1)

    def __len__(self):
        return len(self.x64)


def _error_bound(a: _Points, b: _Points) -> float:
    """Worst-case |float32 ‖a−b‖² − exact ‖a−b‖²| for any pair: rounding the inputs (≤ 4u S), the two
    norms and the dot product of length d (≤ 2 d u S with γ_d ≤ 1.01 d u), the three-term sum
    (≤ 6u S), with S = ‖a‖² + ‖b‖² ≤ max ‖a‖² + max ‖b‖²; padded by 10 %."""
    d = a.x64.shape[1]
    return 1.1 * (2.02 * d + 10) * _U * (a.max_sq + b.max_sq)


def _sq_dists(a: _Points, rows: slice, b: _Points, cols: slice = slice(None)) -> torch.Tensor:
    return torch.addmm(a.sq[rows, None] + b.sq[None, cols], a.x32[rows], b.x32[cols].T, alpha=-2)


def _exact(a: _Points, b: _Points, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """float64 ‖a_i − b_j‖² for index pairs (i, j), in chunks of 4M numbers (32 MB)."""
    chunk = max(1, (1 << 22) // a.x64.shape[1])
    return torch.cat([(a.x64[i[s:s + chunk]] - b.x64[j[s:s + chunk]]).square().sum(1)
                      for s in range(0, len(i), chunk)]) if len(i) else a.x64.new_empty(0)


def _less(d2: torch.Tensor, threshold: torch.Tensor, err: float, exact) -> torch.Tensor:
    """d2 < threshold as exact float64 distances decide it: the float32 d2 where it is below
    threshold − err or above threshold + err (those bounds rounded outwards to float32, so that the
    block is compared in float32), `exact(rows, cols)` for the few pairs in between."""
    low, high = _to_float32(threshold - err, -torch.inf), _to_float32(threshold + err, torch.inf)
    out = d2 < low
    rows, cols = torch.nonzero((d2 >= low) & (d2 <= high), as_tuple=True)
    if len(rows):
        out[rows, cols] = exact(rows, cols) < threshold.expand_as(d2)[rows, cols]
    return out


def _to_float32(x: torch.Tensor, towards: float) -> torch.Tensor:
    """float64 → the nearest float32 on the side of `towards` (−inf: ≤ x, +inf: ≥ x)."""
    y = x.float()
    wrong_side = y.double() > x if towards < 0 else y.double() < x
    return torch.where(wrong_side, torch.nextafter(y, torch.full_like(y, towards)), y)


def knn_radii(x: _Points, ks: tuple[int, ...]) -> torch.Tensor:
    """(len(ks), N) float64 squared distances from each point to its k-th nearest other point."""
    n, m = len(x), min(max(ks) + 1 + CANDIDATES, len(x))
    best = torch.full((n, m), torch.inf)                  # float32 candidates, ascending: values ...
    best_at = torch.zeros((n, m), dtype=torch.long)       # ... and indices
    for i in range(0, n, BLOCK):
        rows = slice(i, min(i + BLOCK, n))
        for j in range(i, n, BLOCK):  # each pair of blocks once: the upper triangle
            cols = slice(j, min(j + BLOCK, n))
            d2 = _sq_dists(x, rows, x, cols)
            _merge(best, best_at, rows, d2, j)
            if j != i:
                _merge(best, best_at, cols, d2.T, i)
    return torch.stack([_kth_exact(x, best.double(), best_at, k, _error_bound(x, x)) for k in ks])


def _kth_exact(x: _Points, best: torch.Tensor, best_at: torch.Tensor, k: int, err: float) -> torch.Tensor:
    """The exact k-th smallest squared distance of each row (column 0: the point itself) from its
    float32 candidates. With v the float32 k-th value, the exact k-th lies in [v − err, v + err];
    only points whose float32 value is within 2·err of v can be it, and those below that band are
    certainly nearer: so the answer is the (k − #below)-th of the band's exact values. A row whose
    band may reach past its last candidate is computed exactly in full (none in practice)."""
    n, m = best.shape
    v = best[:, k:k + 1]
    band = (best - v).abs() <= 2 * err
    below = (best < v - 2 * err).sum(1)
    rows, cols = torch.nonzero(band, as_tuple=True)
    exact = torch.full((n, m), torch.inf, dtype=torch.float64)
    exact[rows, cols] = _exact(x, x, rows, best_at[rows, cols])
    out = exact.sort(1).values.gather(1, (k - below)[:, None]).squeeze(1)
    unsure = torch.nonzero(best[:, -1] <= v[:, 0] + 2 * err).flatten() if m < n else []
    for r in unsure:
        out[r] = (x.x64[r] - x.x64).square().sum(1).kthvalue(k + 1).values
    return out


def _merge(best, best_at, rows: slice, d2: torch.Tensor, offset: int) -> None:
    """Keep, for `rows`, the m smallest of their candidates and this block's values."""
    m = best.shape[1]
    k = min(m, d2.shape[1])
    values, at = d2.topk(k, dim=1, largest=False)
    both, both_at = torch.cat([best[rows], values], 1), torch.cat([best_at[rows], at + offset], 1)
    keep = both.topk(m, dim=1, largest=False).indices
    best[rows], best_at[rows] = both.gather(1, keep), both_at.gather(1, keep)


def prdc(real: torch.Tensor, fake: torch.Tensor, k_pr: int = 3, k_dc: int = 5) -> dict:
    """precision: share of fake points inside the real manifold (k_pr); recall: share of real
    points inside the fake manifold (k_pr); density: real-ball memberships per fake point / k_dc;
    coverage: share of real points whose own ball (k_dc) holds a fake point."""
    origin = real.flatten(1).mean(0, dtype=torch.float64)
    real, fake = _Points(real, origin), _Points(fake, origin)
    real_pr, real_dc = knn_radii(real, (k_pr, k_dc))
    fake_pr, = knn_radii(fake, (k_pr,))
    err = _error_bound(fake, real)
    in_real = torch.empty(len(fake), dtype=torch.bool)
    memberships = torch.empty(len(fake), dtype=torch.long)
    recalled = torch.zeros(len(real), dtype=torch.bool)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for i in range(0, len(fake), BLOCK):
        rows = slice(i, i + BLOCK)
        d2 = _sq_dists(fake, rows, real)  # (block, N_real), float32; compared with float64 thresholds
        exact = lambda r, c: _exact(fake, real, r + i, c)
        in_real[rows] = _less(d2, real_pr[None], err, exact).any(1)
        in_ball = _less(d2, real_dc[None], err, exact)
        memberships[rows], covered = in_ball.sum(1), covered | in_ball.any(0)
        recalled |= _less(d2, fake_pr[rows, None], err, exact).any(0)
        del d2, in_ball  # free this block before the next is computed
    return {"precision": float(in_real.double().mean()), "recall": float(recalled.double().mean()),
            "density": float(memberships.double().mean() / k_dc), "coverage": float(covered.double().mean())}
