"""Paired statistics of a study: differences to dense per seed, their spread and interval, the
retained fraction R and a pass/fail verdict against a criterion fixed before the run.

Every function takes ``{seed: value}`` maps; runs are paired by seed (one seed fixes the
initialisation, the batch order and every random draw of both runs).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Paired:
    """``arm - dense`` over the seeds both have: per seed, mean, std (n - 1), 95% t-interval."""
    seeds: tuple
    diffs: tuple
    mean: float
    std: float
    low: float
    high: float


def paired(arm: dict, dense: dict) -> Paired | None:
    """The paired differences ``arm[s] - dense[s]`` (None without a common seed)."""
    seeds = tuple(sorted(set(arm) & set(dense)))
    if not seeds:
        return None
    diffs = tuple(arm[s] - dense[s] for s in seeds)
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return Paired(seeds, diffs, mean, math.nan, math.nan, math.nan)
    std = statistics.stdev(diffs)
    half = stats.t.ppf(0.975, len(diffs) - 1) * std / math.sqrt(len(diffs))
    return Paired(seeds, diffs, mean, std, mean - half, mean + half)


def retained(arm: dict, dense: dict, floor: dict) -> dict:
    """Per seed the retained fraction ``R = (floor - arm) / (floor - dense)``: 1 keeps dense's
    quality, 0 is no better than the floor (the touched layers frozen); seeds where floor and
    dense tie are left out (R is undefined there)."""
    return {s: (floor[s] - arm[s]) / (floor[s] - dense[s]) for s in sorted(set(arm) & set(dense) & set(floor))
            if floor[s] != dense[s]}


@dataclass(frozen=True)
class Criterion:
    """What "preserves quality" means, fixed in the study definition before any run:
    ``R >= threshold`` in every one of at least ``min_seeds`` seeds."""
    threshold: float = 0.95
    min_seeds: int = 5

    def describe(self) -> str:
        return (f"preserves quality: R >= {self.threshold:g} in every seed "
                f"(at least {self.min_seeds} paired seeds)")

    def verdict(self, r: dict) -> str:
        """``"pass"``, ``"fail"`` or ``"n/a"`` (too few seeds) for per-seed R values."""
        if len(r) < self.min_seeds:
            return "n/a"
        return "pass" if min(r.values()) >= self.threshold else "fail"
