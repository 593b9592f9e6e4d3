"""Exercise 3 (tutorial stop 8): a stash policy's pack and unpack.  HalfPrecision keeps every
saved floating-point activation in float16 (half the bytes) and rebuilds it in its own dtype."""
import numpy as np

from minidd.stash import roles
from minidd.stash.entries import DenseEntry, StashEntry
from minidd.stash.policies import StashPolicy


class HalfEntry(StashEntry):
    """An array kept as float16; ``unpack`` gives it back in its own dtype and shape."""

    kind = "half"
    __slots__ = ("half",)

    def __init__(self, array):
        self.half = array.astype(np.float16)
        super().__init__(array.shape, array.dtype)

    def _payload_nbytes(self):
        return self.half.nbytes

    def unpack(self):
        return self.half.astype(self.dtype)

    def drop(self):
        self.half = None


class HalfPrecision(StashPolicy):
    """float16 for activations; parameters, masks and indices as they are."""

    def pack(self, array, info):
        if info.role in (roles.EXACT, roles.WEIGHT_GRAD_INPUT) and array.dtype.kind == "f":
            return HalfEntry(array)
        return DenseEntry(array)
