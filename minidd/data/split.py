"""Seeded, stratified train/test splits."""
from __future__ import annotations

import numpy as np

from .. import _check


def stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """Indices ``(train, test)``: each class contributes ``round(test_fraction * count)`` to the
    test set; both index arrays come out shuffled."""
    _check.number(test_fraction, "stratified_split: test_fraction", 0, 1, low_open=True,
                  high_open=True, form="in (0, 1)")
    _check.rng(rng, "stratified_split: rng")
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
