"""Convolution (2-D over NCHW, 1-D over NCL) and 2-D pooling.

Every op visits the kernel offsets: kh * kw slab operations over many samples at once, never
a Python loop over single samples.  Convolution copies each offset's slab of a (C, N, H, W)
copy of its padded input into one contiguous im2col buffer and multiplies it by the weight
with BLAS, one product per direction and block of samples (``_BLOCK_BYTES``); pooling
reduces strided slabs of the input directly.  Convolution saves the layer *input* for backward
(role ``WEIGHT_GRAD_INPUT``), never the im2col matrix, and rebuilds the columns in backward.
stride, padding and dilation follow PyTorch (an int or a (height, width) pair).  A 1-D
convolution is the 2-D one on inputs of height 1 (:func:`conv1d`).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..stash.entries import narrowest_uint
from ..stash.roles import INDEX, PARAMETER, WEIGHT_GRAD_INPUT
from ._util import as_tensor


def _out_size(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _offsets(kh, kw, ho, wo, stride, dilation):
    """For each kernel offset (i, j): the (rows, cols) slices of the padded input it reads."""
    (sh, sw), (dh, dw) = stride, dilation
    return [(i, j, slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def _padded_cnhw(x, padding):
    """The input as a contiguous (C, N, H + 2 ph, W + 2 pw) array, padded with zeros."""
    n, c, h, w = x.shape
    ph, pw = padding
    xt = (np.zeros if ph or pw else np.empty)((c, n, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xt[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
    return xt


def _im2col(x, kh, kw, ho, wo, stride, padding, dilation):
    """The (C * kh * kw, N * Ho * Wo) matrix of receptive fields, one contiguous buffer filled
    by one slab copy per kernel offset."""
    n, c = x.shape[:2]
    xt = _padded_cnhw(x, padding)
    cols = np.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
    for i, j, rows, cs in _offsets(kh, kw, ho, wo, stride, dilation):
        cols[:, i, j] = xt[:, :, rows, cs]
    return cols.reshape(c * kh * kw, n * ho * wo)


def _im2col_wide(x, kh, kw, ho, padding, dilation):
    """:func:`_im2col` for stride 1 over the padded width: (C * kh * kw, N * Ho * Wp).

    Each kernel offset's slab is one contiguous run of Ho * Wp elements per (channel, sample)
    of the flattened padded input, so the copies are long runs instead of C * N * Ho short rows.
    Positions wo >= Wo of each row are wrapped-around garbage: callers crop them from the output,
    or multiply them by the zero columns of a widened output gradient."""
    n, c, h, w = x.shape
    (ph, pw), (dh, dw) = padding, dilation
    hp, wp = h + 2 * ph, w + 2 * pw
    flat = np.zeros((c, n, hp * wp + (kw - 1) * dw), dtype=x.dtype)  # tail: last row's shift
    flat[:, :, :hp * wp].reshape(c, n, hp, wp)[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
    cols = np.empty((c, kh, kw, n, ho * wp), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            start = i * dh * wp + j * dw
            cols[:, i, j] = flat[:, :, start:start + ho * wp]
    return cols.reshape(c * kh * kw, n * ho * wp)


def _col2im(cols, x_shape, kh, kw, stride, padding, dilation):
    """Sum the (C, kh, kw, N, Ho, Wo) column gradients back onto the input: (N, C, H, W)."""
    n, c, h, w = x_shape
    ho, wo = cols.shape[-2:]
    ph, pw = padding
    dxt = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i, j, rows, cs in _offsets(kh, kw, ho, wo, stride, dilation):
        dxt[:, :, rows, cs] += cols[:, i, j]
    return dxt[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


def _col2im_wide(cols, x_shape, kh, kw, padding, dilation):
    """:func:`_col2im` for stride 1, where the columns span the padded width Wp (their last
    Wp - Wo positions are zero).  Each offset's slab is then one contiguous run of Ho * Wp
    elements per (channel, sample) of the flattened padded input: a few long additions
    instead of C * N * Ho short rows."""
    n, c, h, w = x_shape
    ho, wp = cols.shape[-2:]
    (ph, pw), (dh, dw) = padding, dilation
    hp = h + 2 * ph
    flat = np.zeros((c, n, hp * wp + (kw - 1) * dw), dtype=cols.dtype)  # tail: last row's shift
    for i in range(kh):
        for j in range(kw):
            start = i * dh * wp + j * dw
            flat[:, :, start:start + ho * wp] += cols[:, i, j].reshape(c, n, ho * wp)
    dxt = flat[:, :, :hp * wp].reshape(c, n, hp, wp)
    return dxt[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)


# Convolution works through the batch in blocks whose im2col buffers take about this many
# bytes: they stay in cache, and the allocator reuses them instead of mapping fresh pages for
# every step (page faults cost a quarter of a CNN step with whole-batch buffers).
_BLOCK_BYTES = 1 << 21


def _blocks(n, bytes_per_sample):
    """Slices of the batch, each of at most ``_BLOCK_BYTES`` of working buffers (at least one
    sample)."""
    size = max(1, min(n, _BLOCK_BYTES // max(1, bytes_per_sample)))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


class Conv2d(Function):
    """Cross-correlation by im2col and BLAS, one block of samples at a time (see
    ``_BLOCK_BYTES``): one product per block and direction.

    Saves the layer *input* ``x`` (role ``WEIGHT_GRAD_INPUT``), never the im2col matrix: that
    matrix is kh * kw times larger, and deferred dropout must see ``x`` itself (the array whose
    sparsity the stash exploits).  Backward rebuilds the columns from the (possibly sparsified)
    ``x`` for ``dW``; ``dX`` reads only the weight and the output gradient.
    """

    arg_names = ("x", "weight", "bias")

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        ho = _out_size(h, kh, stride[0], padding[0], dilation[0])
        wo = _out_size(wd, kw, stride[1], padding[1], dilation[1])
        ctx.geom = (x.shape, kh, kw, stride, padding, dilation)
        need = ctx.needs_input_grad
        ctx.save(x if need[1] else None, role=WEIGHT_GRAD_INPUT, row_size=c * h * wd, feature_axis=1)
        ctx.save(w if need[0] else None, role=PARAMETER)
        w2 = w.reshape(o, -1)
        y = np.empty((n, o, ho, wo), dtype=np.result_type(x, w))
        wide = stride == (1, 1)  # see _im2col_wide
        wp = wd + 2 * padding[1] if wide else wo
        for blk in _blocks(n, max(c * kh * kw, o) * ho * wp * x.itemsize):
            if wide:
                cols = _im2col_wide(x[blk], kh, kw, ho, padding, dilation)
            else:
                cols = _im2col(x[blk], kh, kw, ho, wo, stride, padding, dilation)
            yb = np.matmul(w2, cols).reshape(o, -1, ho, wp)
            y[blk] = yb[..., :wo].transpose(1, 0, 2, 3)
        if b is not None:
            y += b[:, None, None]
        return y

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        x, w = ctx.saved
        x_shape, kh, kw, s, p, d = ctx.geom
        n, o, ho, wo = g.shape
        c = x_shape[1]
        w2 = None if w is None else w.reshape(o, -1)
        gw_t = np.zeros((c * kh * kw, o), dtype=g.dtype) if need[1] else None  # dW^T
        gx = np.empty(x_shape, dtype=g.dtype) if need[0] else None
        wide = s == (1, 1)  # dY widened to the padded width with zero columns: _im2col_wide
        wp = x_shape[3] + 2 * p[1] if wide else wo
        for blk in _blocks(n, max(c * kh * kw, o) * ho * wp * g.itemsize):
            nb = len(range(n)[blk])
            g2 = (np.zeros if wide else np.empty)((o, nb, ho, wp), dtype=g.dtype)
            g2[..., :wo] = g[blk].transpose(1, 0, 2, 3)
            g2 = g2.reshape(o, -1)
            if need[1]:
                if wide:
                    cols = _im2col_wide(x[blk], kh, kw, ho, p, d)
                else:
                    cols = _im2col(x[blk], kh, kw, ho, wo, s, p, d)
                gw_t += np.matmul(cols, g2.T)  # this order measured ~20% faster than g2 @ cols.T
            if need[0]:
                dcols = np.matmul(w2.T, g2).reshape(c, kh, kw, nb, ho, wp)
                if wide:
                    gx[blk] = _col2im_wide(dcols, (nb,) + x_shape[1:], kh, kw, p, d)
                else:
                    gx[blk] = _col2im(dcols, (nb,) + x_shape[1:], kh, kw, s, p, d)
        gw = np.ascontiguousarray(gw_t.T).reshape(o, c, kh, kw) if need[1] else None
        gb = g.sum(axis=(0, 2, 3)) if len(need) > 2 and need[2] else None
        return (gx, gw, gb) if len(need) > 2 else (gx, gw)


def _padded(x, padding, value):
    """``x`` (N, C, H, W) padded with ``value`` (no copy without padding)."""
    ph, pw = padding
    if not (ph or pw):
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _unpad(dxp, x_shape, padding):
    """The (N, C, H, W) interior of a padded gradient."""
    h, w = x_shape[2:]
    ph, pw = padding
    return dxp[:, :, ph:ph + h, pw:pw + w] if (ph or pw) else dxp


class MaxPool2d(Function):
    """Max pooling by one pass per window offset over strided slabs of the input (no window
    copies).  Saves the offset of each window's first maximum (ties go to the first, as
    ``argmax``) in the narrowest unsigned integer type."""

    name = "max_pool2d"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        kh, kw = kernel
        ho = _out_size(x.shape[2], kh, stride[0], padding[0])
        wo = _out_size(x.shape[3], kw, stride[1], padding[1])
        xp = _padded(x, padding, -np.inf)
        offsets = _offsets(kh, kw, ho, wo, stride, (1, 1))
        best = xp[:, :, offsets[0][2], offsets[0][3]].copy()
        idx = np.zeros(best.shape, dtype=narrowest_uint(kh * kw - 1))
        better = np.empty(best.shape, dtype=bool)
        step = np.empty_like(idx)
        for i, j, rows, cs in offsets[1:]:  # plain ufuncs: masked copies (where=) are 10x slower
            slab = xp[:, :, rows, cs]
            np.greater(slab, best, out=better)
            np.maximum(best, slab, out=best)
            # idx <- k where better: offsets come in increasing k, so k exceeds any earlier index
            np.multiply(better, idx.dtype.type(i * kw + j), out=step)
            np.maximum(idx, step, out=idx)
        ctx.geom = (x.shape, kh, kw, stride, padding)
        ctx.save(idx, role=INDEX)
        return best

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved
        x_shape, kh, kw, s, p = ctx.geom
        n, c, h, w = x_shape
        ho, wo = g.shape[2:]
        shape = (n, c, h + 2 * p[0], w + 2 * p[1])
        disjoint = s[0] >= kh and s[1] >= kw  # each input element in at most one window
        tiled = disjoint and (ho * s[0], wo * s[1]) == shape[2:] and (kh, kw) == s
        dxp = np.empty(shape, dtype=g.dtype) if tiled else np.zeros(shape, dtype=g.dtype)
        hit = np.empty(idx.shape, dtype=bool)
        for i, j, rows, cs in _offsets(kh, kw, ho, wo, s, (1, 1)):
            np.equal(idx, i * kw + j, out=hit)
            if disjoint:
                np.multiply(g, hit, out=dxp[:, :, rows, cs])
            else:
                dxp[:, :, rows, cs] += g * hit
        return _unpad(dxp, x_shape, p)


class AvgPool2d(Function):
    """Average pooling (padding counts as zeros) by one pass per window offset."""

    name = "avg_pool2d"
    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        kh, kw = kernel
        ho = _out_size(x.shape[2], kh, stride[0], padding[0])
        wo = _out_size(x.shape[3], kw, stride[1], padding[1])
        ctx.geom = (x.shape, kh, kw, stride, padding)
        xp = _padded(x, padding, 0.0)
        acc = np.zeros(x.shape[:2] + (ho, wo), dtype=x.dtype)
        for _, _, rows, cs in _offsets(kh, kw, ho, wo, stride, (1, 1)):
            acc += xp[:, :, rows, cs]
        acc *= x.dtype.type(1.0 / (kh * kw))
        return acc

    @staticmethod
    def backward(ctx, g):
        x_shape, kh, kw, s, p = ctx.geom
        n, c, h, w = x_shape
        share = g * g.dtype.type(1.0 / (kh * kw))
        dxp = np.zeros((n, c, h + 2 * p[0], w + 2 * p[1]), dtype=g.dtype)
        for _, _, rows, cs in _offsets(kh, kw, g.shape[2], g.shape[3], s, (1, 1)):
            dxp[:, :, rows, cs] += share
        return _unpad(dxp, x_shape, p)


def pair(v, name, op, minimum):
    """``v`` (an int or a pair of ints, each >= ``minimum``) as a pair: kernel sizes, strides."""
    t = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    if not (isinstance(t, (tuple, list)) and len(t) == 2 and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= minimum for a in t)):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {v!r}")
    return tuple(int(a) for a in t)


#: Largest padded input, and largest im2col work (N * C * kh * kw * Ho * Wo, the elements one
#: pass gathers), that a convolution or pooling accepts: beyond them it refuses before
#: allocating (2**31 and 2**33 elements: 8 GiB and 32 GiB of float32, minutes of NumPy work).
MAX_PADDED, MAX_WORK = 1 << 31, 1 << 33


def _check_out(x, kernel, stride, padding, dilation, op):
    h, w = x.shape[2], x.shape[3]
    out = [_out_size(n, k, s, p, d) for n, k, s, p, d in
           zip((h, w), kernel, stride, padding, dilation)]
    if min(out) < 1:
        extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        raise ValueError(f"{op}: kernel {tuple(kernel)} (extent {extent} with dilation "
                         f"{dilation}) with padding {padding} does not fit an input of spatial "
                         f"size ({h}, {w})")
    n, c = x.shape[0], x.shape[1]
    padded = n * c * (h + 2 * padding[0]) * (w + 2 * padding[1])
    work = n * c * int(kernel[0]) * int(kernel[1]) * out[0] * out[1]
    for what, size, limit in (("padded input", padded, MAX_PADDED), ("im2col work", work, MAX_WORK)):
        if size > limit:
            raise ValueError(f"{op}: kernel {tuple(kernel)}, stride {stride}, padding {padding} "
                             f"and dilation {dilation} on an input of shape {x.shape} make a "
                             f"{what} of {size:.3g} elements, over the limit of {limit} "
                             f"(minidd.functional.conv.MAX_PADDED / MAX_WORK)")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D cross-correlation: x (N, C, H, W), weight (O, C, kh, kw), bias (O,).

    ``stride``, ``padding`` (zeros on both sides) and ``dilation`` are an int or an
    (height, width) pair, as in PyTorch's ``conv2d``; the output is
    (N, O, (H + 2 ph - dh (kh - 1) - 1) // sh + 1, ...).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: x of shape {x.shape} does not fit weight of shape {weight.shape}: "
                         "expected x (N, C, H, W) and weight (O, C, kh, kw) with the same C")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"conv2d: bias has shape {tuple(bias.shape)}, expected ({weight.shape[0]},)")
    s = pair(stride, "stride", "conv2d", 1)
    p = pair(padding, "padding", "conv2d", 0)
    d = pair(dilation, "dilation", "conv2d", 1)
    _check_out(x, weight.shape[2:], s, p, d, "conv2d")
    args = (x, weight) + (() if bias is None else (as_tensor(bias),))
    return Conv2d.apply(*args, stride=s, padding=p, dilation=d)


def _single(v, name, minimum):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"conv1d: {name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """1-D cross-correlation: x (N, C, L), weight (O, C, k), bias (O,); ``stride``, ``padding``
    (zeros on both ends) and ``dilation`` are ints, as in PyTorch's ``conv1d``; the output is
    (N, O, (L + 2 p - d (k - 1) - 1) // s + 1).

    Computed as :func:`conv2d` on inputs of height 1, so it saves the (N, C, 1, L) view of the
    layer input (role ``WEIGHT_GRAD_INPUT``, features on axis 1) and is exactly as fast.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if x.ndim != 3 or weight.ndim != 3 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv1d: x of shape {x.shape} does not fit weight of shape {weight.shape}: "
                         "expected x (N, C, L) and weight (O, C, k) with the same C")
    s, p, d = _single(stride, "stride", 1), _single(padding, "padding", 0), _single(dilation, "dilation", 1)
    if _out_size(x.shape[2], weight.shape[2], s, p, d) < 1:
        raise ValueError(f"conv1d: kernel {weight.shape[2]} (extent {d * (weight.shape[2] - 1) + 1} with "
                         f"dilation {d}) with padding {p} does not fit an input of length {x.shape[2]}")
    n, c, length = x.shape
    o, _, k = weight.shape
    y = conv2d(x.reshape(n, c, 1, length), weight.reshape(o, c, 1, k), bias, stride=(1, s),
               padding=(0, p), dilation=(1, d))
    return y.reshape(n, o, y.shape[3])


def _pool(cls, x, kernel_size, stride, padding):
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{cls.name}: x must be (N, C, H, W), got shape {x.shape}")
    k = pair(kernel_size, "kernel_size", cls.name, 1)
    s = k if stride is None else pair(stride, "stride", cls.name, 1)
    p = pair(padding, "padding", cls.name, 0)
    if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
        raise ValueError(f"{cls.name}: padding {p} must be at most half the kernel size {k}")
    _check_out(x, k, s, p, (1, 1), cls.name)
    return cls.apply(x, kernel=k, stride=s, padding=p)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling; ``kernel_size``, ``stride`` (default: the kernel size) and ``padding``
    are an int or an (height, width) pair."""
    return _pool(MaxPool2d, x, kernel_size, stride, padding)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling (``count_include_pad``: padding counts as zeros); arguments as in
    :func:`max_pool2d`."""
    return _pool(AvgPool2d, x, kernel_size, stride, padding)
