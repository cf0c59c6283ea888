"""genbench's metrics against reference implementations, at the paper scale, on this machine.

    python benchmarks/metrics.py [--n 10000] [--dim 2048] [--small 359] [--repeats 3] [--seed 0]

(a) Fréchet distance of 2048-d features: genbench.metrics.frechet_distance against pytorch-fid's
    calculate_frechet_distance (scipy sqrtm): agreement to 1e-6 relative, and speed (median of
    repeats after a warm-up, both in this run), target >= 5x faster. With fewer generated samples
    than dimensions (--small, default 359: a digits run's evaluation draw) frechet_distance_to's
    N x N route against the D x D one and pytorch-fid: agreement to 1e-6 relative (both D x D routes
    carry rounding noise of order sqrt(eps) from the rank-deficient covariance), and speed.
(b) Precision, recall, density and coverage (one k = 5 for all four, the convention of clovaai's
    `prdc` package): genbench's float32-GEMM implementation with float64 rechecks against the
    definitions computed literally in float64 from full N x N distance matrices (values must be
    exactly equal) and against `prdc.compute_prdc` (equal; speed target >= 3x). Each runs in a
    fresh process that reports its peak memory above the loaded data (target <= 1 GiB for
    genbench, and never an N x N matrix).

Prints one table and exits 1 if a target fails.
"""
import argparse
import contextlib
import io
import math
import os
import resource
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import torch
from pytorch_fid.fid_score import calculate_frechet_distance

try:
    import prdc as clovaai_prdc  # pip install prdc
except ImportError:
    clovaai_prdc = None

from genbench.metrics import frechet_distance, frechet_distance_to, gaussian_stats, median_seconds, prdc
from genbench.metrics.knn import BLOCK

MIB = 2 ** 20
PRDC = ("precision", "recall", "density", "coverage")


