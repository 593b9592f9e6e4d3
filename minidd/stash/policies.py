"""Stash policies: how an array saved for backward is kept until backward reads it.

* :class:`Dense` keeps every array as it is: the reference.
* :class:`ZeroValue` is the prior-work baseline (cDMA-style zero-value compression): lossless,
  a bitmap plus the non-zero values, dense where that is smaller.  It gains only where
  activations are exactly zero (after ReLU).
* :class:`DeferredDropout` is the paper's method: the forward pass has already run densely;
  each weight-gradient input keeps only its largest magnitudes, stored sparsely.  Every other
  array is stored exactly as :class:`ZeroValue` stores it, so the policy never loses to it.
"""
from __future__ import annotations

import fnmatch
import math

import numpy as np

from . import roles as R
from .entries import (VALUE_DTYPES, DenseEntry, PackedMaskEntry, StashEntry, pack_sparse,
                      sparse_bytes)


class StashPolicy:
    """Interface: ``pack`` an array into a :class:`~minidd.stash.entries.StashEntry`.

    ``pack(array, role, scope, row_size)`` is called once per distinct saved array; the entry's
    ``unpack()`` rebuilds what backward reads.  ``set_step`` lets scheduled policies follow the
    training step.  ``config()`` describes the policy as plain data (for result files).
    """

    name = "policy"

    def pack(self, array: np.ndarray, role: str, scope: R.Scope, row_size: int | None) -> StashEntry:
        raise NotImplementedError

    def set_step(self, step: int) -> None:
        """Tell the policy which training step the next forward pass belongs to."""

    def config(self) -> dict:
        return {"policy": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "policy")
        return f"{type(self).__name__}({args})"


class Dense(StashPolicy):
    """Keep every saved array as it is (by reference, made read-only while stashed)."""

    name = "dense"

    def pack(self, array, role, scope, row_size):
        return DenseEntry(array)


def zero_value_pack(array: np.ndarray) -> StashEntry:
    """Lossless zero-value compression of one array.

    Boolean masks are packed eight to a byte; floating arrays become a bitmap plus the
    non-zero values, or stay dense where that is smaller; integer arrays stay dense.
    NaN and Inf are ordinary non-zero values here and round-trip exactly.
    """
    n = array.size
    if array.dtype == np.bool_:
        return PackedMaskEntry(array) if (n + 7) // 8 < n else DenseEntry(array)
    if array.dtype.kind != "f" or n == 0:
        return DenseEntry(array)
    nonzero_mask = array.reshape(-1) != 0
    nnz = int(np.count_nonzero(nonzero_mask))
    if (n + 7) // 8 + nnz * array.dtype.itemsize >= array.nbytes:
        return DenseEntry(array, nonzero=nnz)
    return pack_sparse(array, nonzero_mask, nonzero=nnz, fmt="bitmap")


class ZeroValue(StashPolicy):
    """The baseline: cDMA-style zero-value compression of every saved activation."""

    name = "zero_value"

    def pack(self, array, role, scope, row_size):
        if role == R.PARAMETER:
            return DenseEntry(array)
        return zero_value_pack(array)


