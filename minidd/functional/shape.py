"""Shape ops: reshape, transpose, indexing, concatenate, stack, pad."""
from __future__ import annotations

import numpy as np

from .. import _check
from ..autograd import Function, Tensor
from ..stash.roles import INDEX
from ._util import as_tensor, normalize_axes, torch_keywords


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
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in shape):
        raise TypeError(f"reshape: shape must be an int or a tuple of ints, got {shape!r}")
    return Reshape.apply(as_tensor(x), shape=tuple(int(n) for n in shape))


def transpose(x, axes=None):
    """Permute the axes (reverse them when ``axes`` is None)."""
    x = as_tensor(x)
    if axes is not None:
        axes = tuple(axes)
        if not all(isinstance(a, (int, np.integer)) and -x.ndim <= a < x.ndim for a in axes) \
                or sorted(int(a) % x.ndim for a in axes) != list(range(x.ndim)):
            swap = (" (PyTorch's transpose(dim0, dim1) swaps two axes; here give the whole "
                    "permutation, as numpy.transpose)" if len(axes) == 2 and x.ndim > 2 else "")
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes "
                             f"of a tensor of shape {x.shape}{swap}")
    return Transpose.apply(x, axes=axes)


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


@torch_keywords
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    xs = [as_tensor(t) for t in tensors]
    return Concatenate.apply(*xs, axis=_check_axis(xs, axis, "concatenate"))


@torch_keywords
def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    xs = [as_tensor(t) for t in tensors]
    return Stack.apply(*xs, axis=_check_axis(xs, axis, "stack", extra=1))


def pad(x, pad_width, value=0.0):
    """Pad with a constant; ``pad_width`` is an int, a (before, after) pair, or one pair per axis.

    NumPy's convention (:func:`numpy.pad`): pairs per axis, first axis first.  PyTorch's
    ``F.pad`` takes a flat tuple starting from the *last* axis: its ``(1, 2)`` on a 2-D tensor is
    ``((0, 0), (1, 2))`` here."""
    x = as_tensor(x)
    _no_flat_torch_pad(x, pad_width)
    try:
        pw = np.asarray(pad_width)
        if pw.dtype.kind not in "iu":
            raise ValueError
        pw = np.broadcast_to(pw, (x.ndim, 2)) if pw.ndim < 2 else pw
    except ValueError:
        pw = None
    if pw is None or pw.shape != (x.ndim, 2) or (pw < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, one (before, after) pair per "
                         f"axis of a tensor of shape {x.shape}, got {pad_width!r}")
    return Pad.apply(x, pad_width=tuple(map(tuple, pw.tolist())), value=value)


@torch_keywords
def _no_flat_torch_pad(x, pad_width):
    """Refuse a flat tuple of ints where it is ambiguous: PyTorch reads ``(1, 2)`` as the last
    axis only, NumPy (and a pair here, on a 1-D tensor) as every axis."""
    if not isinstance(pad_width, (tuple, list)) or not pad_width or x.ndim < 1 \
            or not all(isinstance(p, (int, np.integer)) for p in pad_width):
        return
    if len(pad_width) == 2 and x.ndim == 1:
        return  # one axis: both conventions agree
    k = len(pad_width) // 2
    numpy = (f"NumPy's np.pad gives the same pair to every axis, which here is "
             f"pad(x, {tuple([tuple(pad_width)] * x.ndim)!r})" if len(pad_width) == 2
             else "NumPy's np.pad takes one pair per axis")
    torch_pairs = [(0, 0)] * max(x.ndim - k, 0) + [tuple(pad_width[2 * i:2 * i + 2])
                                                    for i in reversed(range(k))]
    raise ValueError(
        f"pad: a flat pad_width {tuple(pad_width)!r} is ambiguous for a tensor of shape {x.shape}: "
        f"PyTorch's F.pad reads it from the last axis backwards, which here is "
        f"pad(x, {tuple(torch_pairs)!r}); {numpy}. Give one (before, after) pair per axis, "
        "first axis first")


@torch_keywords
def squeeze(x, axis=None):
    """Drop axes of length 1: all of them, or the ``axis`` given (an int or a tuple), which
    must have length 1 (PyTorch silently keeps a longer one; this refuses it)."""
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim, "squeeze")
    if axis is None:
        axes = tuple(a for a in axes if x.shape[a] == 1)
    long = [a for a in axes if x.shape[a] != 1]
    if long:
        raise ValueError(f"squeeze: axis {long[0]} of a tensor of shape {x.shape} has length "
                         f"{x.shape[long[0]]}, not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


@torch_keywords
def unsqueeze(x, axis):
    """Insert an axis of length 1 at position ``axis`` (in the result, -1 appends)."""
    x = as_tensor(x)
    axis = _check.integer(axis, "unsqueeze: axis")
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"unsqueeze: axis {axis!r} is out of range for a tensor with {x.ndim} dims "
                         f"(expected an int in [{-x.ndim - 1}, {x.ndim}])")
    axis %= x.ndim + 1
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


@torch_keywords
def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes ``start_axis`` to ``end_axis`` (inclusive) into one."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = (normalize_axes(a, x.ndim, "flatten")[0] for a in (start_axis, end_axis))
    if start > end:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis} "
                         f"for a tensor of shape {x.shape}")
    merged = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])
