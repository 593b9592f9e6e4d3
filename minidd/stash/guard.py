"""Read-only guards: nothing writes an array saved for backward before backward has read it.

Two layers, both undone when the last graph that saved the array is freed:

* an entry that keeps an array by reference (:class:`~minidd.stash.entries.DenseEntry`, a
  :func:`~minidd.stash.hooks` entry whose packed form shares the array's memory) *pins* it:
  :func:`pin` makes the array read-only, :func:`unpin` makes it writeable again;
* the graph node that saved it (:class:`~minidd.autograd.Context`) guards the array's *bases*,
  the arrays it is a view of, since a write through them would still change it
  (:func:`guard_saved`, then :func:`unguard_bases` and :func:`restore_arrays` on release).  Bases
  are counted per array (several saved views may share a base) and made writeable again,
  outermost first, when the last guard on them goes.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

_guards: dict[int, list] = {}   # id(array) -> [weakref to array, count, made read-only by us]
_idle: set[int] = set()         # keys of _guards whose count is 0: to restore


def pin(array: np.ndarray) -> bool:
    """Make ``array`` read-only; True if it was writeable (so :func:`unpin` must restore it)."""
    flipped = bool(array.flags.writeable)
    if flipped:
        array.flags.writeable = False
    return flipped


def unpin(array: np.ndarray, flipped: bool) -> None:
    """Undo :func:`pin` (nothing if it did not flip the flag, or a base became read-only)."""
    if flipped:
        try:
            array.flags.writeable = True
        except ValueError:  # its base became read-only meanwhile: leave it as it is
            pass


def bases(a: np.ndarray) -> list:
    """``a`` and the chain of ndarrays it is a view of, innermost first."""
    chain = [a]
    while isinstance(chain[-1].base, np.ndarray):
        chain.append(chain[-1].base)
    return chain


def root(a: np.ndarray) -> np.ndarray:
    """The ndarray that owns ``a``'s memory (``a`` itself unless it is a view)."""
    return bases(a)[-1]


@dataclass
class Guarded:
    """One array a node saved by reference: its entry, the array (weakly), whether it was
    writeable before, and the bases the node made read-only."""

    entry: object
    ref: weakref.ref
    writeable: bool
    bases: list


def guard_saved(entry, array: np.ndarray, writeable: bool) -> Guarded | None:
    """If ``entry`` keeps ``array`` by reference, make its bases read-only and return the record
    that :func:`unguard_bases` and :func:`restore_arrays` undo; otherwise ``None``."""
    if not entry.keeps(array):
        return None
    chain = bases(array)[1:]
    for a in chain:
        rec = _guards.get(id(a))
        if rec is None or rec[0]() is not a:
            rec = _guards[id(a)] = [weakref.ref(a), 0, False]
        if a.flags.writeable:
            a.flags.writeable = False
            rec[2] = True
        rec[1] += 1
        _idle.discard(id(a))
    return Guarded(entry, weakref.ref(array), writeable, chain)


def unguard_bases(records) -> None:
    """A node is being freed: drop its guards on the bases (before its entries are released)."""
    for g in records:
        for a in g.bases:
            rec = _guards[id(a)]
            rec[1] -= 1
            if not rec[1]:
                _idle.add(id(a))
    _restore()


def restore_arrays(records) -> None:
    """After the node's entries are released: an array that was writeable before it was saved
    but could not be restored yet (a base of it is still guarded by another graph) is restored
    together with that base."""
    for g in records:
        a = g.ref()
        if a is not None and g.writeable and g.entry.refs <= 0 and not a.flags.writeable:
            rec = _guards.get(id(a))
            if rec is None or rec[0]() is not a:
                _guards[id(a)] = [weakref.ref(a), 0, True]
                _idle.add(id(a))
            _restore()


def _restore() -> None:
    progress = True
    while progress:
        progress = False
        for key in list(_idle):
            ref, count, ours = _guards[key]
            a = ref()
            if a is not None and ours:
                try:
                    a.flags.writeable = True
                except ValueError:  # its base is still read-only
                    if isinstance(a.base, np.ndarray) and id(a.base) in _guards:
                        continue    # guarded by another live graph: retry when that one is freed
            del _guards[key]
            _idle.discard(key)
            progress = True
