"""MNIST-10k: 10,000 handwritten digits shipped in ``datasets/mnist10k.npz``."""
from __future__ import annotations

import numpy as np

from .files import find
from .split import stratified_split


def load_mnist(seed: int = 0, test_size: int = 2000, flatten: bool = False):
    """A seeded, stratified split of the 10,000 digits (8,000 / 2,000 by default).

    Images are float32 in [0, 1], shape (N, 1, 28, 28), or (N, 784) with ``flatten``; labels
    int64.  Returns ``((x_train, y_train), (x_test, y_test))``.
    """
    if not isinstance(test_size, int) or not 0 < test_size < 10000:
        raise ValueError(f"load_mnist: test_size must be an int in (0, 10000), got {test_size!r}")
    with np.load(find("mnist10k.npz")) as f:
        images, labels = f["images"], f["labels"].astype(np.int64)
    x = (images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    if flatten:
        x = x.reshape(len(x), -1)
    train, test = stratified_split(labels, test_size / len(labels), np.random.default_rng(seed))
    return (x[train], labels[train]), (x[test], labels[test])
