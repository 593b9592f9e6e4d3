"""Exercise 3 (tutorial stop 8): a stash policy's pack and unpack.  HalfPrecision keeps every
saved floating-point activation in float16 (half the bytes) and rebuilds it in its own dtype.

Write ``HalfEntry.__init__`` (keep ``array`` as float16 in ``self.half``, then call
``super().__init__(array.shape, array.dtype)``, which books ``_payload_nbytes()``),
``_payload_nbytes``, ``unpack`` (the array in its own dtype) and ``HalfPrecision.pack``: a
``HalfEntry`` for floating arrays whose ``info.role`` is ``roles.EXACT`` or
``roles.WEIGHT_GRAD_INPUT``, a ``DenseEntry(array)`` for everything else (parameters, masks,
indices).  Check: ``python -m pytest exercises/check_exercises.py -k ex3``.
"""
import numpy as np  # noqa: F401  (you will need it)

from minidd.stash import roles  # noqa: F401
from minidd.stash.entries import DenseEntry, StashEntry  # noqa: F401
from minidd.stash.policies import StashPolicy


class HalfEntry(StashEntry):
    """An array kept as float16; ``unpack`` gives it back in its own dtype and shape."""

    kind = "half"
    __slots__ = ("half",)

    def __init__(self, array):
        raise NotImplementedError("exercise 3: keep the array as float16, then super().__init__")

    def _payload_nbytes(self):
        raise NotImplementedError("exercise 3: the bytes this entry keeps")

    def unpack(self):
        raise NotImplementedError("exercise 3: the array, in its own dtype")

    def drop(self):
        self.half = None


class HalfPrecision(StashPolicy):
    """float16 for activations; parameters, masks and indices as they are."""

    def pack(self, array, info):
        raise NotImplementedError("exercise 3: a HalfEntry or a DenseEntry, by info.role")
