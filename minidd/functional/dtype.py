"""Copies and casts: ``clone`` (a differentiable copy) and ``astype`` (a differentiable cast)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ._util import as_tensor


class Clone(Function):
    """A copy of ``x`` with its own memory; the gradient passes through unchanged."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


class Astype(Function):
    """``x`` cast to a floating dtype; the gradient is cast back to ``x``'s dtype."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype, copy=False)


def clone(x):
    """A copy of ``x`` that stays in the graph (PyTorch's ``clone``)."""
    return Clone.apply(as_tensor(x))


def astype(x, dtype):
    """``x`` cast to the floating ``dtype`` (float16, float32, float64), differentiably; the
    same tensor when it already has that dtype (as PyTorch's ``x.float()`` on a float tensor)."""
    x = as_tensor(x)
    try:
        want = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"astype: dtype {dtype!r} is not a NumPy dtype (e.g. numpy.float32)") from None
    if want.kind != "f":
        raise TypeError(f"astype: dtype must be floating (float16, float32, float64), got {want}; "
                        "integer data is not differentiable: use np.asarray(x).astype(...)")
    if x.dtype == want:
        return x
    if x.dtype.kind != "f":
        from ..autograd import Tensor
        return Tensor(x.data.astype(want))
    return Astype.apply(x, dtype=want)
