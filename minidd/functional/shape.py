"""Shape ops: reshape, transpose, indexing, concatenate, stack, pad."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..stash.roles import INDEX
from ._util import as_tensor


class Reshape(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) into shape {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Transpose(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, axes):
        if axes is None:
            axes = tuple(range(x.ndim))[::-1]
        if sorted(int(a) % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the "
                             f"{x.ndim} axes of a tensor of shape {x.shape}")
        ctx.inverse = tuple(np.argsort([int(a) % x.ndim for a in axes]))
        return np.transpose(x, axes)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, ctx.inverse)


class GetItem(Function):
    """Basic (slices, ints, None, Ellipsis) and advanced (integer/boolean arrays) indexing."""

    name = "getitem"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, index):
        parts = index if isinstance(index, tuple) else (index,)
        spec, advanced = [], False
        for p in parts:
            if isinstance(p, Tensor):
                p = p.data
            if isinstance(p, (np.ndarray, list)):
                p = np.asarray(p)
                if p.dtype.kind not in "biu":
                    raise IndexError(f"getitem: index arrays must be integer or boolean, got {p.dtype}")
                ctx.save(p, role=INDEX)
                spec.append(_Saved)
                advanced = True
            else:
                spec.append(p)
        ctx.spec, ctx.advanced, ctx.shape, ctx.dtype = tuple(spec), advanced, x.shape, x.dtype
        arrays = [np.asarray(p.data if isinstance(p, Tensor) else p)
                  for p in parts if isinstance(p, (np.ndarray, list, Tensor))]
        try:
            return x[_rebuild(ctx.spec, arrays)]
        except IndexError as e:
            raise IndexError(f"getitem: index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, g):
        out = np.zeros(ctx.shape, dtype=g.dtype)
        index = _rebuild(ctx.spec, list(ctx.saved))
        if ctx.advanced:
            np.add.at(out, index, g)  # repeated indices accumulate
        else:
            out[index] = g
        return out


class _Saved:
    """Placeholder in a getitem spec for an index array kept in the stash."""


def _rebuild(spec, arrays):
    it = iter(arrays)
    return tuple(next(it) if p is _Saved else p for p in spec)


class Concatenate(Function):
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis = axis
        ctx.sizes = [x.shape[axis] for x in xs]
        try:
            return np.concatenate(xs, axis=axis)
        except ValueError:
            raise ValueError(f"concatenate: shapes {[x.shape for x in xs]} differ outside axis {axis}") from None

    @staticmethod
    def backward(ctx, g):
        cuts = np.cumsum(ctx.sizes)[:-1]
        return tuple(np.split(g, cuts, axis=ctx.axis))


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, axis):
        ctx.axis, ctx.n = axis, len(xs)
        try:
            return np.stack(xs, axis=axis)
        except ValueError:
            raise ValueError(f"stack: all tensors need one shape, got {[x.shape for x in xs]}") from None

    @staticmethod
    def backward(ctx, g):
        moved = np.moveaxis(g, ctx.axis, 0)
        return tuple(moved[i] for i in range(ctx.n))


class Pad(Function):
    """Constant padding; ``pad_width`` as for :func:`numpy.pad`, normalised to pairs."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, pad_width, value):
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(pad_width, x.shape))
        if x.ndim == 0:
            return x.copy()  # a 0-d tensor has no axis to pad
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.crop]


def reshape(x, shape):
    """View ``x`` with a new ``shape`` (one entry may be -1)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return Reshape.apply(as_tensor(x), shape=shape)


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    return Transpose.apply(as_tensor(x), axes=None if axes is None else tuple(axes))


permute = transpose


def getitem(x, index):
    return GetItem.apply(as_tensor(x), index=index)


def _check_axis(xs, axis, op, extra=0):
    if not xs:
        raise ValueError(f"{op}: needs at least one tensor")
    nd = xs[0].ndim + extra
    if not isinstance(axis, (int, np.integer)) or not -nd <= axis < nd:
        raise ValueError(f"{op}: axis {axis!r} is out of range for tensors with {xs[0].ndim} dims")
    return int(axis) % nd


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    xs = [as_tensor(t) for t in tensors]
    return Concatenate.apply(*xs, axis=_check_axis(xs, axis, "concatenate"))


def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    xs = [as_tensor(t) for t in tensors]
    return Stack.apply(*xs, axis=_check_axis(xs, axis, "stack", extra=1))


def pad(x, pad_width, value=0.0):
    """Pad with a constant; ``pad_width`` is an int, a (before, after) pair, or one pair per axis."""
    x = as_tensor(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2)) \
        if np.ndim(pad_width) < 2 else np.asarray(pad_width, dtype=np.int64)
    if pw.shape != (x.ndim, 2) or (pw < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, one (before, after) pair per "
                         f"axis of a tensor of shape {x.shape}, got {pad_width!r}")
    return Pad.apply(x, pad_width=tuple(map(tuple, pw.tolist())), value=value)
