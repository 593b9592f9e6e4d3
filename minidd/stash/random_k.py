"""Random-k: the control beside deferred dropout in the masked-LM study.

:class:`RandomK` keeps the same number of elements of each weight-gradient input as
``DeferredDropout(drop)`` does, in the same layers and stored the same way, but chooses them
uniformly at random instead of by magnitude (kept values are not rescaled, as deferred dropout
does not rescale either).  A gain that random-k shares is not about *which* elements deferred
dropout keeps.  With ``rescale=True`` the kept values are multiplied by ``n / k`` (the inverse of
each element's chance of being kept, ``1 / (1 - drop)`` up to rounding), which makes the weight
gradient an unbiased estimate of the dense one: the unbiased control.  Every other array is
stored losslessly, as :class:`~minidd.stash.ZeroValue` does.  It registers as ``random_k``:
``stash.parse_spec("random_k:0.9")`` builds it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _check
from .entries import DenseEntry, pack_sparse
from .policies import StashPolicy, zero_value_pack
from .roles import PARAMETER, WEIGHT_GRAD_INPUT


class RandomK(StashPolicy):
    """Keep ``ceil((1 - drop) n)`` uniformly chosen elements of each weight-gradient input.

    Layers marked ``keep_dense`` (first layer, embeddings, heads) stay lossless, as under
    :class:`~minidd.stash.DeferredDropout`.  ``seed`` seeds the generator of the choices;
    ``rescale`` multiplies the kept values by ``n / k`` (unbiased).
    ``lossless`` as every policy's (:data:`~minidd.stash.policies.LOSSLESS_OPS`).
    """

    name = "random_k"

    def __init__(self, drop: float = 0.9, seed: int = 0, rescale: bool = False, *, lossless="none"):
        super().__init__(lossless=lossless)
        self.drop = _check.fraction(drop, "RandomK: drop")
        self.seed = _check.integer(seed, "RandomK: seed", least=0)
        self.rescale = _check.flag(rescale, "RandomK: rescale")
        self.rng = np.random.default_rng(seed)

    def config(self) -> dict:
        return {"policy": self.name, "drop": self.drop, "seed": self.seed, "rescale": self.rescale,
                **self._lossless_config()}

    def storage_config(self) -> dict:
        """Random-k stores what deferred dropout at the same drop rate stores."""
        return {"policy": "deferred_dropout", "drop": self.drop, **self._lossless_config()}

    def pack(self, array, info):
        if info.role == PARAMETER:
            return DenseEntry(array)
        if (info.role != WEIGHT_GRAD_INPUT or array.dtype.kind != "f" or array.size == 0
                or info.scope.keep_dense or self.drop == 0.0):
            return zero_value_pack(array)
        n = array.size
        k = math.ceil((1.0 - self.drop) * n)
        mask = np.zeros(n, bool)
        mask[self.rng.choice(n, size=k, replace=False)] = True
        nonzero = int(np.count_nonzero(array))
        if self.rescale:
            array = array * array.dtype.type(n / k)
        return pack_sparse(array, mask, nonzero=nonzero, target_kept=k)
