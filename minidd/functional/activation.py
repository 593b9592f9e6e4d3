"""Activations and ordinary dropout."""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from .. import _check
from ..autograd import Function
from ..stash.roles import EXACT, INDEX
from ..stash.store import uses_lossless
from . import gelu_inverse
from ._util import as_tensor, torch_keywords

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_A = 0.044715


def _tanh_inner(x):
    """tanh(c (x + a x^3)) with few temporaries (x**3 through np.power is slow)."""
    u = np.multiply(x, x, out=np.empty_like(x))  # an array even for 0-d x (out= below)
    u *= _GELU_A * _SQRT_2_OVER_PI
    u += _SQRT_2_OVER_PI
    u *= x
    return np.tanh(u, out=u)


# Elementwise chains run over blocks of this many elements: their temporaries then stay in
# cache and come from the allocator's free lists, instead of each mapping fresh pages (4 MB
# temporaries cost as much in page faults as in arithmetic).
_CHUNK = 1 << 16


def _gelu_tanh_grad(x, g):
    """``g * d gelu_tanh / dx``, block by block:
    d/dx = 0.5 (1 + t) + 0.5 c x (1 + 3 a x^2) (1 - t^2),  t = tanh(c (x + a x^3))."""
    out = np.empty(g.shape, dtype=np.result_type(x, g))
    xf, gf, of = x.reshape(-1), g.reshape(-1), out.reshape(-1)
    for i in range(0, of.size, _CHUNK):
        xs, ds = xf[i:i + _CHUNK], of[i:i + _CHUNK]
        t = _tanh_inner(xs)
        np.multiply(xs, xs, out=ds)
        ds *= 1.5 * _GELU_A * _SQRT_2_OVER_PI
        ds += 0.5 * _SQRT_2_OVER_PI
        ds *= xs                                  # 0.5 c x (1 + 3 a x^2)
        sech2 = np.multiply(t, t)
        np.subtract(1.0, sech2, out=sech2)        # 1 - t^2
        ds *= sech2
        t *= 0.5
        t += 0.5
        ds += t
        ds *= gf[i:i + _CHUNK]
    return out


class ReLU(Function):
    """``max(x, 0)``; keeps a boolean mask for backward, not its output."""

    name = "relu"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        mask = x > 0
        ctx.save(mask, role=INDEX)
        out = x * mask
        out += 0.0  # x * False is -0.0 for x < 0: give +0.0, as PyTorch does
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        return g * mask


class GELU(Function):
    """Gaussian error linear unit: exact (``erf``) or the tanh approximation (BERT's).

    Backward reads the input.  Under a policy with ``lossless`` including ``"gelu"`` the op
    keeps its output (the next layer's input, so the stash shares it) and one bit per element
    instead, and recovers the input by inversion (:mod:`minidd.functional.gelu_inverse`: exact to
    rounding except near GELU's minimum, where the derivative is off by up to ~2e-4 in float32).
    """

    name = "gelu"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.approximate = approximate
        if approximate == "tanh":
            y = _tanh_inner(x)
            y += 1.0
            y *= x
            y *= 0.5
        else:
            y = x * special.ndtr(x).astype(x.dtype, copy=False)
        ctx.from_output = uses_lossless("gelu")
        if ctx.from_output:
            ctx.save(y, role=EXACT)
            ctx.save(np.packbits(gelu_inverse.left_of_minimum(x, approximate), axis=None), role=INDEX)
        else:
            ctx.save(x, role=EXACT)
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.from_output:
            y, bits = ctx.saved
            left = np.unpackbits(bits, count=y.size).view(np.bool_)
            x = gelu_inverse.invert(y, left, ctx.approximate).reshape(y.shape)
            return _gelu_grad(x, g.astype(np.float64), ctx.approximate).astype(g.dtype, copy=False)
        (x,) = ctx.saved
        return _gelu_grad(x, g, ctx.approximate)


def _gelu_grad(x, g, approximate):
    if approximate == "tanh":
        return _gelu_tanh_grad(x, g)
    d = special.ndtr(x) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return g * d.astype(g.dtype, copy=False)


