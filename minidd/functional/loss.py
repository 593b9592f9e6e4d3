"""Losses, with PyTorch's names, arguments and reductions (``"mean"``, ``"sum"``, ``"none"``)."""
from __future__ import annotations

import numpy as np

from .. import _check
from ..autograd import Function, Tensor
from ..stash.roles import EXACT, INDEX
from ._util import as_tensor, operands

REDUCTIONS = ("mean", "sum", "none")


def _reduce(per, reduction, count):
    if reduction == "none":
        return per
    total = per.sum()
    return total / count if reduction == "mean" else total


def _spread(g, reduction, count, ndim):
    """The upstream gradient as a per-element factor (broadcastable against the input)."""
    if reduction == "none":
        return g.reshape(g.shape + (1,) * (ndim - g.ndim))
    return g / count if reduction == "mean" else g


class CrossEntropy(Function):
    """Cross-entropy of ``logits`` (N, C) against integer ``labels`` (N,), PyTorch's semantics.

    Fused log-softmax and negative log-likelihood; saves the softmax and the labels.  Rows whose
    label is ``ignore_index`` contribute nothing; ``label_smoothing`` ``s`` mixes the one-hot
    target with the uniform one, ``(1 - s) onehot + s / C``; ``"mean"`` divides by the number of
    rows not ignored (NaN when every row is ignored, as in PyTorch).
    """

    name = "cross_entropy"
    arg_names = ("logits", "labels")
    int_args = frozenset({1})

    @staticmethod
    def forward(ctx, logits, labels, ignore_index, smoothing, reduction):
        n, c = logits.shape
        valid = labels != ignore_index
        rows = np.arange(n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        logz = np.log(total[:, 0])
        per = logz - shifted[rows, np.where(valid, labels, 0)]
        if smoothing:
            per = (1 - smoothing) * per + smoothing * (logz - shifted.mean(axis=1))
        per = np.where(valid, per, 0)
        count = int(valid.sum())
        ctx.ignore_index, ctx.smoothing, ctx.reduction, ctx.count = ignore_index, smoothing, reduction, count
        if ctx.needs_input_grad[0]:
            exp /= total
            ctx.save(exp, role=EXACT)
            ctx.save(labels, role=INDEX)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(_reduce(per, reduction, count), dtype=logits.dtype)

    @staticmethod
    def backward(ctx, g):
        probs, labels = ctx.saved
        n, c = probs.shape
        valid = labels != ctx.ignore_index
        d = probs.copy()
        rows = np.flatnonzero(valid)
        d[rows, labels[rows]] -= 1 - ctx.smoothing
        if ctx.smoothing:
            d -= ctx.smoothing / c
        if rows.size < n:
            d[~valid] = 0
        with np.errstate(invalid="ignore", divide="ignore"):
            d *= _spread(g, ctx.reduction, ctx.count, 2)
        return d, None


class NLLLoss(Function):
    """Negative log-likelihood of ``log_probs`` (N, C) at integer ``labels`` (N,); rows labelled
    ``ignore_index`` are skipped and ``"mean"`` divides by the rows kept."""

    name = "nll_loss"
    arg_names = ("log_probs", "labels")
    int_args = frozenset({1})

    @staticmethod
    def forward(ctx, log_probs, labels, ignore_index, reduction):
        valid = labels != ignore_index
        picked = log_probs[np.arange(labels.shape[0]), np.where(valid, labels, 0)]
        per = np.where(valid, -picked, 0).astype(log_probs.dtype, copy=False)
        count = int(valid.sum())
        ctx.ignore_index, ctx.reduction, ctx.count, ctx.shape = ignore_index, reduction, count, log_probs.shape
        if ctx.needs_input_grad[0]:
            ctx.save(labels, role=INDEX)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(_reduce(per, reduction, count), dtype=log_probs.dtype)

    @staticmethod
    def backward(ctx, g):
        (labels,) = ctx.saved
        rows = np.flatnonzero(labels != ctx.ignore_index)
        d = np.zeros(ctx.shape, dtype=g.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.broadcast_to(_spread(g, ctx.reduction, ctx.count, 1), (ctx.shape[0],))
        d[rows, labels[rows]] = -scale[rows]
        return d, None


class MSELoss(Function):
    """Mean (or summed) squared difference of two tensors of one shape; saves the difference."""

    name = "mse_loss"
    arg_names = ("input", "target")

    @staticmethod
    def forward(ctx, a, b, reduction):
        diff = a - b
        ctx.reduction, ctx.count = reduction, diff.size
        if any(ctx.needs_input_grad):
            ctx.save(diff, role=EXACT)
        return np.asarray(_reduce(diff * diff, reduction, diff.size), dtype=diff.dtype)

    @staticmethod
    def backward(ctx, g):
        (diff,) = ctx.saved
        d = 2 * diff * _spread(g, ctx.reduction, ctx.count, 0)
        need = ctx.needs_input_grad
        return (d if need[0] else None, -d if need[1] else None)


class BCEWithLogits(Function):
    """Binary cross-entropy of a sigmoid of ``logits`` against ``target`` in [0, 1], computed
    stably from the logits: ``max(x, 0) - x t + log(1 + exp(-|x|))``."""

    name = "binary_cross_entropy_with_logits"
    arg_names = ("logits", "target")

    @staticmethod
    def forward(ctx, x, t, reduction):
        per = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
        ctx.reduction, ctx.count = reduction, per.size
        if any(ctx.needs_input_grad):
            ctx.save(x, role=EXACT)
            ctx.save(t, role=EXACT)
        return np.asarray(_reduce(per, reduction, per.size), dtype=per.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved
        scale = _spread(g, ctx.reduction, ctx.count, 0)
        need = ctx.needs_input_grad
        gx = gt = None
        if need[0]:
            e = np.exp(-np.abs(x))  # sigmoid without overflow
            sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
            gx = (sig - t) * scale
        if need[1]:
            gt = -x * scale
        return gx, gt


def _check_reduction(reduction, op):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _labels(labels, n, c, ignore_index, op):
    y = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if y.dtype.kind not in "iu" or y.shape != (n,):
        raise ValueError(f"{op}: labels must be integers of shape ({n},), got "
                         f"dtype {y.dtype} with shape {y.shape}"
                         + ("; Tensor(list) is float32: pass an integer ndarray (np.array([...]))"
                            if isinstance(labels, Tensor) and y.dtype == np.float32 else ""))
    kept = y[y != ignore_index]
    if kept.size and (kept.min() < 0 or kept.max() >= c):
        raise ValueError(f"{op}: labels must be in [0, {c}) or equal to ignore_index "
                         f"({ignore_index}), got values in [{kept.min()}, {kept.max()}]")
    return y


def _check_2d(x, op, what):
    if x.ndim != 2:
        raise ValueError(f"{op}: {what} must be (N, C), got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{op}: empty batch")


def cross_entropy(logits, labels, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy over a batch; ``labels`` are class indices in [0, C) or ``ignore_index``.

    As :func:`torch.nn.functional.cross_entropy` for (N, C) logits: ``"mean"`` averages over the
    rows not ignored, ``label_smoothing`` in [0, 1] mixes in the uniform target."""
    logits = as_tensor(logits)
    _check_2d(logits, "cross_entropy", "logits")
    _check_reduction(reduction, "cross_entropy")
    label_smoothing = _check.number(label_smoothing, "cross_entropy: label_smoothing", 0.0, 1.0)
    n, c = logits.shape
    y = _labels(labels, n, c, ignore_index, "cross_entropy")
    return CrossEntropy.apply(logits, y, ignore_index=int(ignore_index),
                              smoothing=float(label_smoothing), reduction=reduction)


def nll_loss(log_probs, labels, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of (N, C) log-probabilities (``log_softmax`` output) at the
    integer ``labels``; ``"mean"`` averages over the rows not labelled ``ignore_index``."""
    log_probs = as_tensor(log_probs)
    _check_2d(log_probs, "nll_loss", "log_probs")
    _check_reduction(reduction, "nll_loss")
    n, c = log_probs.shape
    y = _labels(labels, n, c, ignore_index, "nll_loss")
    return NLLLoss.apply(log_probs, y, ignore_index=int(ignore_index), reduction=reduction)


def _pair(a, b, op, names):
    a, b = operands(a, b, op)  # a plain array or number becomes a constant of the tensor's dtype
    a, b = as_tensor(a), as_tensor(b)
    if a.shape != b.shape:
        raise ValueError(f"{op}: {names[0]} of shape {a.shape} and {names[1]} of shape {b.shape} "
                         "must have the same shape")
    if b.dtype.kind != "f":
        b = Tensor(b.data.astype(a.dtype))
    return a, b


def mse_loss(input, target, reduction="mean"):
    """Squared error ``(input - target) ** 2``, averaged (or summed) over every element."""
    _check_reduction(reduction, "mse_loss")
    return MSELoss.apply(*_pair(input, target, "mse_loss", ("input", "target")), reduction=reduction)


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """Binary cross-entropy of ``sigmoid(logits)`` against ``target`` (probabilities in [0, 1],
    same shape), computed stably from the logits."""
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    return BCEWithLogits.apply(*_pair(logits, target, "binary_cross_entropy_with_logits",
                                      ("logits", "target")), reduction=reduction)
