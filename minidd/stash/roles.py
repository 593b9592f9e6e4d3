"""What a saved array is for (its *role*), and the layer scope that names it.

Every array an op keeps for its backward pass goes through ``ctx.save(array, role=...)``.
The role tells a stash policy what it may do with the array:

``WEIGHT_GRAD_INPUT``
    The input X of a linear or convolution layer, read only to form the weight gradient
    ``dW = X^T dY``.  The input gradient ``dX = dY W^T`` never reads it, so a lossy stash
    (deferred dropout) may sparsify exactly these arrays.
``EXACT``
    Input-gradient math needs the array as it is (a tanh output, a LayerNorm's normalised
    input).  Policies may compress it only losslessly.
``PARAMETER``
    A weight.  It is alive anyway, so it is kept by reference, never copied or counted.
``INDEX``
    Integer or boolean indices and masks (ReLU's mask, max-pool's argmax, labels).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

WEIGHT_GRAD_INPUT = "weight_grad_input"
EXACT = "exact"
PARAMETER = "parameter"
INDEX = "index"
ROLES = (WEIGHT_GRAD_INPUT, EXACT, PARAMETER, INDEX)

#: The names of every op (``Function.name``), filled in as ops are defined: what a policy's
#: ``PackInfo.op`` can be, so options naming ops (``exact_ops``) can be checked.
OP_NAMES: set[str] = set()


@dataclass(frozen=True)
class Scope:
    """The layer an op runs in: its dotted name and whether it is marked to stay dense."""

    name: str = ""
    keep_dense: bool = False


_scopes: list[Scope] = [Scope()]


def current_scope() -> Scope:
    """The innermost active :class:`Scope`."""
    return _scopes[-1]


@contextlib.contextmanager
def scope(name: str, keep_dense: bool = False, absolute: bool = False):
    """Run the block inside layer ``name``: joined to the enclosing scope with a dot, or taken
    as it is when ``absolute`` (modules pass their full dotted path).

    ``keep_dense`` marks the layer as one that lossy policies leave dense by default (the
    first layer, embeddings, the classifier head); it is inherited by nested scopes.
    """
    if not isinstance(name, str):
        raise TypeError(f"scope: name must be a str, got {type(name).__name__}")
    outer = _scopes[-1]
    if absolute:
        full = name or outer.name
    else:
        full = f"{outer.name}.{name}" if outer.name and name else (name or outer.name)
    _scopes.append(Scope(full, keep_dense or outer.keep_dense))
    try:
        yield _scopes[-1]
    finally:
        _scopes.pop()