class Softmax(Function):
    """Softmax along ``axis``; with a boolean ``mask`` (True = attend), the masked entries are
    exact zeros and the rest sum to 1 (a row with nothing to attend is all zeros).  The mask is
    a forward-only constant: backward reads only the saved output, which is zero where masked."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, axis, mask=None):
        ctx.axis = axis
        e = softmax_array(x, axis, mask)
        ctx.save(e, role=EXACT)
        return e

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return softmax_grad(g, y, ctx.axis)


def softmax_array(x, axis, mask=None):
    """The softmax of an ndarray along ``axis`` (one fresh buffer); where the boolean ``mask`` is
    false, exact zeros (a row with nothing to attend is all zeros)."""
    if mask is None:
        top = x.max(axis=axis, keepdims=True)
    else:  # the masked max, without a full-size copy of x with -inf where masked
        top = np.max(x, axis=axis, keepdims=True, where=mask, initial=-np.inf)
        top[~np.isfinite(top)] = 0.0  # a fully masked row: exp(-inf) = 0 everywhere
    e = np.subtract(x, top)
    if mask is not None:
        np.copyto(e, -np.inf, where=~mask)
    np.exp(e, out=e)
    total = e.sum(axis=axis, keepdims=True)
    if mask is not None:
        total[total == 0] = 1.0
    e /= total
    return e


def softmax_grad(g, y, axis):
    """``y * (g - sum(g * y))`` along ``axis``: softmax's backward from its output ``y``, on one
    fresh buffer."""
    out = g * y
    s = out.sum(axis=axis, keepdims=True)
    np.subtract(g, s, out=out)
    out *= y
    return out


def dropout_mask(shape, p, rng):
    """Ordinary dropout's keep-mask: ``rng.random(shape, float32) >= p`` (one draw)."""
    return rng.random(shape, dtype=np.float32) >= p


class LogSoftmax(Function):
    name = "log_softmax"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        shifted = x - x.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save(out, role=EXACT)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return g - np.exp(out) * g.sum(axis=ctx.axis, keepdims=True)


class Dropout(Function):
    """Ordinary (inverted) dropout; its mask is saved as an index."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, p, rng):
        mask = dropout_mask(x.shape, p, rng)
        ctx.scale = 1.0 / (1.0 - p)
        ctx.save(mask, role=INDEX)
        out = x * mask  # then scaled in place: the same (x * mask) * scale, one fresh buffer
        out *= x.dtype.type(ctx.scale)
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        out = g * mask
        out *= g.dtype.type(ctx.scale)
        return out


def _axis(x, axis, op):
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op}: axis {axis!r} is out of range for a tensor of shape {x.shape}")
    return int(axis) % x.ndim


def relu(x):
    return ReLU.apply(as_tensor(x))


def gelu(x, approximate="tanh"):
    """GELU; ``approximate="tanh"`` (BERT's, default) or ``"none"`` (exact, via erf).

    PyTorch's default is the exact ``"none"``: pass it explicitly to match ``torch.nn.GELU()``."""
    if approximate not in ("tanh", "none"):
        raise ValueError(f"gelu: approximate must be 'tanh' or 'none', got {approximate!r}")
    return GELU.apply(as_tensor(x), approximate=approximate)


@torch_keywords
def softmax(x, axis=-1, mask=None):
    """Softmax along ``axis``.  ``mask`` (optional): booleans broadcastable to ``x``, True where
    an entry takes part (attention's padding or causal mask); the others get probability 0."""
    x = as_tensor(x)
    axis = _axis(x, axis, "softmax")
    if mask is None:
        return Softmax.apply(x, axis=axis)
    return Softmax.apply(x, axis=axis, mask=check_mask(mask, x, "softmax"))


def check_mask(mask, x, who: str) -> np.ndarray:
    """``mask`` as a boolean ndarray that broadcasts to ``x``'s shape (else a clear error)."""
    mask = np.asarray(getattr(mask, "data", mask))
    if mask.dtype != np.bool_:
        raise TypeError(f"{who}: mask must be a boolean array (True = keep), got dtype {mask.dtype}")
    try:
        if np.broadcast_shapes(mask.shape, x.shape) != x.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"{who}: mask of shape {mask.shape} does not broadcast to x of shape {x.shape}") from None
    return mask


@torch_keywords
def log_softmax(x, axis=-1):
    x = as_tensor(x)
    return LogSoftmax.apply(x, axis=_axis(x, axis, "log_softmax"))


def dropout(x, p, rng, training=True):
    """Zero each element with probability ``p`` (drawn from ``rng``) and scale the rest by
    ``1/(1-p)``; the identity when ``training`` is false or ``p == 0``."""
    p = _check.fraction(p, "dropout: p")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    return Dropout.apply(x, p=p, rng=_check.rng(rng, "dropout: rng"))
