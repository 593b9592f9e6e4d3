"""Timing helpers shared by the benchmark scripts: interleaved repeats, medians, ratios."""
from __future__ import annotations

import statistics
import time


def median_times(fns: dict, repeats: int = 15, warmup: int = 2) -> dict:
    """Median wall time (seconds) of each zero-argument callable, measured interleaved so that
    the machine's drift affects every contender alike."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            samples[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}
