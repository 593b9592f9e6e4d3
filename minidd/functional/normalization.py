"""Layer normalisation and batch normalisation (training and inference)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..stash.roles import EXACT, INDEX, PARAMETER
from ..stash.store import uses_lossless
from ._util import as_tensor


#: LayerNorm recovers feature ``j`` from its output only when ``|beta_j| <= LN_RATIO |gamma_j|``:
#: the recovered ``xhat`` is then within ``2 (|xhat| + LN_RATIO) eps`` of the stored one.
LN_RATIO = 64.0


class LayerNorm(Function):
    """Normalise over the last axis, then scale by ``gamma`` and shift by ``beta``.

    Backward reads the normalised input ``xhat``.  Under a policy with ``lossless`` including
    ``"layer_norm"`` the op keeps its output ``y`` instead (the next layer keeps it anyway, so
    the stash shares it) and recovers ``xhat = (y - beta) / gamma``; the features where that
    division is not trusted (``gamma_j == 0`` or ``|beta_j| > LN_RATIO |gamma_j|``, see
    :data:`LN_RATIO`) keep their ``xhat`` columns.
    """

    name = "layer_norm"
    arg_names = ("x", "gamma", "beta")

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        d = x.shape[-1]
        if gamma.shape != (d,) or beta.shape != (d,):
            raise ValueError(f"layer_norm: gamma and beta must have shape ({d},) for x of shape "
                             f"{x.shape}, got {gamma.shape} and {beta.shape}")
        xhat = x - x.mean(axis=-1, keepdims=True)
        sq = xhat * xhat
        rstd = sq.mean(axis=-1, keepdims=True)
        rstd += eps
        np.sqrt(rstd, out=rstd)
        np.reciprocal(rstd, out=rstd)
        xhat *= rstd
        y = np.multiply(xhat, gamma, out=sq)
        y += beta
        ctx.fallback = None
        if not any(ctx.needs_input_grad):
            return y
        if uses_lossless("layer_norm"):
            _save_from_output(ctx, y, xhat, rstd, gamma, beta)
        else:
            ctx.save(xhat, role=EXACT)
            ctx.save(rstd, role=EXACT)
            ctx.save(gamma, role=PARAMETER)
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.fallback is None:
            xhat, rstd, gamma = ctx.saved
        else:
            xhat, rstd, gamma = _recover_xhat(ctx)
        return _layer_norm_grads(g, xhat, rstd, gamma, ctx.needs_input_grad)


def _recoverable(gamma, beta):
    """Features whose normalised input can be recovered from the output within
    ``2 (|xhat| + LN_RATIO) eps``: ``gamma`` non-zero and normal, ``|beta| <= LN_RATIO |gamma|``."""
    tiny = np.finfo(gamma.dtype).tiny
    return (np.abs(gamma) >= tiny) & (np.abs(beta) <= LN_RATIO * np.abs(gamma))


def _save_from_output(ctx, y, xhat, rstd, gamma, beta):
    """Keep ``y`` (shared with whoever reads it next), ``rstd`` and, for the features
    :func:`_recoverable` refuses, their ``xhat`` columns."""
    bad = np.flatnonzero(~_recoverable(gamma, beta))
    ctx.fallback = len(bad)
    ctx.save(y, role=EXACT)
    ctx.save(rstd, role=EXACT)
    ctx.save(gamma, role=PARAMETER)
    ctx.save(beta, role=PARAMETER)
    if len(bad):
        ctx.save(bad, role=INDEX)
        ctx.save(np.ascontiguousarray(xhat[..., bad]), role=EXACT)


def _recover_xhat(ctx):
    """``(xhat, rstd, gamma)`` rebuilt from what :func:`_save_from_output` kept."""
    y, rstd, gamma, beta, *rest = ctx.saved
    xhat = y - beta
    if ctx.fallback:
        bad, columns = rest
        xhat /= np.where(_recoverable(gamma, beta), gamma, 1).astype(xhat.dtype, copy=False)
        xhat[..., bad] = columns
    else:
        xhat /= gamma
    return xhat, rstd, gamma


def _layer_norm_grads(g, xhat, rstd, gamma, need):
    # gx = rstd (g gamma - mean(g gamma) - xhat mean(g gamma xhat)); the two means are
    # matrix-vector products with gamma, so only two full-size buffers are made
    d = g.shape[-1]
    lead = tuple(range(g.ndim - 1))
    gx = gg = None
    gxh = g * xhat
    if need[1]:
        gg = gxh.sum(axis=lead)
    if need[0]:
        m_gxhat_xhat = np.matmul(gxh, gamma)[..., None] / d
        gx = g * gamma
        gx -= np.matmul(g, gamma)[..., None] / d
        gx -= np.multiply(xhat, m_gxhat_xhat, out=gxh)
        gx *= rstd
    gb = g.sum(axis=lead) if need[2] else None
    return gx, gg, gb


class BatchNorm(Function):
    """Normalise over every axis but the channel axis 1 ((N, C) or (N, C, H, W)).

    In training, batch statistics normalise and the running statistics (updated in place) track
    them with ``momentum``, the running variance unbiased as in PyTorch.  In inference the
    running statistics normalise.
    """

    name = "batch_norm"
    arg_names = ("x", "gamma", "beta")

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        c = x.shape[1]
        axes = (0,) + tuple(range(2, x.ndim))
        bshape = (1, c) + (1,) * (x.ndim - 2)
        if training:
            count = x.size // c
            if count < 2:
                raise ValueError(f"batch_norm: training needs more than one value per channel, "
                                 f"got x of shape {x.shape}")
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = (xc * xc).mean(axis=axes, keepdims=True)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean.reshape(c)
                running_var *= 1 - momentum
                running_var += momentum * var.reshape(c) * (count / (count - 1))
        else:
            xc = x - running_mean.reshape(bshape).astype(x.dtype, copy=False)
            var = running_var.reshape(bshape).astype(x.dtype, copy=False)
        rstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = xc * rstd
        ctx.training, ctx.axes, ctx.bshape = training, axes, bshape
        if any(ctx.needs_input_grad):
            ctx.save(xhat, role=EXACT)
            ctx.save(rstd, role=EXACT)
            ctx.save(gamma, role=PARAMETER)
        return xhat * gamma.reshape(bshape) + beta.reshape(bshape)

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, gamma = ctx.saved
        need, axes = ctx.needs_input_grad, ctx.axes
        gx = None
        if need[0]:
            gxhat = g * gamma.reshape(ctx.bshape)
            if ctx.training:
                gx = rstd * (gxhat - gxhat.mean(axis=axes, keepdims=True)
                             - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True))
            else:
                gx = gxhat * rstd
        gg = (g * xhat).sum(axis=axes) if need[1] else None
        gb = g.sum(axis=axes) if need[2] else None
        return gx, gg, gb


def layer_norm(x, gamma, beta, eps=1e-5):
    """Layer normalisation over the last axis."""
    return LayerNorm.apply(as_tensor(x), as_tensor(gamma), as_tensor(beta), eps=float(eps))


def batch_norm(x, gamma, beta, running_mean=None, running_var=None, training=True,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over all axes but 1.  ``running_mean``/``running_var`` are float
    arrays of shape (C,), updated in place in training and required in inference."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x must be (N, C) or (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    for name, a in (("gamma", gamma), ("beta", beta)):
        if tuple(getattr(a, "shape", ())) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},), got {getattr(a, 'shape', None)}")
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if a is None:
            if not training:
                raise ValueError(f"batch_norm: inference (training=False) needs {name}")
        elif not isinstance(a, np.ndarray) or a.shape != (c,):
            raise ValueError(f"batch_norm: {name} must be an ndarray of shape ({c},)")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum!r}")
    return BatchNorm.apply(x, as_tensor(gamma), as_tensor(beta), running_mean=running_mean,
                           running_var=running_var, training=bool(training),
                           momentum=float(momentum), eps=float(eps))
