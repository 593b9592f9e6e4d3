"""MNIST-10k: 10,000 handwritten digits shipped in ``datasets/mnist10k.npz``."""
from __future__ import annotations

import numpy as np

from .. import _check
from .checks import check_file
from .errors import READ_ERRORS, DataFileError, open_npz
from .files import find
from .split import stratified_split


def load_mnist(seed: int = 0, test_size: int = 2000, flatten: bool = False):
    """A seeded, stratified split of the 10,000 digits (8,000 / 2,000 by default).

    Images are float32 in [0, 1], shape (N, 1, 28, 28), or (N, 784) with ``flatten``; labels
    int64.  Returns ``((x_train, y_train), (x_test, y_test))``.
    """
    _check.integer(test_size, "load_mnist: test_size", 1, 9999, form="an int in (0, 10000)")
    seed = _check.integer(seed, "load_mnist: seed", least=0)
    images, labels = read_mnist(find("mnist10k.npz"))
    if test_size >= len(labels):
        raise ValueError(f"load_mnist: test_size={test_size} leaves no training images out of {len(labels)}")
    x = (images.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    if flatten:
        x = x.reshape(len(x), -1)
    train, test = stratified_split(labels, test_size / len(labels), np.random.default_rng(seed))
    return (x[train], labels[train]), (x[test], labels[test])


def read_mnist(path):
    """``(images uint8 (N, 28, 28), labels int64 (N,))`` from an .npz file with those entries;
    a :class:`DataFileError` naming the file and the problem otherwise."""
    check_file(path, "read_mnist")
    f = open_npz(path, "'images' and 'labels'")
    with f:
        missing = [k for k in ("images", "labels") if k not in f.files]
        if missing:
            raise DataFileError(path, f"has no {missing} entry (it holds {f.files}); expected 'images' "
                                      "(N, 28, 28) uint8 and 'labels' (N,) in 0..9")
        try:
            images, labels = f["images"], f["labels"]
        except READ_ERRORS as e:
            raise DataFileError(path, f"an entry cannot be read ({type(e).__name__}: {e}); the file is "
                                      "truncated or corrupt") from None
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataFileError(path, f"'images' is {images.dtype} {images.shape}; expected uint8 (N, 28, 28)")
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu" or len(labels) == 0:
        raise DataFileError(path, f"'labels' is {labels.dtype} {labels.shape}; expected {len(images)} "
                                  "integers in 0..9, one per image")
    if labels.min() < 0 or labels.max() > 9:
        raise DataFileError(path, f"'labels' range over {labels.min()}..{labels.max()}; expected 0..9")
    return images, labels.astype(np.int64)
