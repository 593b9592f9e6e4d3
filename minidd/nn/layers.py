"""Layers: thin modules over :mod:`minidd.functional`."""
from __future__ import annotations

import math

import numpy as np

from .. import _check
from .. import functional as F
from ..functional.conv import pair
from .module import Module, Parameter


class Linear(Module):
    """``y = x W^T + b``, weight (out, in) initialised U(-1/sqrt(in), 1/sqrt(in)) as in PyTorch."""

    def __init__(self, in_features, out_features, *, rng, bias=True):
        super().__init__()
        i = _check.positive_int(in_features, "Linear: in_features")
        o = _check.positive_int(out_features, "Linear: out_features")
        _check.rng(rng, "Linear: rng")
        bound = 1.0 / math.sqrt(i)
        self.weight = Parameter(rng.uniform(-bound, bound, (o, i)))
        self.bias = Parameter(rng.uniform(-bound, bound, (o,))) if bias else None
        self.in_features, self.out_features = i, o

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input has shape "
                             f"{x.shape}, expected (..., {self.in_features})")
        return F.linear(x, self.weight, self.bias)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"


class Conv2d(Module):
    """2-D convolution over NCHW input, PyTorch's default initialisation.

    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are an int or a (height, width) pair,
    as in PyTorch; they are kept as pairs (``self.kernel_size`` ...).
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, rng, stride=1, padding=0, dilation=1,
                 bias=True):
        super().__init__()
        c = _check.positive_int(in_channels, "Conv2d: in_channels")
        o = _check.positive_int(out_channels, "Conv2d: out_channels")
        kh, kw = self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = pair(stride, "stride", "Conv2d", 1)
        self.padding = pair(padding, "padding", "Conv2d", 0)
        self.dilation = pair(dilation, "dilation", "Conv2d", 1)
        _check.rng(rng, "Conv2d: rng")
        bound = 1.0 / math.sqrt(c * kh * kw)
        self.weight = Parameter(rng.uniform(-bound, bound, (o, c, kh, kw)))
        self.bias = Parameter(rng.uniform(-bound, bound, (o,))) if bias else None
        self.in_channels, self.out_channels = c, o

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d: input has shape {x.shape}, expected (N, {self.in_channels}, H, W)")
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation)

    def __repr__(self):
        return (f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation})")


class Conv1d(Module):
    """1-D convolution over NCL input (PyTorch's ``nn.Conv1d`` and its default initialisation):
    weight (O, C, k); ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are ints.

    Runs as a 2-D convolution of height 1 (:func:`minidd.functional.conv1d`), so the trace sees
    a kernel (1, k) over an input (C, 1, L).
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, rng, stride=1, padding=0, dilation=1,
                 bias=True):
        super().__init__()
        c = _check_pos(in_channels, "in_channels", "Conv1d")
        o = _check_pos(out_channels, "out_channels", "Conv1d")
        k = _check_pos(kernel_size, "kernel_size", "Conv1d")
        s, d = _check_pos(stride, "stride", "Conv1d"), _check_pos(dilation, "dilation", "Conv1d")
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"Conv1d: padding must be a non-negative int, got {padding!r}")
        _check_rng(rng, "Conv1d")
        bound = 1.0 / math.sqrt(c * k)
        self.weight = Parameter(rng.uniform(-bound, bound, (o, c, k)))
        self.bias = Parameter(rng.uniform(-bound, bound, (o,))) if bias else None
        self.in_channels, self.out_channels = c, o
        # as pairs (height 1, length), the geometry of the 2-D convolution it runs as
        self.kernel_size, self.stride = (1, k), (1, s)
        self.padding, self.dilation = (0, int(padding)), (1, d)

    def forward(self, x):
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv1d: input has shape {x.shape}, expected (N, {self.in_channels}, L)")
        return F.conv1d(x, self.weight, self.bias, stride=self.stride[1], padding=self.padding[1],
                        dilation=self.dilation[1])

    def __repr__(self):
        return (f"Conv1d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size[1]}, "
                f"stride={self.stride[1]}, padding={self.padding[1]}, dilation={self.dilation[1]})")