class DeferredDropout(StashPolicy):
    """Deferred dropout: keep the largest-magnitude part of each weight-gradient input.

    Parameters
    ----------
    drop:
        Fraction of each weight-gradient input to drop, in [0, 1).  ``k = ceil((1 - drop) n)``
        elements are kept (per tensor or per row), never more than the tensor's non-zeros.
        ``drop=0`` stores losslessly and gives gradients bit-identical to :class:`Dense`.
    granularity:
        ``"tensor"`` (default): one top-k over the whole tensor.  ``"row"``: top-k of every row
        (a token's features for linear layers, a sample's feature map for convolutions).
    value_dtype:
        Precision of the stored values: ``"float32"`` (default, the array's own precision),
        ``"float16"`` or ``"bfloat16"`` (kept as uint16, round-to-nearest-even).
    selection:
        ``"exact"`` (default): exact top-k, ties at the threshold broken by lowest index.
        ``"sample"``: a hardware-friendly threshold estimated from ``sample_size`` elements drawn
        with ``rng``; the entry records how many it actually kept (``kept`` vs ``target_kept``).
    rng:
        ``numpy.random.Generator`` for ``selection="sample"`` (default: ``default_rng(0)``).
    warmup_steps, ramp_steps:
        Schedule over training steps (see :meth:`set_step`): dense for ``warmup_steps``, then a
        linear ramp to ``drop`` over ``ramp_steps``.
    layers:
        ``{pattern: drop}`` per-layer overrides, matched with :func:`fnmatch.fnmatch` against
        the dotted layer name (for example ``{"encoder.0.*": 0.5, "head": 0.0}``).
    keep_marked_dense:
        Leave layers whose scope is marked ``keep_dense`` (by default the models mark their first
        layer, embeddings and classifier head) dense unless ``layers`` names them.
    """

    name = "deferred_dropout"

    def __init__(self, drop: float = 0.9, *, granularity: str = "tensor",
                 value_dtype: str = "float32", selection: str = "exact", sample_size: int = 4096,
                 rng: np.random.Generator | None = None, warmup_steps: int = 0,
                 ramp_steps: int = 0, layers: dict | None = None, keep_marked_dense: bool = True):
        self.drop = _check_drop(drop, "drop")
        if granularity not in ("tensor", "row"):
            raise ValueError(f"DeferredDropout: granularity must be 'tensor' or 'row', got {granularity!r}")
        if value_dtype not in VALUE_DTYPES:
            raise ValueError(f"DeferredDropout: value_dtype must be one of {VALUE_DTYPES}, got {value_dtype!r}")
        if selection not in ("exact", "sample"):
            raise ValueError(f"DeferredDropout: selection must be 'exact' or 'sample', got {selection!r}")
        if not isinstance(sample_size, int) or sample_size < 1:
            raise ValueError(f"DeferredDropout: sample_size must be a positive int, got {sample_size!r}")
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"DeferredDropout: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        for name, v in (("warmup_steps", warmup_steps), ("ramp_steps", ramp_steps)):
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"DeferredDropout: {name} must be a non-negative int, got {v!r}")
        self.layers = {}
        for pattern, d in (layers or {}).items():
            if not isinstance(pattern, str):
                raise TypeError(f"DeferredDropout: layers keys must be str patterns, got {pattern!r}")
            self.layers[pattern] = _check_drop(d, f"layers[{pattern!r}]")
        self.granularity, self.value_dtype, self.selection = granularity, value_dtype, selection
        self.sample_size = sample_size
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.warmup_steps, self.ramp_steps = warmup_steps, ramp_steps
        self.keep_marked_dense = keep_marked_dense
        self.step = 0

    def config(self):
        return {"policy": self.name, "drop": self.drop, "granularity": self.granularity,
                "value_dtype": self.value_dtype, "selection": self.selection,
                "warmup_steps": self.warmup_steps, "ramp_steps": self.ramp_steps,
                "layers": dict(self.layers), "keep_marked_dense": self.keep_marked_dense}

    def set_step(self, step: int) -> None:
        if not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"DeferredDropout.set_step: step must be a non-negative int, got {step!r}")
        self.step = int(step)

    def scheduled_drop(self, step: int | None = None) -> float:
        """The drop rate the schedule gives at ``step`` (default: the current step)."""
        step = self.step if step is None else step
        if step < self.warmup_steps:
            return 0.0
        if self.ramp_steps and step < self.warmup_steps + self.ramp_steps:
            return self.drop * (step - self.warmup_steps + 1) / self.ramp_steps
        return self.drop

    def drop_for(self, scope: R.Scope) -> float:
        """The drop rate for a weight-gradient input saved in ``scope``."""
        for pattern, d in self.layers.items():
            if fnmatch.fnmatchcase(scope.name, pattern):
                return d if self.step >= self.warmup_steps else 0.0
        if scope.keep_dense and self.keep_marked_dense:
            return 0.0
        return self.scheduled_drop()

    def pack(self, array, role, scope, row_size):
        if role == R.PARAMETER:
            return DenseEntry(array)
        if role != R.WEIGHT_GRAD_INPUT or array.dtype.kind != "f" or array.size == 0:
            return zero_value_pack(array)
        drop = self.drop_for(scope)
        if drop == 0.0:
            return zero_value_pack(array)
        return self._sparsify(array, drop, scope, row_size)

    # -- selection ---------------------------------------------------------------------------
    def _sparsify(self, array, drop, scope, row_size):
        n = array.size
        cols = n if self.granularity == "tensor" else (row_size or array.shape[-1])
        if n % cols:
            raise ValueError(f"DeferredDropout: layer {scope.name!r} saved shape {array.shape} "
                             f"whose size is not a multiple of row_size {cols}")
        rows = n // cols
        k = math.ceil((1.0 - drop) * cols)
        mag = np.abs(array).reshape(rows, cols)
        if self.selection == "exact":
            mask = _exact_topk_mask(mag, k, scope.name)
        else:
            mask = self._sampled_mask(mag, k, scope.name)
        nnz = int(np.count_nonzero(mag > 0))  # counting a bool mask is faster than floats
        del mag
        mask = mask.reshape(-1)
        kept = int(np.count_nonzero(mask))
        itemsize = 2 if self.value_dtype != "float32" else array.dtype.itemsize
        _, sparse = sparse_bytes(n, kept, itemsize)
        if sparse >= array.nbytes:  # nothing worth dropping: store the dropped tensor densely
            dense = array if kept == nnz else np.where(mask.reshape(array.shape), array, 0).astype(array.dtype)
            return DenseEntry(dense, nonzero=nnz, kept=kept, target_kept=k * rows)
        return pack_sparse(array, mask, self.value_dtype, nonzero=nnz, target_kept=k * rows)

    def _sampled_mask(self, mag, k, layer):
        rows, cols = mag.shape
        s = min(self.sample_size, cols)
        sample = mag[:, self.rng.integers(0, cols, size=s)]
        kk = min(s - 1, max(0, s - math.ceil(s * k / cols)))
        thr = np.partition(sample, kk, axis=1)[:, kk]
        if np.isnan(thr).any() or np.isnan(mag).any():
            raise _nan_error(layer)
        return mag >= _positive(thr)[:, None]