def features(n: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and generated float64 features shaped like Inception pool3: non-negative, correlated,
    full-rank covariance (ReLU of mixed Gaussians). The generated set's pre-activations are shifted
    by 0.02, enough to keep precision, recall, density and coverage away from 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(dim, dim, generator=g, dtype=torch.float64) / math.sqrt(dim)
    real = (torch.randn(n, dim, generator=g, dtype=torch.float64) @ mix).relu_()
    fake = (torch.randn(n, dim, generator=g, dtype=torch.float64) @ mix).add_(0.02).relu_()
    return real, fake


K = 5


def direct_prdc(real: torch.Tensor, fake: torch.Tensor) -> tuple[float, ...]:
    """The definitions, literally, from full float64 distance matrices (Kynkäänniemi et al. 2019;
    Naeem et al. 2020): a ball's radius is the distance from its centre to the k-th nearest other
    point of its own set, and a point is inside a ball if strictly closer than the radius."""
    d_rr, d_ff, d_rf = torch.cdist(real, real), torch.cdist(fake, fake), torch.cdist(real, fake)
    d_rr.fill_diagonal_(math.inf)  # a point is not its own neighbour
    d_ff.fill_diagonal_(math.inf)
    real_k, fake_k = d_rr.kthvalue(K, dim=1).values, d_ff.kthvalue(K, dim=1).values
    del d_rr, d_ff
    in_real = d_rf < real_k[:, None]  # fake j in the ball of real i
    precision = in_real.any(0).double().mean()
    recall = (d_rf < fake_k[None, :]).any(1).double().mean()  # real i in some fake ball j
    density = in_real.sum(0).double().mean() / K
    coverage = in_real.any(1).double().mean()  # real i whose ball holds a fake j
    return tuple(float(v) for v in (precision, recall, density, coverage))


def genbench_prdc(real: torch.Tensor, fake: torch.Tensor) -> tuple[float, ...]:
    values = prdc(real, fake, k_pr=K, k_dc=K)  # once (the old benchmark called it once per metric, timing 4 calls)
    return tuple(values[name] for name in PRDC)


def clovaai(real: torch.Tensor, fake: torch.Tensor) -> tuple[float, ...]:
    """clovaai's reference (scikit-learn distances of float32 features, computed in float64)."""
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
        out = clovaai_prdc.compute_prdc(real.float().numpy(), fake.float().numpy(), nearest_k=K)
    return tuple(float(out[name]) for name in PRDC)


METHODS = {"genbench": genbench_prdc, "direct": direct_prdc, "clovaai": clovaai}


def _rss_now() -> int:
    """Resident bytes now (Linux /proc)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def prdc_worker(method: str, n: int, dim: int, seed: int) -> dict:
    """Run one PRDC implementation in this (fresh) process: values, seconds, peak bytes above the data."""
    real, fake = features(n, dim, seed)
    # Writing 5 to clear_refs resets the peak-RSS mark (Linux >= 4.0) that ru_maxrss reports, so the
    # peak below is that of the metric alone, not of generating the data.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _rss_now()
    start = time.perf_counter()
    values = METHODS[method](real, fake)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"values": values, "seconds": seconds, "extra": peak - base}


def run_isolated(method: str, args) -> dict:
    """One fresh process per implementation, so each peak belongs to it alone."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(prdc_worker, method, args.n, args.dim, args.seed).result()


def pytorch_fid_distance(*stats) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy >= 1.16 deprecates sqrtm's disp
        return float(calculate_frechet_distance(*stats))


def bench_frechet(args) -> list[tuple]:
    """Rows for (a): value agreement and median seconds, genbench vs pytorch-fid."""
    real, fake = features(args.n, args.dim, args.seed)
    stats = (*gaussian_stats(real), *gaussian_stats(fake))
    np_stats = [s.numpy() for s in stats]
    min_eig = min(torch.linalg.eigvalsh(s).min().item() for s in stats[1::2])
    ours, theirs = frechet_distance(*stats), pytorch_fid_distance(*np_stats)
    rel = abs(ours - theirs) / abs(theirs)
    t_ours = median_seconds(lambda: frechet_distance(*stats), repeats=args.repeats)
    t_theirs = median_seconds(lambda: pytorch_fid_distance(*np_stats), repeats=args.repeats)
    label = f"FD {args.dim}-d, N={args.n}"
    return [
        (f"{label}: smallest covariance eigenvalue", f"{min_eig:.3g}", "", "", "> 0", min_eig > 0),
        (f"{label}: value", f"{ours:.10g}", f"{theirs:.10g}", f"rel {rel:.1e}", "rel <= 1e-6", rel <= 1e-6),
        (f"{label}: median s ({args.repeats} repeats)", f"{t_ours:.3f}", f"{t_theirs:.3f}",
         f"{t_theirs / t_ours:.1f}x", ">= 5x", t_theirs / t_ours >= 5),
    ]


def bench_frechet_low_rank(args) -> list[tuple]:
    """Rows for (a) with N <= D: a few generated samples against the real set's statistics."""
    real, fake = features(args.n, args.dim, args.seed)
    x, ref = fake[:args.small], gaussian_stats(real)
    full = lambda: frechet_distance(*gaussian_stats(x), *ref)
    ours, dxd = frechet_distance_to(x, *ref), full()
    theirs = pytorch_fid_distance(*[s.numpy() for s in (*gaussian_stats(x), *ref)])
    t_ours = median_seconds(lambda: frechet_distance_to(x, *ref), repeats=args.repeats)
    t_dxd = median_seconds(full, repeats=args.repeats)
    label = f"FD {args.dim}-d, N={args.small} vs {args.n}"
    return [(f"{label}: value vs {ref_name}", f"{ours:.10g}", f"{v:.10g}", f"rel {abs(ours - v) / v:.1e}", "rel <= 1e-6",
             abs(ours - v) / v <= 1e-6) for ref_name, v in (("D x D route", dxd), ("pytorch-fid", theirs))] + [
        (f"{label}: median s, N x N vs D x D route", f"{t_ours:.3f}", f"{t_dxd:.3f}", f"{t_dxd / t_ours:.1f}x", "-", None)]


def bench_prdc(args) -> list[tuple]:
    """Rows for (b): equality of the four values, time and peak memory, against both references."""
    ours, direct = run_isolated("genbench", args), run_isolated("direct", args)
    label = f"N={args.n}, {args.dim}-d, k={K}"
    rows = [(f"{name} ({label}) vs float64 definition", f"{b!r}", f"{d!r}", "equal" if b == d else f"diff {b - d:.1e}",
             "exact", b == d) for name, b, d in zip(PRDC, ours["values"], direct["values"])]
    full = args.n * args.n * 8  # one N x N float64 distance matrix
    rows.append((f"PRDC peak MiB above data (N x N = {full / MIB:.0f})", f"{ours['extra'] / MIB:.0f}",
                 f"{direct['extra'] / MIB:.0f}", "", "<= 1024 and < N x N",
                 ours["extra"] <= 1024 * MIB and ours["extra"] < full if args.n > 2 * BLOCK else None))
    if clovaai_prdc is None:
        print("prdc is not installed (pip install prdc): no comparison with clovaai's implementation", flush=True)
        return rows
    ref = run_isolated("clovaai", args)
    # equal up to the last bit of the division (the counts behind the fractions are the same)
    rows += [(f"{name} vs clovaai prdc", f"{b!r}", f"{c!r}", f"diff {b - c:.1e}", "|diff| <= 1e-12",
              abs(b - c) <= 1e-12) for name, b, c in zip(PRDC, ours["values"], ref["values"])]
    rows.append(("PRDC wall s vs clovaai prdc", f"{ours['seconds']:.1f}", f"{ref['seconds']:.1f}",
                 f"{ref['seconds'] / ours['seconds']:.2f}x", ">= 3x", ref["seconds"] / ours["seconds"] >= 3))
    return rows


def print_table(rows: list[tuple]) -> None:
    head = ("check", "genbench", "reference", "ratio/diff", "target", "result")
    cells = [head] + [(*r[:5], {True: "PASS", False: "FAIL", None: "-"}[r[5]]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for c in cells:
        print("  ".join(s.ljust(w) for s, w in zip(c, widths)).rstrip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="feature vectors per set (default: 10,000)")
    ap.add_argument("--dim", type=int, default=2048, help="feature dimension (default: 2,048, Inception pool3)")
    ap.add_argument("--small", type=int, default=359, help="generated vectors for the N <= D Frechet check (default: 359)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats after one warm-up (default: 3)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    # the load average says whether other work shared the CPUs with the timings
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}",
          flush=True)
    rows = bench_frechet(args) + bench_frechet_low_rank(args) + bench_prdc(args)
    print_table(rows)
    return 1 if any(r[5] is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
