"""Losses."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..stash.roles import EXACT, INDEX
from ._util import as_tensor


class CrossEntropy(Function):
    """Mean cross-entropy of ``logits`` (N, C) against integer ``labels`` (N,).

    Fused log-softmax and negative log-likelihood; saves the softmax and the labels.
    """

    name = "cross_entropy"
    arg_names = ("logits", "labels")
    int_args = frozenset({1})

    @staticmethod
    def forward(ctx, logits, labels):
        n = logits.shape[0]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = (np.log(total[:, 0]) - shifted[rows, labels]).mean()
        if ctx.needs_input_grad[0]:
            exp /= total
            ctx.save(exp, role=EXACT)
            ctx.save(labels, role=INDEX)
        return np.asarray(loss, dtype=logits.dtype)

    @staticmethod
    def backward(ctx, g):
        probs, labels = ctx.saved
        d = probs.copy()
        d[np.arange(d.shape[0]), labels] -= 1
        d *= g / d.shape[0]
        return d, None


def cross_entropy(logits, labels):
    """Mean cross-entropy over a batch; ``labels`` are class indices in [0, C)."""
    logits = as_tensor(logits)
    y = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    n, c = logits.shape
    if y.dtype.kind not in "iu" or y.shape != (n,):
        raise ValueError(f"cross_entropy: labels must be integers of shape ({n},), got "
                         f"dtype {y.dtype} with shape {y.shape}")
    if n == 0:
        raise ValueError("cross_entropy: empty batch")
    if y.min() < 0 or y.max() >= c:
        raise ValueError(f"cross_entropy: labels must be in [0, {c}), got values in "
                         f"[{y.min()}, {y.max()}]")
    return CrossEntropy.apply(logits, y)
