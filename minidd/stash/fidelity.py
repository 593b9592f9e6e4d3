"""Gradient fidelity probe: how close a policy's weight gradients are to the dense ones."""
from __future__ import annotations

import numpy as np

from .policies import Dense, StashPolicy
from .store import use


def gradient_fidelity(model, loss_fn, policy: StashPolicy) -> list[dict]:
    """Compare the weight gradients of one batch under ``policy`` with those under ``Dense``.

    ``loss_fn(model)`` must build the loss of one fixed batch and be deterministic (reseed any
    dropout inside it).  Returns, per parameter with at least 2 dims (the weights that read a
    stashed input), its name, the cosine similarity and the relative error
    ``|g - g_dense| / |g_dense|``.  Gradients already in ``.grad`` are restored afterwards.
    """
    params = list(model.named_parameters())
    saved = [p.grad for _, p in params]
    grads = []
    try:
        for pol in (Dense(), policy):
            for _, p in params:
                p.grad = None
            with use(pol):
                loss = loss_fn(model)
                loss.backward()
                del loss
            grads.append([p.grad for _, p in params])
    finally:
        for (_, p), g in zip(params, saved):
            p.grad = g
    rows = []
    for (name, p), gd, gp in zip(params, *grads):
        if p.ndim < 2 or gd is None or gp is None:
            continue
        gd64, gp64 = gd.astype(np.float64).ravel(), gp.astype(np.float64).ravel()
        nd, npol = np.linalg.norm(gd64), np.linalg.norm(gp64)
        cos = float(gd64 @ gp64 / (nd * npol)) if nd and npol else float(nd == npol)
        rel = float(np.linalg.norm(gp64 - gd64) / nd) if nd else float(np.linalg.norm(gp64))
        rows.append({"param": name, "cosine": cos, "rel_error": rel})
    return rows
