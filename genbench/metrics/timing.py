"""Wall-clock timing with warm-up, device synchronisation and the median of repeats."""
import statistics
import time

import torch


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device="cpu"):
    """(fn()'s result, its wall seconds), the device synchronised before the clock stops."""
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def median_seconds(fn, repeats: int = 5, warmup: int = 1, device="cpu") -> float:
    """Median wall seconds of fn() over `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    return statistics.median(timed(fn, device)[1] for _ in range(repeats))


def matmul_gflops(device="cpu", calls: int = 50, repeats: int = 5) -> float:
    """The device's float32 matrix-product rate with this process's threads, GFLOP/s: the median of
    `repeats` timings of `calls` products. On a CPU the shape is the 2-D networks' own (a batch of
    256 through a 256 × 256 layer), on a GPU 4,096² (small shapes measure kernel launches there).
    It puts a row's seconds in context: machines of one kind differ by 3-4× (README)."""
    n = 4096 if torch.device(device).type == "cuda" else 256
    a = w = torch.full((n, n), 0.5, device=device)  # no random draw: the run's random streams stay as they were
    seconds = median_seconds(lambda: [a @ w for _ in range(calls)], repeats=repeats, device=device)
    return 2 * n ** 3 * calls / seconds / 1e9
