"""Broadcasting elementwise arithmetic and pointwise functions."""
from __future__ import annotations

import numpy as np

from .. import _check
from ..autograd import Function, Tensor
from ..stash.roles import EXACT, INDEX
from ._util import as_tensor, operands, shape_error, unbroadcast


def _broadcast(ufunc, a, b, op):
    try:
        return ufunc(a, b)
    except ValueError:
        raise shape_error(op, a=np.shape(a), b=np.shape(b)) from None


def _times_saved(ctx, g):
    """The backward of an op whose derivative is the one array it saved (its output, a sign, a
    0/1 mask): ``g`` times that array."""
    (derivative,) = ctx.saved
    return g * derivative


class Add(Function):
    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return _broadcast(np.add, a, b, "add")

    @staticmethod
    def backward(ctx, g):
        (sa, sb), need = ctx.shapes, ctx.needs_input_grad
        return (unbroadcast(g, sa) if need[0] else None, unbroadcast(g, sb) if need[1] else None)


class Sub(Function):
    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return _broadcast(np.subtract, a, b, "sub")

    @staticmethod
    def backward(ctx, g):
        (sa, sb), need = ctx.shapes, ctx.needs_input_grad
        return (unbroadcast(g, sa) if need[0] else None, unbroadcast(-g, sb) if need[1] else None)


class Mul(Function):
    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b):
        need = ctx.needs_input_grad
        ctx.shapes = (np.shape(a), np.shape(b))
        ctx.order = (need[0] and np.ndim(b) > 0, need[1] and np.ndim(a) > 0)
        ctx.save(b if ctx.order[0] else None, role=EXACT)
        ctx.save(a if ctx.order[1] else None, role=EXACT)
        if need[0] and not ctx.order[0]:
            ctx.b = b.item()
        if need[1] and not ctx.order[1]:
            ctx.a = a.item()
        return _broadcast(np.multiply, a, b, "mul")

    @staticmethod
    def backward(ctx, g):
        b, a = ctx.saved
        (sa, sb), need = ctx.shapes, ctx.needs_input_grad
        b = getattr(ctx, "b", None) if b is None else b
        a = getattr(ctx, "a", None) if a is None else a
        return (unbroadcast(g * b, sa) if need[0] else None,
                unbroadcast(g * a, sb) if need[1] else None)


class Div(Function):
    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b):
        need = ctx.needs_input_grad
        ctx.shapes = (np.shape(a), np.shape(b))
        out = _broadcast(np.true_divide, a, b, "div")
        if need[0] or need[1]:
            keep_b = np.ndim(b) > 0 or need[1]
            ctx.save(np.asarray(b) if keep_b else None, role=EXACT)
            if not keep_b:
                ctx.b = b.item()
            ctx.save(out if need[1] else None, role=EXACT)
        return out

    @staticmethod
    def backward(ctx, g):
        (sa, sb), need = ctx.shapes, ctx.needs_input_grad
        b, out = ctx.saved
        b = ctx.b if b is None else b
        ga = unbroadcast(g / b, sa) if need[0] else None
        gb = unbroadcast(-g * out / b, sb) if need[1] else None
        return ga, gb


class Neg(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        return np.negative(x)

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """``x ** p`` for a constant real exponent ``p``."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, p):
        ctx.p = p
        ctx.save(x, role=EXACT)
        return np.power(x, p)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * ctx.p * np.power(x, ctx.p - 1)


class Exp(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save(y, role=EXACT)
        return y

    backward = staticmethod(_times_saved)


class Log(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        ctx.save(x, role=EXACT)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / x


class Sqrt(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        y = np.sqrt(x)
        ctx.save(y, role=EXACT)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g / (2 * y)


class Tanh(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save(y, role=EXACT)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * (1 - y * y)


class Sigmoid(Function):
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        # exp of -|x| never overflows
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        ctx.save(y, role=EXACT)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y * (1 - y)


def _pick(ctx, a, b, a_wins_if, op):
    """The forward of maximum/minimum: ``a`` where ``a_wins_if(a, b)``, else ``b``; saves where
    ``a`` won (1 bit) for :meth:`Maximum.backward`."""
    ctx.shapes = (np.shape(a), np.shape(b))
    a_wins = _broadcast(a_wins_if, a, b, op)
    ctx.save(a_wins, role=INDEX)
    return np.where(a_wins, a, b)


class Maximum(Function):
    """Elementwise maximum; where ``a == b`` the gradient goes to ``a``."""

    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b):
        return _pick(ctx, a, b, np.greater_equal, "maximum")

    @staticmethod
    def backward(ctx, g):
        (a_wins,) = ctx.saved
        (sa, sb), need = ctx.shapes, ctx.needs_input_grad
        return (unbroadcast(np.where(a_wins, g, 0), sa) if need[0] else None,
                unbroadcast(np.where(a_wins, 0, g), sb) if need[1] else None)


class PowTensor(Function):
    """``x ** y`` with a tensor (or array) exponent: ``2 ** x``, ``x ** y``."""

    name = "pow_tensor"
    arg_names = ("x", "y")

    @staticmethod
    def forward(ctx, x, y):
        need = ctx.needs_input_grad
        ctx.shapes = (np.shape(x), np.shape(y))
        out = _broadcast(np.power, x, y, "pow")
        if need[0] or need[1]:
            ctx.save(x, role=EXACT)
            ctx.save(y if need[0] else None, role=EXACT)
            ctx.save(out if need[1] else None, role=EXACT)
        return out

    @staticmethod
    def backward(ctx, g):
        (sx, sy), need = ctx.shapes, ctx.needs_input_grad
        x, y, out = ctx.saved
        gx = gy = None
        if need[0]:
            gx = unbroadcast(g * y * np.power(x, y - 1), sx)
        if need[1]:
            with np.errstate(divide="ignore", invalid="ignore"):  # d/dy at x <= 0: NaN, as PyTorch
                gy = unbroadcast(g * out * np.log(x), sy)
        return gx, gy


class Abs(Function):
    """``|x|``; the gradient is ``sign(x)`` (0 at 0, as in PyTorch), saved as int8."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        ctx.save(np.sign(x).astype(np.int8), role=INDEX)
        return np.abs(x)

    backward = staticmethod(_times_saved)


class Minimum(Function):
    """Elementwise minimum; where ``a == b`` the gradient goes to ``a`` (PyTorch splits it)."""

    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b):
        return _pick(ctx, a, b, np.less_equal, "minimum")

    backward = Maximum.backward


