"""Matrix products: batched ``matmul`` and the ``linear`` layer op (where deferred dropout acts)."""
from __future__ import annotations

import warnings

import numpy as np

from ..autograd import Function
from ..stash.roles import EXACT, PARAMETER, WEIGHT_GRAD_INPUT
from ..stash.weight_grad import sparse_weight_grad
from ._util import as_tensor, unbroadcast
from .shape import Transpose


def is_weight(t) -> bool:
    """True for a :class:`~minidd.nn.Parameter` (a leaf marked ``is_parameter``) or its
    transpose ``W.T``: the ``b`` of ``x @ W`` that makes ``x`` a weight-gradient input."""
    node = getattr(t, "_node", None)
    if node is not None and node.fn is Transpose and len(node.parents) == 1:
        t = node.parents[0]
    return getattr(t, "is_parameter", False) and getattr(t, "_node", True) is None


def _note_left_weight(a, b) -> None:
    """``W @ x`` by a parameter: its ``x`` stays exact; say so once (stash.md explains)."""
    global _warned_left
    if not _warned_left and is_weight(a) and not is_weight(b):
        _warned_left = True
        warnings.warn("matmul: W @ x with a parameter W on the left gives the stash no "
                      "weight-gradient input (x is kept exact, deferred dropout cannot act on "
                      "it); write x @ W, x @ W.T or F.linear(x, W) (see docs/stash.md)",
                      UserWarning, stacklevel=3)


_warned_left = False


class MatMul(Function):
    """``a @ b`` as NumPy does it: leading (batch) dims broadcast; a 1-D ``a`` is a row vector
    and a 1-D ``b`` a column vector, their added axis dropped from the result (so vector @
    vector is a 0-d dot product).  ``x @ W`` by a 2-D parameter ``W`` (or ``W.T``) saves ``x``
    as a weight-gradient input, as :class:`Linear` does."""

    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b):
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 0 or b.ndim == 0 or a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: a of shape {a.shape} and b of shape {b.shape} do not chain: "
                             "both need at least 1 dim and a.shape[-1] == b.shape[-2] "
                             "(b.shape[0] for a 1-D b)")
        try:
            np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch dims of a {a.shape[:-2]} and b {b.shape[:-2]} "
                             "do not broadcast") from None
        need = ctx.needs_input_grad
        ctx.shapes = (a.shape, b.shape, a2.shape, b2.shape)
        ctx.save(b if need[0] else None, role=EXACT)
        if need[1] and b.ndim == 2 and is_weight(ctx._inputs[1]):
            # x @ W by a parameter: x is read only by dW = x^T dY, as linear's input
            ctx.save(a, role=WEIGHT_GRAD_INPUT, row_size=b.shape[0])
        else:
            ctx.save(a if need[1] else None, role=EXACT)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        need, (sa, sb, sa2, sb2) = ctx.needs_input_grad, ctx.shapes
        if len(sb) == 1:
            g = np.expand_dims(g, -1)
        if len(sa) == 1:
            g = np.expand_dims(g, -2)
        b, a = ctx.saved
        ga = gb = None
        if need[0]:
            b2 = b.reshape(sb2)
            ga = unbroadcast(np.matmul(g, np.swapaxes(b2, -1, -2)), sa2).reshape(sa)
        if need[1]:
            a2 = a.reshape(sa2)
            gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g), sb2).reshape(sb)
        return ga, gb


class Linear(Function):
    """``y = x W^T + b`` with ``W`` of shape (out, in), as in PyTorch.

    ``x`` is saved with role ``WEIGHT_GRAD_INPUT``: it is read only by ``dW = dY^T X``, so a
    deferred-dropout stash may sparsify it; ``dX = dY W`` reads only the weight.
    """

    arg_names = ("x", "weight", "bias")

    @staticmethod
    def forward(ctx, x, w, b=None):
        if w.ndim != 2 or x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: x of shape {x.shape} does not fit weight of shape {w.shape}: "
                             "weight must be (out_features, in_features) with in_features == x.shape[-1]")
        if b is not None and b.shape != (w.shape[0],):
            raise ValueError(f"linear: bias has shape {b.shape}, expected ({w.shape[0]},)")
        need = ctx.needs_input_grad
        ctx.save(x if need[1] else None, role=WEIGHT_GRAD_INPUT, row_size=w.shape[1])
        ctx.save(w if need[0] else None, role=PARAMETER)
        ctx.x_shape = x.shape
        y = np.matmul(x.reshape(-1, w.shape[1]), w.T)
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        entry, w_entry = ctx.saved_entries
        g2 = g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if need[1]:
            gw = sparse_weight_grad(entry, g2)  # from the sparse form when that is faster
            if gw is None:
                x = entry.unpack()
                gw = g2.T @ x.reshape(-1, x.shape[-1])
        if need[0]:
            gx = (g2 @ w_entry.unpack()).reshape(ctx.x_shape)
        if len(need) > 2 and need[2]:
            gb = g2.sum(axis=0)
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)


def matmul(a, b):
    """Matrix product as :func:`numpy.matmul`: broadcasting batch dims, 1-D operands as vectors.

    ``x @ W`` by a 2-D parameter (or ``x @ W.T``) is a linear layer for the stash: ``x`` is a
    weight-gradient input; ``W @ x`` warns once that it is not."""
    a, b = as_tensor(a), as_tensor(b)
    _note_left_weight(a, b)
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """``x @ weight.T + bias``; ``weight`` is (out_features, in_features)."""
    args = (as_tensor(x), as_tensor(weight)) + (() if bias is None else (as_tensor(bias),))
    return Linear.apply(*args)
