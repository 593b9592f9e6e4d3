"""2-D convolution and pooling over NCHW tensors.

Convolution forms its im2col windows with ``sliding_window_view`` (a view) and contracts them
with the weight through BLAS; it saves the layer *input* for backward (role
``WEIGHT_GRAD_INPUT``), never the im2col matrix, and rebuilds the windows in backward.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..autograd import Function
from ..stash.entries import narrowest_uint
from ..stash.roles import INDEX, PARAMETER, WEIGHT_GRAD_INPUT
from ._util import as_tensor


def _out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _windows(xp, kh, kw, s):
    """(N, C, Ho, Wo, kh, kw) view of the padded input's receptive fields."""
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::s, ::s]


def _pad(x, p, value=0.0):
    if p == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=value)


def _scatter_windows(dwin, x_shape, kh, kw, s, p):
    """Sum (N, C, Ho, Wo, kh, kw) window gradients back onto the (unpadded) input."""
    n, c, h, w = x_shape
    ho, wo = dwin.shape[2], dwin.shape[3]
    dxp = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=dwin.dtype)
    for i in range(kh):  # kh * kw vectorised slabs, not a loop over elements
        for j in range(kw):
            dxp[:, :, i:i + s * ho:s, j:j + s * wo:s] += dwin[:, :, :, :, i, j]
    return dxp[:, :, p:p + h, p:p + w] if p else dxp


class Conv2d(Function):
    arg_names = ("x", "weight", "bias")

    @staticmethod
    def forward(ctx, x, w, b=None, stride=1, padding=0):
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        ctx.geom = (x.shape, kh, kw, stride, padding)
        need = ctx.needs_input_grad
        if need[1]:
            ctx.save(x, role=WEIGHT_GRAD_INPUT, row_size=c * h * wd, feature_axis=1)
        if need[0]:
            ctx.save(w, role=PARAMETER)
        win = _windows(_pad(x, padding), kh, kw, stride)
        y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, Ho, Wo, O)
        if b is not None:
            y += b
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        saved = list(ctx.saved)
        x_shape, kh, kw, s, p = ctx.geom
        gx = gw = gb = None
        if need[1]:
            win = _windows(_pad(saved.pop(0), p), kh, kw, s)
            gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, kh, kw)
        if need[0]:
            dwin = np.tensordot(g, saved.pop(0), axes=([1], [0]))  # (N, Ho, Wo, C, kh, kw)
            gx = _scatter_windows(dwin.transpose(0, 3, 1, 2, 4, 5), x_shape, kh, kw, s, p)
        if len(need) > 2 and need[2]:
            gb = g.sum(axis=(0, 2, 3))
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)


class MaxPool2d(Function):
    name = "max_pool2d"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        kh, kw = kernel
        win = _windows(_pad(x, padding, -np.inf), kh, kw, stride)
        flat = win.reshape(win.shape[:4] + (kh * kw,))
        idx = flat.argmax(axis=-1)
        ctx.geom = (x.shape, kh, kw, stride, padding)
        ctx.save(idx.astype(narrowest_uint(kh * kw - 1)), role=INDEX)
        return np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved
        x_shape, kh, kw, s, p = ctx.geom
        dwin = np.zeros(g.shape + (kh * kw,), dtype=g.dtype)
        np.put_along_axis(dwin, idx.astype(np.intp)[..., None], g[..., None], axis=-1)
        return _scatter_windows(dwin.reshape(g.shape + (kh, kw)), x_shape, kh, kw, s, p)


class AvgPool2d(Function):
    name = "avg_pool2d"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        kh, kw = kernel
        ctx.geom = (x.shape, kh, kw, stride, padding)
        return _windows(_pad(x, padding), kh, kw, stride).mean(axis=(4, 5))

    @staticmethod
    def backward(ctx, g):
        x_shape, kh, kw, s, p = ctx.geom
        dwin = np.broadcast_to((g / (kh * kw))[..., None, None], g.shape + (kh, kw))
        return _scatter_windows(dwin, x_shape, kh, kw, s, p)


def _pair(v, name, op, minimum):
    t = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != 2 or not all(isinstance(a, (int, np.integer)) and a >= minimum for a in t):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {v!r}")
    return tuple(int(a) for a in t)


def _check_int(v, name, op, minimum):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{op}: {name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _check_out(x, kh, kw, s, p, op):
    h, w = x.shape[2], x.shape[3]
    if _out_size(h, kh, s, p) < 1 or _out_size(w, kw, s, p) < 1:
        raise ValueError(f"{op}: kernel ({kh}, {kw}) with padding {p} does not fit an input of "
                         f"spatial size ({h}, {w})")


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation: x (N, C, H, W), weight (O, C, kh, kw), bias (O,)."""
    x, weight = as_tensor(x), as_tensor(weight)
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: x of shape {x.shape} does not fit weight of shape {weight.shape}: "
                         "expected x (N, C, H, W) and weight (O, C, kh, kw) with the same C")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"conv2d: bias has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")
    s = _check_int(stride, "stride", "conv2d", 1)
    p = _check_int(padding, "padding", "conv2d", 0)
    _check_out(x, weight.shape[2], weight.shape[3], s, p, "conv2d")
    args = (x, weight) + (() if bias is None else (as_tensor(bias),))
    return Conv2d.apply(*args, stride=s, padding=p)


def _pool(cls, x, kernel_size, stride, padding):
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{cls.name}: x must be (N, C, H, W), got shape {x.shape}")
    k = _pair(kernel_size, "kernel_size", cls.name, 1)
    s = k[0] if stride is None else _check_int(stride, "stride", cls.name, 1)
    p = _check_int(padding, "padding", cls.name, 0)
    if 2 * p > min(k):
        raise ValueError(f"{cls.name}: padding {p} must be at most half the kernel size {k}")
    _check_out(x, k[0], k[1], s, p, cls.name)
    return cls.apply(x, kernel=k, stride=s, padding=p)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling (stride defaults to the kernel size)."""
    return _pool(MaxPool2d, x, kernel_size, stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling (stride defaults to the kernel size; padding counts as zeros)."""
    return _pool(AvgPool2d, x, kernel_size, stride, padding)
