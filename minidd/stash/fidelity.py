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
