"""The floor control: freeze the weights whose gradient a stash policy sparsifies.

Deferred dropout computes ``dW = dY^T X`` from a sparsified ``X`` in every ``Linear`` not marked
``stash_dense`` (first layers, embeddings and heads are marked).  As the drop rate goes to 1
those weights stop learning; freezing them at their initial values is that limit, the floor
against which a policy's retained quality ``R = (floor - arm) / (floor - dense)`` is read.
"""
from __future__ import annotations

from ..nn import Linear, Module


def touched_weights(model: Module, keep_marked_dense: bool = True) -> list[str]:
    """Names of the weights of ``model`` whose gradient deferred dropout sparsifies: every
    ``Linear``'s weight, less those of layers marked ``stash_dense`` when ``keep_marked_dense``."""
    if not isinstance(model, Module):
        raise TypeError(f"touched_weights: model must be a minidd.nn.Module, got {type(model).__name__}")
    return [f"{name}.weight" if name else "weight" for name, m in model.named_modules()
            if isinstance(m, Linear) and not (keep_marked_dense and m.stash_dense)]


def freeze(model: Module, names) -> int:
    """Make the named parameters of ``model`` constants (``requires_grad=False``); returns how
    many elements that freezes.  An unknown name is a ValueError naming it."""
    params = dict(model.named_parameters())
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(f"freeze: {type(model).__name__} has no parameters {unknown}")
    for n in names:
        params[n].requires_grad_(False)
    return sum(params[n].size for n in names)
