"""Gradient fidelity probe: how close a policy's gradients are to the dense ones, for the
weights (``dW``, what deferred dropout approximates) and for the inputs of the linear layers
(``dX``, exact unless a policy also sparsifies exact stashes, ``exact_ops``)."""
from __future__ import annotations

import numpy as np

from .policies import Dense, StashPolicy
from .store import use


def gradient_fidelity(model, loss_fn, policy: StashPolicy) -> list[dict]:
    """Compare one batch's gradients under ``policy`` with those under ``Dense``.

    ``loss_fn(model)`` must build the loss of one fixed batch and be deterministic (reseed any
    dropout inside it).  Returns rows ``{"param", "grad", "cosine", "rel_error"}``
    (``rel_error = |g - g_dense| / |g_dense|``): one per parameter with at least 2 dims
    (``grad="dW"``, the weights that read a stashed input, named as the parameter), then one per
    linear layer whose input needs a gradient (``grad="dX"``, the gradient with respect to that
    input, named as the layer).  Gradients already in ``.grad`` are restored afterwards.
    """
    params = list(model.named_parameters())
    saved = [p.grad for _, p in params]
    runs = []
    try:
        for pol in (Dense(), policy):
            for _, p in params:
                p.grad = None
            with use(pol), _input_taps(model) as taps:
                loss = loss_fn(model)
                loss.backward()
                del loss
            runs.append(([p.grad for _, p in params], taps))
    finally:
        for (_, p), g in zip(params, saved):
            p.grad = g
    (dense, dense_x), (pol, pol_x) = runs
    rows = [dict(param=name, grad="dW", **_compare(gd, gp))
            for (name, p), gd, gp in zip(params, dense, pol)
            if p.ndim >= 2 and gd is not None and gp is not None]
    rows += [dict(param=name, grad="dX", **_compare(dense_x[name], pol_x[name]))
             for name in dense_x if name in pol_x]
    return rows


def gradient_noise(model, loss_fns, policy: StashPolicy) -> list[dict]:
    """The policy's weight-gradient error against the SGD sampling noise (ActNN / GACT's test).

    ``loss_fns`` are at least 2 deterministic closures ``loss_fn(model)``, one per mini-batch
    (ActNN and GACT use 16 or more).  For every batch ``i`` the dense gradient ``g_i`` and the
    policy's ``p_i`` are computed at the current weights; per parameter with at least 2 dims::

        sgd_variance = mean_i |g_i - mean(g)|^2     the mini-batch noise SGD already lives with
        error        = mean_i |p_i - g_i|^2         what the policy adds, per batch
        bias         = |mean_i (p_i - g_i)|^2 - s^2 / B
                                                    its systematic part: the squared mean error less
                                                    the part its spread over the B batches
                                                    explains (s^2 the sample variance of p_i - g_i),
                                                    an unbiased estimate of |E(p - g)|^2 (near 0,
                                                    possibly below, for an unbiased policy)

    and the ratios ``error_ratio = error / sgd_variance`` (below 1: the policy's error is smaller
    than the noise of SGD itself), ``bias_ratio = bias / sgd_variance`` and
    ``rel_bias = |mean(p - g)| / |mean(g)|``, with ``cosine`` the mean over batches of the cosine
    of ``p_i`` and ``g_i`` (the one-batch figure of :func:`gradient_fidelity`).  Gradients already
    in ``.grad`` are restored afterwards.
    """
    loss_fns = list(loss_fns)
    if len(loss_fns) < 2:
        raise ValueError(f"gradient_noise: needs at least 2 batches (loss_fns), got {len(loss_fns)}")
    every = list(model.named_parameters())
    params = [(n, p) for n, p in every if p.ndim >= 2 and p.requires_grad]
    saved = [p.grad for _, p in every]
    dense, pol = [], []
    try:
        for fn in loss_fns:
            for out, policy_ in ((dense, Dense()), (pol, policy)):
                for _, p in every:
                    p.grad = None
                with use(policy_):
                    loss = fn(model)
                    loss.backward()
                    del loss
                out.append([np.zeros(p.size) if p.grad is None else p.grad.astype(np.float64).ravel()
                            for _, p in params])
    finally:
        for (_, p), g in zip(every, saved):
            p.grad = g
    return [_noise_row(name, np.array([d[j] for d in dense]), np.array([q[j] for q in pol]))
            for j, (name, _) in enumerate(params)]


def _noise_row(name, g, p) -> dict:
    """One parameter's row of :func:`gradient_noise` from per-batch gradients (batches x size)."""
    mean_g, diff = g.mean(axis=0), p - g
    var = float(((g - mean_g) ** 2).sum(axis=1).mean())
    err = float((diff ** 2).sum(axis=1).mean())
    bias_vec = diff.mean(axis=0)
    spread = float(((diff - bias_vec) ** 2).sum(axis=1).sum()) / (len(diff) - 1)
    bias = float(bias_vec @ bias_vec) - spread / len(diff)
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(p, axis=1)
    cos = np.where(norms > 0, (g * p).sum(axis=1) / np.where(norms > 0, norms, 1.0), 1.0)
    ratio = lambda a: a / var if var > 0 else (0.0 if a == 0 else float("inf"))  # noqa: E731
    mg = float(np.linalg.norm(mean_g))
    return {"param": name, "sgd_variance": var, "error": err, "bias": bias, "error_ratio": ratio(err),
            "bias_ratio": ratio(bias), "rel_bias": float(np.sqrt(max(bias, 0.0))) / mg if mg else 0.0,
            "cosine": float(cos.mean())}


def _compare(gd, gp) -> dict:
    gd64, gp64 = gd.astype(np.float64).ravel(), gp.astype(np.float64).ravel()
    nd, npol = np.linalg.norm(gd64), np.linalg.norm(gp64)
    cos = float(gd64 @ gp64 / (nd * npol)) if nd and npol else float(nd == npol)
    rel = float(np.linalg.norm(gp64 - gd64) / nd) if nd else float(np.linalg.norm(gp64))
    return {"cosine": cos, "rel_error": rel}


class _input_taps:
    """While active, every ``nn.Linear`` of ``model`` taps its input: the gradient with respect
    to it is summed into ``taps[layer name]`` during backward."""

    def __init__(self, model):
        from .. import functional as F  # stash is imported by the engine: import ops lazily
        from ..nn.layers import Linear
        self.F, self.taps = F, {}
        self.layers = [(n, m) for n, m in model.named_modules() if isinstance(m, Linear)]

    def __enter__(self):
        for name, m in self.layers:
            object.__setattr__(m, "forward", self._tapped(name, m.forward))
        return self.taps

    def _tapped(self, name, forward):
        def record(g):
            self.taps[name] = self.taps[name] + g if name in self.taps else g.copy()
        return lambda x: forward(self.F.tap(x, record) if getattr(x, "requires_grad", False) else x)

    def __exit__(self, *exc):
        for _, m in self.layers:
            m.__dict__.pop("forward", None)
