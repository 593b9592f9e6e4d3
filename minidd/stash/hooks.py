"""A policy from a PyTorch-style pair of saved-tensor hooks.

:func:`hooks` wraps the pair ``torch.autograd.graph.saved_tensors_hooks`` takes, so readers who
know that API see where it lives here::

    # PyTorch                                        # minidd
    with torch.autograd.graph.saved_tensors_hooks(  with minidd.stash.use(
            pack, unpack):                                  minidd.stash.hooks(pack, unpack)):
        loss = model(x).sum()                           loss = model(x).sum()
    loss.backward()                                     loss.backward()  # inside the block

with, for float16 copies of the floating arrays (masks and indices pass through)::

    def pack(a):   return (a.astype(np.float16), a.dtype) if a.dtype.kind == "f" else a
    def unpack(p): return p[0].astype(p[1]) if isinstance(p, tuple) else p

The differences: the hooks see ndarrays, not tensors; ``pack`` is called once per distinct saved
array (an array several ops save is packed once and shared, see :mod:`minidd.stash.store`);
weights (role ``PARAMETER``) are kept by reference and never reach it; ``unpack`` must give back
an array of the saved shape and dtype; and backward runs inside the block (the stash refuses to
change policy while a graph holds saved arrays).

The ledger books what ``pack`` returns: the ``nbytes`` of every distinct ndarray (and NumPy
scalar, ``bytes``, ``bytearray``) found in it, through tuples, lists and dict values, plus the
descriptor every entry pays; other Python objects count as 0 bytes, so return arrays to be
counted.  An array kept by reference (``pack`` returning the array or a view of it) is booked
at its size and made read-only while stashed, as :class:`~minidd.stash.Dense` does: hooks that
return the array itself give exactly ``Dense``'s gradients and ledger.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import guard
from .entries import StashEntry
from .policies import PackInfo, StashPolicy


def _buffers(obj, out: dict) -> dict:
    """The distinct buffers in ``obj`` (by id), searched through tuples, lists and dict values."""
    if isinstance(obj, (np.ndarray, np.generic, bytes, bytearray)):
        out[id(obj)] = obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _buffers(item, out)
    elif isinstance(obj, dict):
        for item in obj.values():
            _buffers(item, out)
    return out


def _nbytes(buf) -> int:
    return len(buf) if isinstance(buf, (bytes, bytearray)) else int(buf.nbytes)


class HooksEntry(StashEntry):
    """What a ``pack`` hook returned, and the ``unpack`` hook that rebuilds the array."""

    kind = "hooks"
    __slots__ = ("packed", "unpack_hook", "_pinned", "_payload")

    def __init__(self, array: np.ndarray, packed, unpack_hook: Callable):
        self.packed, self.unpack_hook = packed, unpack_hook
        buffers = _buffers(packed, {}).values()
        shared = [b for b in buffers if isinstance(b, np.ndarray) and np.may_share_memory(b, array)]
        # kept by reference: the array and what shares its memory are read-only while stashed
        self._pinned = [(a, guard.pin(a)) for a in ([array, *shared] if shared else [])]
        self._payload = sum(_nbytes(b) for b in buffers)
        super().__init__(array.shape, array.dtype)

    def _payload_nbytes(self):
        return self._payload

    def unpack(self):
        out = self.unpack_hook(self.packed)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"stash.hooks: unpack returned {type(out).__name__}; expected the "
                            f"numpy.ndarray that was packed (shape {self.shape}, {self.dtype})")
        if out.shape != self.shape or out.dtype != self.dtype:
            raise ValueError(f"stash.hooks: unpack returned an array of shape {out.shape}, "
                             f"{out.dtype}; expected the packed array's shape {self.shape}, "
                             f"{self.dtype} (cast back what pack narrowed)")
        return out

    def keeps(self, array):
        return bool(self._pinned) and self._pinned[0][0] is array

    def drop(self):
        for a, flipped in self._pinned:  # the array first: its views can only follow it
            guard.unpin(a, flipped)
        self.packed, self._pinned = None, []


class HooksPolicy(StashPolicy, register=False):
    """Stash every saved array as ``pack(array)``; backward reads ``unpack(packed)``.

    Not registered: two Python functions are not plain data, so this policy has no spec string
    or config file (``config()`` names the functions, for messages and run records).
    """

    name = "hooks"

    def __init__(self, pack: Callable, unpack: Callable):
        for arg, hook in (("pack", pack), ("unpack", unpack)):
            if not callable(hook):
                raise TypeError(f"stash.hooks: {arg} must be a callable "
                                f"({'ndarray -> anything' if arg == 'pack' else 'anything -> ndarray'}), "
                                f"got {type(hook).__name__}")
        self.pack_hook, self.unpack_hook = pack, unpack

    def pack(self, array: np.ndarray, info: PackInfo) -> HooksEntry:
        return HooksEntry(array, self.pack_hook(array), self.unpack_hook)

    def config(self) -> dict:
        return {"policy": self.name, "pack": _qualname(self.pack_hook),
                "unpack": _qualname(self.unpack_hook)}

    def __eq__(self, other):
        if not isinstance(other, StashPolicy):
            return NotImplemented
        return (type(self) is type(other) and self.pack_hook is other.pack_hook
                and self.unpack_hook is other.unpack_hook)

    def __hash__(self):
        return hash((type(self), id(self.pack_hook), id(self.unpack_hook)))


def _qualname(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def hooks(pack: Callable, unpack: Callable) -> HooksPolicy:
    """A stash policy from a ``torch.autograd.graph.saved_tensors_hooks``-style pair:
    ``pack(ndarray) -> anything`` when an op saves an array, ``unpack(anything) -> ndarray``
    when backward reads it.  Use it as any policy: ``with stash.use(stash.hooks(pack, unpack)):``
    (see the module docstring for the mapping to PyTorch and how the ledger counts it)."""
    return HooksPolicy(pack, unpack)
