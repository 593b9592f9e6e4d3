"""Small synthetic tasks for fast tests; every draw comes from the ``rng`` passed in."""
from __future__ import annotations

import numpy as np

from .. import _check


def gaussian_clusters(n: int, dim: int = 16, classes: int = 4, spread: float = 1.0, *, rng):
    """``n`` points around ``classes`` random centres in ``dim`` dimensions: (x float32, y int64)."""
    who = "gaussian_clusters"
    _check.rng(rng, f"{who}: rng")
    n, dim, classes = (_check.integer(v, f"{who}: {k}", least=1)
                       for k, v in (("n", n), ("dim", dim), ("classes", classes)))
    spread = _check.number(spread, f"{who}: spread", 0)
    centres = rng.standard_normal((classes, dim)) * 3.0
    y = rng.integers(0, classes, n)
    x = centres[y] + spread * rng.standard_normal((n, dim))
    return x.astype(np.float32), y.astype(np.int64)


def spirals(n: int, classes: int = 3, noise: float = 0.1, *, rng):
    """Interleaved 2-D spirals, one per class: (x float32 (n, 2), y int64)."""
    _check.rng(rng, "spirals: rng")
    n, classes = _check.integer(n, "spirals: n", least=1), _check.integer(classes, "spirals: classes", least=1)
    noise = _check.number(noise, "spirals: noise", 0)
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
    _check.rng(rng, f"{who}: rng")
    n, seq_len = _check.integer(n, f"{who}: n", least=1), _check.integer(seq_len, f"{who}: seq_len", least=2)
    vocab = _check.integer(vocab, f"{who}: vocab", least=6)   # ids 5.. are ordinary words: at least one
    tok = rng.integers(5, vocab, (n, seq_len))
    tok[:, 0] = 2
    y = rng.integers(0, 2, n)
    pos = rng.integers(1, seq_len, n)
    tok[np.flatnonzero(y), pos[y == 1]] = 4
    return tok.astype(np.int64), np.ones((n, seq_len), bool), y.astype(np.int64)
