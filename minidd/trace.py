"""Trace a minidd model for the hardware model: layer shapes and measured stash statistics.

The trace is plain data in the workload format of :mod:`hardware.workload` (per sample), so the
hardware package never imports minidd: ``hardware.workload_from_dict(trace(...))``.
"""
from __future__ import annotations

import math

import numpy as np

from . import _check, stash
from .nn.layers import Conv1d, Conv2d, Linear
from .nn.module import Module

def _keep_dense(model: Module) -> set:
    marked = set()
    for name, mod in model.named_modules():
        if mod.stash_dense or any(name.startswith(p + ".") for p in marked if p):
            marked.add(name)
    return marked


def trace(model: Module, loss_fn, batch: int, name: str = "minidd-model",
          policy: stash.StashPolicy | None = None) -> dict:
    """Run ``loss_fn(model)`` once (one batch of ``batch`` samples) and describe what it stashed.

    ``policy`` (default :class:`~minidd.stash.ZeroValue`, which measures natural sparsity) is
    active during the pass; its full config (``policy.config()``) is recorded under ``"policy"``
    so the hardware side models the same structure, selection and value type
    (``hardware.policy_from_config(trace["policy"])``).  Linear, Conv1d and Conv2d modules become ``gemm`` layers whose
    ``weight_grad_input`` item carries the measured fraction of zeros; every other layer's saved
    arrays become the stash of a ``vector`` layer (masks at 1 bit per element, integer indices at
    their width).  The measured ledger (bytes per layer under ``policy``) is kept under
    ``"measured"``.
    """
    _check.positive_int(batch, "trace: batch")
    policy = policy or stash.ZeroValue()
    gemms = {n: m for n, m in model.named_modules() if isinstance(m, (Linear, Conv1d, Conv2d))}
    dense = _keep_dense(model)
    with stash.use(policy):
        loss = loss_fn(model)
        rows = stash.ledger().rows()
        measured = stash.ledger().by("layer")
        loss.backward()
        del loss
    per_layer: dict[str, list] = {}
    for r in rows:
        per_layer.setdefault(r.layer, []).append(r)
    layers = []
    for lname, lrows in per_layer.items():
        wgi = [r for r in lrows if r.role == stash.WEIGHT_GRAD_INPUT]
        others = [r for r in lrows if r.role != stash.WEIGHT_GRAD_INPUT]
        if lname in gemms and wgi:
            layers.append(_gemm(lname, gemms[lname], wgi[0], batch, lname in dense,
                                input_grad=bool(layers)))
            if wgi[0].refs > 1:  # sibling modules that read the same stashed input (Q, K, V)
                parent = lname.rsplit(".", 1)[0]
                for other, mod in gemms.items():
                    if other not in per_layer and other.rsplit(".", 1)[0] == parent:
                        layers.append(_gemm(other, mod, wgi[0], batch, other in dense, shares=lname))
        if others:
            layers.append(_vector(lname, others, batch))
    return {"name": name, "layers": layers, "batch": batch, "policy": policy.config(),
            "measured": {k: dict(v) for k, v in measured.items()}}


def _gemm(lname, mod, row, batch, keep_dense, shares="", input_grad=True):
    per_sample = row.numel // batch
    if isinstance(mod, Linear):
        k, n = mod.in_features, mod.out_features
        m = per_sample // k
    else:
        c, o, (kh, kw) = mod.in_channels, mod.out_channels, mod.kernel_size
        _, h, w = row.shape[1:]
        ho, wo = ((size + 2 * p - d * (kk - 1) - 1) // st + 1 for size, kk, st, p, d in
                  zip((h, w), mod.kernel_size, mod.stride, mod.padding, mod.dilation))
        m, k, n = ho * wo, c * kh * kw, o
    stash_items = [] if shares else [{
        "role": "weight_grad_input", "elements": per_sample,
        "natural_sparsity": 0.0 if row.nonzero is None else 1.0 - row.nonzero / row.numel,
        "row_elements": k if isinstance(mod, Linear) else c}]  # a token's / a position's features
    params = int(sum(p.size for p in (mod.weight, mod.bias) if p is not None))
    layer = {"name": lname, "kind": "gemm", "m": max(1, m), "k": k, "n": n, "params": params,
             "out_elements": max(1, m) * n, "stash": stash_items, "keep_dense": keep_dense,
             "shares_stash_with": shares, "input_grad": input_grad}
    # the geometry for block skipping on the im2col reduction; the hardware model's geometry is
    # square and undilated, so another convolution is traced as a plain GEMM
    if not isinstance(mod, Linear) and (kh == kw and len({*mod.stride}) == len({*mod.padding}) == 1
                                        and mod.dilation == (1, 1)):
        layer["conv"] = [h, w, kh, mod.stride[0], mod.padding[0]]
    return layer


def _vector(lname, rows, batch):
    items, elements = [], 0
    for r in rows:
        per_sample = max(1, math.ceil(r.numel / batch))
        elements = max(elements, per_sample)
        bits = 1 if r.dtype == "bool" else (np.dtype(r.dtype).itemsize * 8 if r.role == stash.INDEX else None)
        item = {"role": r.role if r.role != stash.WEIGHT_GRAD_INPUT else "exact", "elements": per_sample}
        if bits is not None:
            item["bits"] = bits
        elif r.nonzero is not None and r.numel:
            item["natural_sparsity"] = 1.0 - r.nonzero / r.numel
        items.append(item)
    return {"name": f"{lname}.saved" if lname else "saved", "kind": "vector",
            "vector_flops": 10 * elements, "out_elements": elements, "stash": items}
