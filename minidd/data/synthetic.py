"""Small synthetic tasks for fast tests; every draw comes from the ``rng`` passed in."""
from __future__ import annotations

import numpy as np

from .checks import check_int, check_nonneg, check_rng


def gaussian_clusters(n: int, dim: int = 16, classes: int = 4, spread: float = 1.0, *, rng):
    """``n`` points around ``classes`` random centres in ``dim`` dimensions: (x float32, y int64)."""
    who = "gaussian_clusters"
    check_rng(rng, who)
    n, dim, classes = (check_int(v, k, who, 1) for k, v in (("n", n), ("dim", dim), ("classes", classes)))
    spread = check_nonneg(spread, "spread", who)
    centres = rng.standard_normal((classes, dim)) * 3.0
    y = rng.integers(0, classes, n)
    x = centres[y] + spread * rng.standard_normal((n, dim))
    return x.astype(np.float32), y.astype(np.int64)


def spirals(n: int, classes: int = 3, noise: float = 0.1, *, rng):
    """Interleaved 2-D spirals, one per class: (x float32 (n, 2), y int64)."""
    check_rng(rng, "spirals")
    n, classes = check_int(n, "n", "spirals", 1), check_int(classes, "classes", "spirals", 1)
    noise = check_nonneg(noise, "noise", "spirals")
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
    who = "marker_sequences"
    check_rng(rng, who)
    n, seq_len = check_int(n, "n", who, 1), check_int(seq_len, "seq_len", who, 2)
    vocab = check_int(vocab, "vocab", who, 6)   # ids 5.. are ordinary words: at least one
    tok = rng.integers(5, vocab, (n, seq_len))
    tok[:, 0] = 2
    y = rng.integers(0, 2, n)
    pos = rng.integers(1, seq_len, n)
    tok[np.flatnonzero(y), pos[y == 1]] = 4
    return tok.astype(np.int64), np.ones((n, seq_len), bool), y.astype(np.int64)
