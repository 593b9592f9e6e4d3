"""The stash store: the active policy, the ledger, and the one ``save`` every op goes through.

An array saved by several ops (a LayerNorm output read by the Q, K and V projections) is packed
once and shared (a weight-gradient input also shares an exact entry of the same array, such as
the output a lossless LayerNorm or GELU keeps: the exact copy serves both): the store keys live entries by the array's identity and role, checked through
a weak reference so that a recycled ``id`` is never mistaken for the same array, and so that the
store itself never keeps a dense array alive.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from .. import _check
from . import roles as R
from .entries import StashEntry
from .ledger import Ledger
from .policies import Dense, PackInfo, StashPolicy


class _State:
    policy: StashPolicy = Dense()
    ledger: Ledger = Ledger()
    table: dict = {}


class _ParameterRef(StashEntry):
    """A parameter kept by reference: not a stash byte, never copied, not in the ledger."""

    kind = "parameter"
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array
        super().__init__((), array.dtype)
        self.nbytes = 0

    def _payload_nbytes(self):
        return 0

    def unpack(self):
        return self.array

    def drop(self):
        self.array = None


def get_policy() -> StashPolicy:
    """The policy new saves go through."""
    return _State.policy


def ledger() -> Ledger:
    """The ledger of the live stash."""
    return _State.ledger


def set_policy(policy: StashPolicy) -> None:
    """Make ``policy`` the active stash policy.

    Raises ``RuntimeError`` while a graph still holds saved arrays: they were packed by the old
    policy, and mixing policies within one graph would make its ledger meaningless.
    """
    if not isinstance(policy, StashPolicy):
        raise TypeError(f"set_policy: policy must be a StashPolicy (Dense, ZeroValue, "
                        f"DeferredDropout, ...), got {type(policy).__name__}")
    live = len(_State.ledger)
    if live and policy is not _State.policy:
        raise RuntimeError(f"set_policy: a graph is still alive ({live} saved arrays), held "
                           f"by {describe_live_graph() if describe_live_graph else 'a tensor'}: call "
                           "backward() on it or `del` it first")
    _State.policy = policy


#: Describes the live graphs' outputs for the error below; minidd.graph installs it (the store
#: cannot import the engine: the engine imports the store).
describe_live_graph = None


@contextlib.contextmanager
def use(policy: StashPolicy):
    """Run the block with ``policy`` active, then restore the previous one."""
    previous = _State.policy
    set_policy(policy)
    try:
        yield policy
    except BaseException:
        _State.policy = previous  # the block failed: its graph is being abandoned, do not mask the error
        raise
    set_policy(previous)


def uses_lossless(op: str) -> bool:
    """Whether the active policy's ``lossless=`` option turns on op ``op``'s compact form."""
    return _State.policy.uses_lossless(op)


def save(array: np.ndarray, role: str, op: str, row_size: int | None = None,
         feature_axis: int = -1) -> StashEntry:
    """Pack ``array`` for ``op``'s backward under the active policy (or share a live entry).

    ``row_size`` is the length of one row for per-row policies; ``feature_axis`` the axis of a
    weight-gradient input's features (-1 for linear, 1 for NCHW convolution input).  The policy
    is handed these, the role and the current layer scope as one :class:`PackInfo`.
    """
    if role not in R.ROLES:
        raise ValueError(f"{op}: unknown stash role {role!r}; expected one of {R.ROLES}")
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{op}: ctx.save takes a numpy.ndarray, got {type(array).__name__}")
    form = f"-1 (features last) or an axis of the {array.ndim}-d array"
    feature_axis = _check.integer(feature_axis, f"{op}: ctx.save feature_axis", form=form)
    if not (feature_axis == -1 or 0 <= feature_axis < max(array.ndim, 1)):
        raise ValueError(f"{op}: ctx.save feature_axis must be {form}, got {feature_axis!r}")
    if role == R.PARAMETER:
        return _ParameterRef(array)
    key = (id(array), role)
    for k in (key, (id(array), R.EXACT)) if role == R.WEIGHT_GRAD_INPUT else (key,):
        entry = _State.table.get(k)
        if entry is not None and entry.source() is array:
            entry.refs += 1  # an exact copy serves a weight gradient too (LayerNorm/GELU outputs)
            return entry
    scope = R.current_scope()
    entry = _State.policy.pack(array, PackInfo(role, scope, op, row_size, feature_axis))
    entry.layer = scope.name or op
    entry.role, entry.op, entry.key, entry.source, entry.refs = role, op, key, weakref.ref(array), 1
    _State.table[key] = entry
    _State.ledger.add(entry)
    return entry


def release(entry: StashEntry) -> None:
    """One op is done with ``entry``; the last one frees it."""
    if entry.kind == "parameter":
        entry.drop()
        return
    entry.refs -= 1
    if entry.refs > 0:
        return
    if _State.table.get(entry.key) is entry:
        del _State.table[entry.key]
    _State.ledger.remove(entry)
    entry.drop()