def _positive(thr: np.ndarray) -> np.ndarray:
    """Thresholds with 0 replaced by the smallest positive value, so zeros are never kept."""
    tiny = np.nextafter(np.zeros((), thr.dtype), np.ones((), thr.dtype))
    return np.maximum(thr, tiny)


def _exact_topk_mask(mag: np.ndarray, k: int, layer: str) -> np.ndarray:
    """Mask of the ``k`` largest entries of each row of ``mag`` (zeros never kept).

    Ties at the threshold are broken by lowest index, so the result is fully determined.
    """
    rows, cols = mag.shape
    kth = cols - k
    part = np.partition(mag, kth, axis=1)
    if np.isnan(part[:, kth:]).any():  # partition sorts NaN above every number
        raise _nan_error(layer)
    thr = part[:, kth]
    del part
    mask = mag >= _positive(thr)[:, None]
    excess = np.count_nonzero(mask, axis=1) - k
    tied_rows = np.flatnonzero(excess > 0)
    if tied_rows.size:  # more than k at or above the threshold: drop the last tied ones
        tied = mag[tied_rows] == thr[tied_rows, None]
        rank_from_end = np.cumsum(tied[:, ::-1], axis=1)[:, ::-1]
        drop = tied & (rank_from_end <= excess[tied_rows, None])
        mask[tied_rows] &= ~drop
    return mask


def _nan_error(layer):
    return FloatingPointError(
        f"DeferredDropout: the weight-gradient input of layer {layer!r} contains NaN, so its "
        "largest magnitudes are undefined; training has probably diverged (lower the learning "
        "rate), or use ZeroValue/Dense, which store NaN losslessly")


def _check_drop(drop, name):
    if isinstance(drop, bool) or not isinstance(drop, (int, float, np.floating)) \
            or not (0.0 <= float(drop) < 1.0):
        raise ValueError(f"DeferredDropout: {name} must be a number in [0, 1), got {drop!r}")
    return float(drop)
