"""Attention's ops: the score product under its own name, and the probabilities, dropout and
product with V as one op (a lossless stash reduction).

The unfused chain ``matmul(dropout(softmax(scores)), v)`` stashes three T x T arrays per head:
the probabilities (softmax's backward), the dropout mask and the dropout output (the product's
weight-like operand).  :func:`attention_context` keeps the probabilities once and the mask as
bits, and rebuilds the dropout output in backward.  It draws the mask exactly as
:func:`~minidd.functional.dropout` does, so outputs and gradients are bit-identical to the
chain's.  Attention modules use it when the active policy's ``lossless`` includes
``"attention"``.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..stash.roles import EXACT, INDEX
from ._util import as_tensor
from .activation import check_mask, dropout_mask, softmax_array, softmax_grad
from .linalg import MatMul


class AttentionScores(MatMul):
    """The score product ``Q K^T``: a :class:`~minidd.functional.linalg.MatMul` under its own
    name, so that a stash policy can tell its Q and K (``info.op == "attention_scores"``) from
    the operands of other products."""

    name = "attention_scores"


class AttentionContext(Function):
    """``dropout(softmax(scores, -1), p) @ v`` over matching leading (batch, head) dims."""

    name = "attention_context"
    arg_names = ("scores", "v")

    @staticmethod
    def forward(ctx, scores, v, p, rng, mask=None):
        if scores.ndim < 2 or v.ndim != scores.ndim or scores.shape[:-2] != v.shape[:-2] \
                or scores.shape[-1] != v.shape[-2]:
            raise ValueError(f"attention_context: scores (..., T, S) and v (..., S, dh) must share "
                             f"their leading dims and S, got {scores.shape} and {v.shape}")
        probs = softmax_array(scores, -1, mask)
        ctx.p, ctx.shape = p, probs.shape
        a = probs
        if p > 0:
            mask = dropout_mask(probs.shape, p, rng)
            a = probs * mask
            a *= probs.dtype.type(1.0 / (1.0 - p))
            ctx.save(np.packbits(mask, axis=None), role=INDEX)
            del mask
        ctx.save(probs, role=EXACT)
        if ctx.needs_input_grad[0]:
            ctx.save(v, role=EXACT)
        return np.matmul(a, v)

    @staticmethod
    def backward(ctx, g):
        saved = list(ctx.saved)
        mask = None
        if ctx.p > 0:
            n = int(np.prod(ctx.shape))
            mask = np.unpackbits(saved.pop(0), count=n).reshape(ctx.shape).view(np.bool_)
        probs = saved.pop(0)
        scale = g.dtype.type(1.0 / (1.0 - ctx.p))
        gs = gv = None
        if ctx.needs_input_grad[1]:
            a = probs if mask is None else probs * mask
            if mask is not None:
                a *= probs.dtype.type(1.0 / (1.0 - ctx.p))
            gv = np.matmul(np.swapaxes(a, -1, -2), g)
        if ctx.needs_input_grad[0]:
            ga = np.matmul(g, np.swapaxes(saved.pop(0), -1, -2))
            if mask is not None:
                ga *= mask
                ga *= scale
            gs = softmax_grad(ga, probs, -1)
        return gs, gv


def attention_context(scores, v, p=0.0, rng=None, training=True, mask=None):
    """``dropout(softmax(scores, mask=mask), p) @ v`` with the compact stash (see the module
    docstring); ``p`` and ``rng`` as :func:`~minidd.functional.dropout`'s (no dropout when not
    ``training``), ``mask`` as :func:`~minidd.functional.softmax`'s."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"attention_context: p must be a number in [0, 1), got {p!r}")
    p = float(p) if training else 0.0
    if p > 0 and not isinstance(rng, np.random.Generator):
        raise TypeError(f"attention_context: rng must be a numpy.random.Generator, "
                        f"got {type(rng).__name__}")
    scores = as_tensor(scores)
    if mask is not None:
        mask = check_mask(mask, scores, "attention_context")
    return AttentionContext.apply(scores, as_tensor(v), p=p, rng=rng, mask=mask)


def attention_scores(q, kt):
    """``q @ kt`` (``kt`` is K transposed) as the :class:`AttentionScores` op."""
    return AttentionScores.apply(as_tensor(q), as_tensor(kt))
