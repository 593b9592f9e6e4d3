"""MNIST-1D: 5,000 procedurally generated 1-D digit signals shipped in ``datasets/mnist1d.npz``.

Greydanus and Kobak, "Scaling down deep learning with MNIST-1D" (ICML 2024): signals of length
40 built from ten digit templates, translated, scaled, sheared and noised; the benchmark's
standard split of 4,000 training and 1,000 test signals (provenance in ``datasets/README.md``).
Published test accuracy on this split: logistic regression 32%, MLP 68%, CNN 94%.
"""
from __future__ import annotations

import numpy as np

from .. import _check
from .checks import check_file
from .errors import READ_ERRORS, DataFileError, open_npz
from .files import find
from .split import stratified_split

LENGTH = 40
_SHAPES = {"x": (None, LENGTH), "y": (None,), "x_test": (None, LENGTH), "y_test": (None,)}


def load_mnist1d(validation: int = 0, seed: int = 0):
    """The standard split as float32 signals (N, 40) and int64 labels.

    With ``validation=0`` returns ``((x_train, y_train), (x_test, y_test))`` (4,000 / 1,000).
    With ``validation=n`` a seeded, stratified ``n`` of the 4,000 training signals is carved out
    for tuning and ``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` is returned; the
    test signals are the same either way and are never part of the validation set.
    """
    validation = _check.integer(validation, "load_mnist1d: validation", least=0)
    seed = _check.integer(seed, "load_mnist1d: seed", least=0)
    arrays = read_mnist1d(find("mnist1d.npz"))
    x, y = arrays["x"].astype(np.float32), arrays["y"]
    test = (arrays["x_test"].astype(np.float32), arrays["y_test"])
    if not validation:
        return (x, y), test
    if validation >= len(y):
        raise ValueError(f"load_mnist1d: validation={validation} leaves no training signals out of {len(y)}")
    train, val = stratified_split(y, validation / len(y), np.random.default_rng(seed))
    return (x[train], y[train]), (x[val], y[val]), test


def read_mnist1d(path) -> dict:
    """``{"x", "y", "x_test", "y_test"}`` from an .npz file in the MNIST-1D layout (signals
    (N, 40), labels (N,) in 0..9, labels as int64); a :class:`DataFileError` naming the file
    and the problem otherwise."""
    check_file(path, "read_mnist1d")
    f = open_npz(path, "'x', 'y', 'x_test' and 'y_test'")
    with f:
        missing = [k for k in _SHAPES if k not in f.files]
        if missing:
            raise DataFileError(path, f"has no {missing} entry (it holds {f.files}); expected 'x' and "
                                      f"'x_test' (N, {LENGTH}) floats, 'y' and 'y_test' (N,) in 0..9")
        try:
            out = {k: f[k] for k in _SHAPES}
        except READ_ERRORS as e:
            raise DataFileError(path, f"an entry cannot be read ({type(e).__name__}: {e}); the file is "
                                      "truncated or corrupt") from None
    for xs, ys in (("x", "y"), ("x_test", "y_test")):
        x, y = out[xs], out[ys]
        if x.ndim != 2 or x.shape[1] != LENGTH or x.dtype.kind != "f" or not np.isfinite(x).all():
            raise DataFileError(path, f"{xs!r} is {x.dtype} {x.shape}; expected finite floats (N, {LENGTH})")
        if y.shape != (len(x),) or y.dtype.kind not in "iu" or len(y) == 0:
            raise DataFileError(path, f"{ys!r} is {y.dtype} {y.shape}; expected {len(x)} integers in 0..9")
        if y.min() < 0 or y.max() > 9:
            raise DataFileError(path, f"{ys!r} ranges over {y.min()}..{y.max()}; expected 0..9")
        out[ys] = y.astype(np.int64)
    return out
