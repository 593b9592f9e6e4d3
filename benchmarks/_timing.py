"""Timing helpers shared by the benchmark scripts: interleaved repeats, medians, ratios."""
from __future__ import annotations

import statistics
import time


def median_times(fns: dict, repeats: int = 15, warmup: int = 2, clock=time.perf_counter) -> dict:
    """Median wall time (seconds) of each zero-argument callable, measured interleaved so that
    the machine's drift affects every contender alike.  ``clock=time.process_time`` measures
    CPU time instead (steadier on a shared machine, for single-threaded work)."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    samples = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = clock()
            f()
            samples[k].append(clock() - t)
    return {k: statistics.median(v) for k, v in samples.items()}
