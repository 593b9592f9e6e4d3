"""Helpers shared by the op modules (broadcast bookkeeping, constant operands)."""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..autograd import Tensor


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and grad.shape[i + lead] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def operands(a, b, op: str = "op"):
    """Make a binary op's operands: at least one Tensor; a plain number or array becomes a
    constant of the tensor's floating dtype (so float32 stays float32)."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb:
        return a, b
    if ta:
        return a, constant(b, a.dtype, op)
    if tb:
        return constant(a, b.dtype, op), b
    return Tensor(a), constant(b, Tensor(a).dtype, op)


def constant(c, dtype, op: str = "op") -> np.ndarray:
    arr = np.asarray(c)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: the other operand must be a number, a numeric array or a Tensor, got "
                        f"{type(c).__name__} {str(c)[:20]!r}")
    if dtype.kind == "f" and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


def as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def normalize_axes(axis, ndim: int, op: str) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all(isinstance(a, (int, np.integer)) for a in axes):
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a!r} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def shape_error(op: str, **shapes) -> ValueError:
    desc = ", ".join(f"{k} of shape {tuple(v)}" for k, v in shapes.items())
    return ValueError(f"{op}: incompatible shapes: {desc}")


#: PyTorch keyword spellings with the same meaning here: ``dim=`` is ``axis=``, ``keepdim=`` is
#: ``keepdims=`` (``start_dim``/``end_dim`` of ``flatten`` are ``start_axis``/``end_axis``).
TORCH_KEYWORDS = {"dim": "axis", "keepdim": "keepdims", "start_dim": "start_axis",
                  "end_dim": "end_axis"}


def torch_keywords(fn):
    """Let ``fn`` take PyTorch's ``dim=``/``keepdim=`` spellings for its ``axis=``/``keepdims=``
    (giving both spellings of one argument is refused); other keywords pass through."""
    accepted = set(inspect.signature(fn).parameters)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for torch_name, name in TORCH_KEYWORDS.items():
            if torch_name in kwargs and name in accepted:
                if name in kwargs:
                    raise TypeError(f"{fn.__name__}: give {name}= or PyTorch's {torch_name}=, "
                                    "not both")
                kwargs[name] = kwargs.pop(torch_name)
        return fn(*args, **kwargs)

    return wrapper
