"""Embedding lookup."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..stash.roles import INDEX
from ._util import as_tensor


class Embedding(Function):
    """``weight[indices]``; the backward scatters rows of the gradient into the weight."""

    arg_names = ("indices", "weight")
    int_args = frozenset({0})

    @staticmethod
    def forward(ctx, indices, weight):
        ctx.weight_shape = weight.shape
        if ctx.needs_input_grad[1]:
            ctx.save(indices, role=INDEX)
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        (indices,) = ctx.saved
        gw = np.zeros(ctx.weight_shape, dtype=g.dtype)
        np.add.at(gw, indices.reshape(-1), g.reshape(-1, ctx.weight_shape[1]))
        return None, gw


def embedding(indices, weight):
    """Rows of ``weight`` (V, D) picked by integer ``indices`` of any shape."""
    idx = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim), got shape {weight.shape}")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= weight.shape[0]):
        raise IndexError(f"embedding: indices must be in [0, {weight.shape[0]}), got values in "
                         f"[{idx.min()}, {idx.max()}]")
    return Embedding.apply(idx, weight)
