"""The floor controls: freeze the layers whose weight gradient a stash policy sparsifies.

Deferred dropout computes ``dW = dY^T X`` from a sparsified ``X`` in every ``Linear`` / ``Conv``
layer not marked ``stash_dense`` (first layers, embeddings and heads are marked).  As the drop
rate goes to 1 those weights stop learning; freezing them at their initial values is that
limit, the floor against which a policy's retained quality ``R = (floor - arm) / (floor - dense)``
is read.  ``what`` names the layers:

``None``               nothing frozen;
``"touched"``          the layers deferred dropout sparsifies by default, weight *and* bias (not
                       trained, not decayed, their inputs not stashed): the floor;
``"touched_weights"``  only their weights, their biases train: the limit drop -> 1 of deferred
                       dropout, which still has the bias gradient (it reads only dY);
``"all"``              every Linear / Conv layer: the floor of ``keep_marked_dense=false``.
"""
from __future__ import annotations

from ..nn import Conv1d, Conv2d, Linear, Module

FREEZE = (None, "touched", "touched_weights", "all")
LAYERS = (Linear, Conv1d, Conv2d)   #: the layers whose input deferred dropout can sparsify


def touched_layers(model: Module, keep_marked_dense: bool = True) -> list[str]:
    """Names of the layers of ``model`` whose weight gradient deferred dropout sparsifies: every
    Linear / Conv layer, less those marked ``stash_dense`` when ``keep_marked_dense``."""
    if not isinstance(model, Module):
        raise TypeError(f"touched_layers: model must be a minidd.nn.Module, got {type(model).__name__}")
    return [name for name, m in model.named_modules()
            if isinstance(m, LAYERS) and not (keep_marked_dense and m.stash_dense)]


def touched_weights(model: Module, keep_marked_dense: bool = True) -> list[str]:
    """The parameter names of those layers' weights (``"<layer>.weight"``)."""
    return [f"{name}.weight" if name else "weight" for name in touched_layers(model, keep_marked_dense)]


def freeze(model: Module, what) -> list[str]:
    """Freeze the layers ``what`` names (see the module docstring) at their current values;
    returns the names of those layers."""
    if what not in FREEZE:
        raise ValueError(f"freeze must be one of {FREEZE}, got {what!r}")
    if what is None:
        return []
    layers = touched_layers(model, keep_marked_dense=what != "all")
    for name, p in model.named_parameters():
        layer, _, leaf = name.rpartition(".")
        if layer in layers and (what != "touched_weights" or leaf == "weight"):
            p.requires_grad_(False)
    return layers
