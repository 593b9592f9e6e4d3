"""Seeded, stratified train/test splits."""
from __future__ import annotations

import numbers

import numpy as np


def stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Indices ``(train, test)``: each class contributes ``round(test_fraction * count)`` to the
    test set; both index arrays come out shuffled."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real) \
            or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"stratified_split: test_fraction must be in (0, 1), got {test_fraction!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"stratified_split: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"stratified_split: labels must be a non-empty 1-D array, got shape {labels.shape}")
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_test = int(round(test_fraction * idx.size))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    train, test = np.concatenate(train), np.concatenate(test)
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test
