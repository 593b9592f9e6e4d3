"""A tap: the identity, whose backward hands the gradient flowing through it to a callback."""
from __future__ import annotations

from ..autograd import Function
from ._util import as_tensor


class Tap(Function):
    """``y = x``; backward calls ``callback(grad)`` and passes ``grad`` on unchanged."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, callback):
        ctx.callback = callback
        return x

    @staticmethod
    def backward(ctx, g):
        ctx.callback(g)
        return g


def tap(x, callback):
    """``x`` unchanged; ``callback(grad)`` receives the gradient with respect to it during
    backward (for probes that compare input gradients, such as
    :func:`minidd.stash.gradient_fidelity`).  Nothing is stashed."""
    if not callable(callback):
        raise TypeError(f"tap: callback must be callable, got {type(callback).__name__}")
    return Tap.apply(as_tensor(x), callback=callback)
