"""Reductions: sum, mean, max, var over an axis, a tuple of axes or everything."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..stash.entries import narrowest_uint
from ..stash.roles import EXACT, INDEX
from ._util import as_tensor, normalize_axes, torch_keywords


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _spread(g, shape, axes, keepdims):
    """Broadcast a reduced gradient back over the reduced axes (a view, no copy)."""
    if not keepdims:
        g = g.reshape(_kept_shape(shape, axes))
    return np.broadcast_to(g, shape)


class Sum(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return np.asarray(x.sum(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _spread(g, ctx.shape, ctx.axes, ctx.keepdims)


class Mean(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return np.asarray(x.mean(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _spread(g / ctx.count, ctx.shape, ctx.axes, ctx.keepdims)


def _extreme(ctx, x, axes, keepdims, op):
    """Forward of max and min: the value and (saved) flat index of the first extreme element."""
    if x.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    moved = np.transpose(x, rest + axes)
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    idx = np.asarray(flat.argmax(axis=-1) if op == "max" else flat.argmin(axis=-1))
    out = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    ctx.shape, ctx.axes, ctx.keepdims, ctx.rest = x.shape, axes, keepdims, rest
    ctx.save(idx.astype(narrowest_uint(flat.shape[-1] - 1)), role=INDEX)
    return out.reshape(_kept_shape(x.shape, axes)) if keepdims else out


class Max(Function):
    """Maximum over axes; the gradient goes to the first maximal element (saved as an index)."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        return _extreme(ctx, x, axes, keepdims, "max")

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved
        shape, axes, rest = ctx.shape, ctx.axes, ctx.rest
        moved_shape = tuple(shape[i] for i in rest) + tuple(shape[i] for i in axes)
        lead = moved_shape[:len(rest)]
        flat = np.zeros(lead + (int(np.prod(moved_shape[len(rest):])),), dtype=g.dtype)
        g_rest = g.reshape(lead)
        np.put_along_axis(flat, idx.astype(np.intp)[..., None], g_rest[..., None], axis=-1)
        return np.transpose(flat.reshape(moved_shape), np.argsort(rest + axes))


class Min(Max):
    """Minimum over axes; the gradient goes to the first minimal element."""

    @staticmethod
    def forward(ctx, x, axes, keepdims):
        return _extreme(ctx, x, axes, keepdims, "min")


class Var(Function):
    """Variance with ``ddof`` delta degrees of freedom: ``ddof=0`` (NumPy's default, the
    population variance) unless asked; PyTorch's ``var`` defaults to ``ddof=1`` (unbiased)."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, axes, keepdims, ddof):
        count = int(np.prod([x.shape[a] for a in axes]))
        if count - ddof <= 0:
            raise ValueError(f"var: ddof={ddof} leaves no degrees of freedom over {count} elements")
        ctx.shape, ctx.axes, ctx.keepdims, ctx.denom = x.shape, axes, keepdims, count - ddof
        ctx.save(x, role=EXACT)
        return np.asarray(x.var(axis=axes, keepdims=keepdims, ddof=ddof))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        centered = x - x.mean(axis=ctx.axes, keepdims=True)
        return _spread(g, ctx.shape, ctx.axes, ctx.keepdims) * centered * (2.0 / ctx.denom)


def _reduce(cls, x, axis, keepdims, **extra):
    x = as_tensor(x)
    return cls.apply(x, axes=normalize_axes(axis, x.ndim, cls.name), keepdims=bool(keepdims), **extra)


@torch_keywords
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (None: all)."""
    return _reduce(Sum, x, axis, keepdims)


@torch_keywords
def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (None: all)."""
    return _reduce(Mean, x, axis, keepdims)


def _no_torch_pair(op, torch, axis, keepdims):
    """PyTorch's ``x.max(dim=1)`` returns (values, indices): refuse it, naming the two calls
    that give them here; ``keepdim=`` alone is ``keepdims=``."""
    if "dim" in torch:
        dim, keep = torch["dim"], torch.get("keepdim", keepdims)
        raise TypeError(f"{op}: dim= is PyTorch's spelling, where {op}(dim=) returns (values, "
                        f"indices); here write x.{op}(axis={dim!r}, keepdims={keep!r}) for the "
                        f"values and {'x' if op == 'max' else '(-x)'}.argmax(axis={dim!r}) for "
                        "the indices")
    return _renamed(op, torch, axis, keepdims)


def max(x, axis=None, keepdims=False, **torch):
    """Maximum over ``axis`` (None: all); PyTorch's ``dim=`` is refused (see :func:`_no_torch_pair`)."""
    if torch:
        axis, keepdims = _no_torch_pair("max", torch, axis, keepdims)
    return _reduce(Max, x, axis, keepdims)


def min(x, axis=None, keepdims=False, **torch):
    """Minimum over ``axis`` (None: all); PyTorch's ``dim=`` is refused, as for :func:`max`."""
    if torch:
        axis, keepdims = _no_torch_pair("min", torch, axis, keepdims)
    return _reduce(Min, x, axis, keepdims)


@torch_keywords
def argmax(x, axis=None, keepdims=False):
    """Index of the first maximum over ``axis`` (None: of the flattened tensor), as an integer
    Tensor without grad (it is not differentiable)."""
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError(f"argmax: cannot reduce an empty tensor of shape {x.shape}")
    if axis is not None:
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"argmax: axis must be an int or None, got {axis!r}")
        (axis,) = normalize_axes(axis, x.ndim, "argmax")
    return Tensor(np.asarray(np.argmax(x.data, axis=axis, keepdims=bool(keepdims))))


def var(x, axis=None, keepdims=False, ddof=None, **torch):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom.

    The default ``ddof=0`` is NumPy's (population variance); PyTorch's ``torch.var`` defaults to
    the unbiased ``ddof=1`` (``correction=1``): pass ``ddof=1`` for PyTorch's number.  So
    PyTorch's ``dim=`` is accepted only together with an explicit ``ddof``."""
    if torch:
        if "dim" in torch and ddof is None:
            raise TypeError("var: dim= is PyTorch's spelling, and torch.var defaults to the "
                            "unbiased ddof=1 where this var defaults to ddof=0: write "
                            f"var(axis={torch['dim']!r}, ddof=1) for PyTorch's number")
        axis, keepdims = _renamed("var", torch, axis, keepdims)
    return _reduce(Var, x, axis, keepdims, ddof=int(ddof or 0))


def _renamed(op, torch, axis, keepdims):
    """``axis`` and ``keepdims`` from PyTorch's ``dim=``/``keepdim=`` in ``torch``."""
    unknown = set(torch) - {"dim", "keepdim"}
    if unknown:
        raise TypeError(f"{op}: unexpected keyword argument(s) {sorted(unknown)}")
    if "dim" in torch:
        if axis is not None:
            raise TypeError(f"{op}: give axis= or PyTorch's dim=, not both")
        axis = torch["dim"]
    return axis, torch.get("keepdim", keepdims)
