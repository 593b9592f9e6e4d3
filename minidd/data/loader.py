"""Seeded mini-batches over arrays that share their first dimension."""
from __future__ import annotations

import math

import numpy as np

from .. import _check


class BatchIterator:
    """Iterate ``(arrays...)`` in batches; a new seeded permutation each epoch when ``shuffle``.

    ``BatchIterator((x, y), 64, rng=np.random.default_rng(0))``; ``len()`` is batches per epoch.
    """

    def __init__(self, arrays, batch_size: int, *, rng=None, shuffle: bool = True, drop_last: bool = False):
        if isinstance(arrays, np.ndarray):
            raise TypeError("BatchIterator: arrays must be a tuple of arrays, such as (x, y), got a single "
                            "ndarray; wrap it: (x,)")
        arrays = tuple(arrays)
        if not arrays:
            raise ValueError("BatchIterator: needs at least one array")
        for i, a in enumerate(arrays):
            if not isinstance(a, np.ndarray) or a.ndim == 0:
                raise TypeError(f"BatchIterator: array {i} must be a numpy.ndarray with one row per example, "
                                f"got {type(a).__name__ if not isinstance(a, np.ndarray) else 'a 0-d array'}")
        n = len(arrays[0])
        for i, a in enumerate(arrays):
            if len(a) != n:
                raise ValueError(f"BatchIterator: array {i} has {len(a)} rows, array 0 has {n}")
        batch_size = _check.positive_int(batch_size, "BatchIterator: batch_size")
        if shuffle and not isinstance(rng, np.random.Generator):
            raise TypeError("BatchIterator: shuffle=True needs rng=numpy.random.Generator")
        self.arrays, self.n, self.batch_size = arrays, n, batch_size
        self.rng, self.shuffle, self.drop_last = rng, shuffle, drop_last

    def __len__(self):
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = self.order()
        for b in range(len(self)):
            yield self.batch(order, b)

    def order(self) -> np.ndarray:
        """The example order of one epoch: a fresh permutation drawn from ``rng`` when shuffling."""
        return self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def batch(self, order: np.ndarray, b: int) -> tuple:
        """Batch ``b`` of the epoch whose example order is ``order`` (so training can stop and
        resume in the middle of an epoch)."""
        idx = order[b * self.batch_size:(b + 1) * self.batch_size]
        return tuple(a[idx] for a in self.arrays)
