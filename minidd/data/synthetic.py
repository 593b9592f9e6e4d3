"""Small synthetic tasks for fast tests; every draw comes from the ``rng`` passed in."""
from __future__ import annotations

import numpy as np


def _check(rng, n, who):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{who}: n must be a positive int, got {n!r}")


def gaussian_clusters(n: int, dim: int = 16, classes: int = 4, spread: float = 1.0, *, rng):
    """``n`` points around ``classes`` random centres in ``dim`` dimensions: (x float32, y int64)."""
    _check(rng, n, "gaussian_clusters")
    centres = rng.standard_normal((classes, dim)) * 3.0
    y = rng.integers(0, classes, n)
    x = centres[y] + spread * rng.standard_normal((n, dim))
    return x.astype(np.float32), y.astype(np.int64)


def spirals(n: int, classes: int = 3, noise: float = 0.1, *, rng):
    """Interleaved 2-D spirals, one per class: (x float32 (n, 2), y int64)."""
    _check(rng, n, "spirals")
    y = rng.integers(0, classes, n)
    r = rng.uniform(0.1, 1.0, n)
    theta = 4.0 * r + 2 * np.pi * y / classes
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], 1) + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), y.astype(np.int64)


def marker_sequences(n: int, seq_len: int = 16, vocab: int = 32, *, rng):
    """Token sequences; the label says whether marker token 4 occurs in the sequence.

    Ids start at 5 (0-3 are the specials of :mod:`minidd.data.text`, 4 the marker); position 0
    is [CLS] (2).  A task that attention must look across the sequence to solve.
    Returns (tokens int64 (n, seq_len), mask bool, labels int64).
    """
    _check(rng, n, "marker_sequences")
    tok = rng.integers(5, vocab, (n, seq_len))
    tok[:, 0] = 2
    y = rng.integers(0, 2, n)
    pos = rng.integers(1, seq_len, n)
    tok[np.flatnonzero(y), pos[y == 1]] = 4
    return tok.astype(np.int64), np.ones((n, seq_len), bool), y.astype(np.int64)
