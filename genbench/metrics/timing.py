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