class Clamp(Function):
    """``x`` limited to ``[low, high]`` (either may be None); the gradient passes where
    ``low <= x <= high``, as in PyTorch."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, low, high):
        inside = np.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        ctx.save(inside, role=INDEX)
        return np.clip(x, low, high).astype(x.dtype, copy=False)

    backward = staticmethod(_times_saved)


class Where(Function):
    """``a`` where ``cond`` holds, else ``b`` (all three broadcast)."""

    arg_names = ("a", "b")

    @staticmethod
    def forward(ctx, a, b, cond):
        ctx.shapes = (np.shape(a), np.shape(b))
        try:
            out = np.where(cond, a, b)
        except ValueError:
            raise shape_error("where", cond=np.shape(cond), a=np.shape(a), b=np.shape(b)) from None
        if any(ctx.needs_input_grad):
            ctx.save(cond, role=INDEX)
        return out

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved
        (sa, sb), need = ctx.shapes, ctx.needs_input_grad
        return (unbroadcast(np.where(cond, g, 0), sa) if need[0] else None,
                unbroadcast(np.where(cond, 0, g), sb) if need[1] else None)


def add(a, b): return Add.apply(*operands(a, b, "add"))
def sub(a, b): return Sub.apply(*operands(a, b, "sub"))
def mul(a, b): return Mul.apply(*operands(a, b, "mul"))
def div(a, b): return Div.apply(*operands(a, b, "div"))
def maximum(a, b): return Maximum.apply(*operands(a, b, "maximum"))
def minimum(a, b): return Minimum.apply(*operands(a, b, "minimum"))
def abs(x): return Abs.apply(as_tensor(x))
def neg(x): return Neg.apply(as_tensor(x))
def exp(x): return Exp.apply(as_tensor(x))
def log(x): return Log.apply(as_tensor(x))
def sqrt(x): return Sqrt.apply(as_tensor(x))
def tanh(x): return Tanh.apply(as_tensor(x))
def sigmoid(x): return Sigmoid.apply(as_tensor(x))


def pow(x, p):
    """``x ** p``: ``p`` a real number, or a tensor or array (then ``x`` may be a number too:
    ``pow(2.0, t)`` is ``2 ** t``)."""
    if isinstance(p, (Tensor, np.ndarray)):
        return PowTensor.apply(*operands(x, p, "pow"))
    p = _check.number(p, "pow: exponent p", finite=False, form="a real number, a Tensor or an ndarray")
    return Pow.apply(as_tensor(x), p=p)


def clamp(x, min=None, max=None):
    """``x`` limited to ``[min, max]`` (numbers; either may be None)."""
    for name, v in (("min", min), ("max", max)):
        if v is not None:
            _check.number(v, f"clamp: {name}", finite=False, form="a real number or None")
    if min is None and max is None:
        raise ValueError("clamp: give min, max or both")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clamp: min {min} is greater than max {max}")
    return Clamp.apply(as_tensor(x), low=min, high=max)


def where(cond, a, b):
    """Elementwise ``a if cond else b``; ``cond`` is a boolean array (or Tensor, or a
    comparison such as ``x > 0``); it carries no gradient."""
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond)
    if c.dtype != np.bool_:
        raise TypeError(f"where: cond must be boolean (e.g. x > 0), got dtype {c.dtype}")
    return Where.apply(*operands(a, b, "where"), cond=c)