class _Pool2d(Module):
    """A pooling layer: ``pool`` (the functional op) with this layer's kernel_size, stride, padding."""

    pool = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.args = (kernel_size, stride, padding)

    def forward(self, x):
        return type(self).pool(x, *self.args)

    def __repr__(self):
        return f"{type(self).__name__}{self.args}"


class MaxPool2d(_Pool2d):
    """Max pooling over (N, C, H, W); ``kernel_size``, ``stride`` (default: the kernel size) and
    ``padding`` are an int or a (height, width) pair, passed to :func:`minidd.functional.max_pool2d`."""

    pool = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """Average pooling over (N, C, H, W); ``kernel_size``, ``stride`` (default: the kernel size) and
    ``padding`` are an int or a (height, width) pair, passed to :func:`minidd.functional.avg_pool2d`."""

    pool = staticmethod(F.avg_pool2d)


class BatchNorm2d(Module):
    """Batch normalisation over (N, C, H, W) or (N, C) with running statistics."""

    dims, form = (2, 4), "(N, C, H, W) or (N, C)"

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        c = _check.positive_int(num_features, f"{type(self).__name__}: num_features")
        self.weight = Parameter(np.ones(c))
        self.bias = Parameter(np.zeros(c))
        self.register_buffer("running_mean", np.zeros(c, dtype=np.float32))
        self.register_buffer("running_var", np.ones(c, dtype=np.float32))
        self.momentum, self.eps = momentum, eps

    def forward(self, x):
        c = self.weight.shape[0]
        if x.ndim not in self.dims or x.shape[1] != c:
            raise ValueError(f"{type(self).__name__}({c}): input has shape {x.shape}, expected "
                             f"{self.form} with C = {c}")
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            training=self.training, momentum=self.momentum, eps=self.eps)

    def __repr__(self):
        return f"{type(self).__name__}({self.weight.shape[0]})"


class BatchNorm1d(BatchNorm2d):
    """Batch normalisation over (N, C) or (N, C, L) with running statistics."""

    dims, form = (2, 3), "(N, C) or (N, C, L)"


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        d = _check.positive_int(dim, "LayerNorm: dim")
        self.weight = Parameter(np.ones(d))
        self.bias = Parameter(np.zeros(d))
        self.eps = eps

    def forward(self, x):
        return F.layer_norm(x, self.weight, self.bias, self.eps)

    def __repr__(self):
        return f"LayerNorm({self.weight.shape[0]})"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class GELU(Module):
    def __init__(self, approximate="tanh"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed head)."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge axes ``start_axis`` to ``end_axis``: by default (N, ...) -> (N, prod(...))."""

    def __init__(self, start_axis=1, end_axis=-1):
        super().__init__()
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x):
        return F.flatten(x, self.start_axis, self.end_axis)


class Dropout(Module):
    """Ordinary dropout with its own seeded generator; the identity in eval mode."""

    def __init__(self, p, *, rng):
        super().__init__()
        self.p = _check.fraction(p, "Dropout: p")
        self.rng = _check.rng(rng, "Dropout: rng") if p > 0 else rng

    def forward(self, x):
        return F.dropout(x, self.p, self.rng, training=self.training)

    def __repr__(self):
        return f"Dropout({self.p})"


class Embedding(Module):
    """A table of ``num`` vectors of size ``dim``, initialised N(0, 0.02) as in BERT."""

    stash_dense = True

    def __init__(self, num, dim, *, rng):
        super().__init__()
        n = _check.positive_int(num, "Embedding: num")
        d = _check.positive_int(dim, "Embedding: dim")
        self.weight = Parameter(_check.rng(rng, "Embedding: rng").normal(0.0, 0.02, (n, d)))

    def forward(self, indices):
        return F.embedding(indices, self.weight)

    def __repr__(self):
        return f"Embedding{self.weight.shape}"
