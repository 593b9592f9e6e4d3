"""Stash policies: how an array saved for backward is kept until backward reads it.

* :class:`Dense` keeps every array as it is: the reference.
* :class:`ZeroValue` is the prior-work baseline (cDMA-style zero-value compression): lossless,
  a bitmap plus the non-zero values, dense where that is smaller.  It gains only where
  activations are exactly zero (after ReLU).
* :class:`DeferredDropout` is the paper's method: the forward pass has already run densely;
  each weight-gradient input keeps only its largest magnitudes, stored sparsely.  Every other
  array is stored exactly as :class:`ZeroValue` stores it, so the policy never loses to it.
"""
from __future__ import annotations

import difflib
import fnmatch
import math
from dataclasses import dataclass

import numpy as np

from .. import _check
from . import roles as R
from . import structures as S
from .entries import (VALUE_DTYPES, DenseEntry, PackedMaskEntry, StashEntry, meta_bytes, negative_zeros, pack_blocks,
                      pack_nm, pack_rows, pack_sparse, sparse_bytes)
from .structures import STRUCTURES


@dataclass(frozen=True)
class PackInfo:
    """What a policy is told about an array it packs: what the array is for (``role``, one of
    :data:`~minidd.stash.ROLES`), the layer it was saved in (``scope``), the op that saved it
    (``op``, for messages), the length of one row for per-row policies (``row_size``, ``None``
    for the last axis) and where a weight-gradient input keeps its features (``feature_axis``:
    -1 for linear, 1 for NCHW convolution input; see :mod:`minidd.stash.structures`)."""

    role: str
    scope: R.Scope = R.Scope()
    op: str = ""
    row_size: int | None = None
    feature_axis: int = -1


#: Every registered policy class by name (and alias): what specs and config dicts name.
REGISTRY: dict[str, type] = {}


#: The ops with a compact exact stash, which ``lossless=`` turns on (see docs/stash.md,
#: "Lossless reductions"): LayerNorm from its output, GELU from its output and a branch bit,
#: attention's probabilities once with the dropout mask as bits.
LOSSLESS_OPS = ("layer_norm", "gelu", "attention")

def canonical_lossless(value, who: str = "lossless") -> str:
    """The canonical string of a ``lossless=`` value: ``"none"``, ``"all"`` or names joined by
    ``+`` in :data:`LOSSLESS_OPS` order."""
    if value is True:
        return "all"
    if value is False or value is None:
        return "none"
    if isinstance(value, str):
        names = [] if value.strip() in ("none", "") else (
            list(LOSSLESS_OPS) if value.strip() == "all" else [v.strip() for v in value.split("+")])
    elif isinstance(value, (list, tuple, set, frozenset)):
        names = list(value)
    else:
        raise TypeError(f"{who}: lossless must be 'none', 'all', names joined by '+' "
                        f"(from {LOSSLESS_OPS}), a list of them or a bool, got {type(value).__name__}")
    for name in names:
        if name not in LOSSLESS_OPS:
            close = difflib.get_close_matches(str(name), LOSSLESS_OPS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{who}: lossless names an unknown op {name!r}{hint}; "
                             f"expected 'none', 'all' or some of {LOSSLESS_OPS} joined by '+'")
    chosen = [op for op in LOSSLESS_OPS if op in names]
    if len(chosen) == len(LOSSLESS_OPS):
        return "all"
    return "+".join(chosen) or "none"


def lossless_ops(value: str) -> frozenset:
    """The op names a canonical ``lossless`` string turns on."""
    if value == "all":
        return frozenset(LOSSLESS_OPS)
    return frozenset() if value == "none" else frozenset(value.split("+"))


class StashPolicy:
    """Interface: ``pack`` an array into a :class:`~minidd.stash.entries.StashEntry`.

    ``pack(array, info)`` is called once per distinct saved array, ``info`` a :class:`PackInfo`;
    the entry's ``unpack()`` rebuilds what backward reads.  ``set_step`` lets scheduled policies
    follow the training step.  ``lossless=`` (every policy) names the ops that save a compact
    exact form (:data:`LOSSLESS_OPS`; docs/stash.md).  ``config()`` describes the policy as plain
    data, every option included (:func:`minidd.stash.from_config` rebuilds it; two policies are
    equal when their configs are); ``state_dict()`` is its mutable state (for checkpoints).

    A subclass that sets ``name`` registers itself under it (and under each of its ``aliases``),
    as :class:`~minidd.autograd.Function` subclasses do: spec strings and config dicts then name
    it (``"random_k:0.9"``), so it must be constructible with its defaults.  Pass
    ``register=False`` in the class statement for a policy that cannot be written as plain data
    (:func:`minidd.stash.hooks`).
    """

    name = "policy"
    aliases: tuple = ()
    lossless = "none"  # for subclasses that take no lossless= option (their __init__ skips ours)
    _lossless_ops: frozenset = frozenset()

    def __init__(self, *, lossless="none"):
        self.lossless = canonical_lossless(lossless, type(self).__name__)
        self._lossless_ops = lossless_ops(self.lossless)

    def uses_lossless(self, op: str) -> bool:
        """Whether op ``op`` (one of :data:`LOSSLESS_OPS`) saves its
        compact exact form under this policy (the ``lossless=`` option)."""
        return op in self._lossless_ops

    def __init_subclass__(cls, register: bool = True, **kw):
        super().__init_subclass__(**kw)
        if not register or "name" not in cls.__dict__:
            return
        for key in (cls.name, *cls.aliases):
            old = REGISTRY.get(key)
            if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"{cls.__qualname__}: the policy name {key!r} is taken by "
                                 f"{old.__module__}.{old.__qualname__}; choose another name")
            REGISTRY[key] = cls

    def pack(self, array: np.ndarray, info: PackInfo) -> StashEntry:
        raise NotImplementedError

    def set_step(self, step: int) -> None:
        """Tell the policy which training step the next forward pass belongs to."""

    def check_layers(self, layer_names) -> None:
        """Raise if the policy names layers (patterns) that none of ``layer_names`` (or a
        module's module names) matches."""

    def config(self) -> dict:
        """Every option as plain data: ``{"policy": name, option: value, ...}`` (``lossless``
        only when on)."""
        return {"policy": self.name, **self._lossless_config()}

    def _lossless_config(self) -> dict:
        """``{"lossless": ...}`` when the option is on, else ``{}``: configs written before it
        existed, and storage models that do not know it, read the default unchanged."""
        return {} if self.lossless == "none" else {"lossless": self.lossless}

    def storage_config(self) -> dict:
        """The config of a named policy whose stash this one's matches entry for entry in size
        and format (what models of the storage, like ``hardware.policy_from_config``, read):
        the policy's own config unless it is a control that stores like another."""
        return self.config()

    def state_dict(self) -> dict:
        """The policy's mutable state (what a checkpoint must keep to resume bit-identically)."""
        return {"policy": self.name}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (from a policy with the same name)."""
        _check_state(self, state, ())

    def __eq__(self, other):
        if not isinstance(other, StashPolicy):
            return NotImplemented
        return type(self) is type(other) and self.config() == other.config()

    def __hash__(self):
        return hash((type(self), repr(self)))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "policy")
        return f"{type(self).__name__}({args})"


def _check_state(policy, state, keys):
    name = type(policy).__name__
    if not isinstance(state, dict):
        raise TypeError(f"{name}.load_state_dict: state must be a dict from state_dict(), "
                        f"got {type(state).__name__}")
    if state.get("policy") != policy.name:
        raise ValueError(f"{name}.load_state_dict: the state is of policy {state.get('policy')!r}, "
                         f"not {policy.name!r}")
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{name}.load_state_dict: the state lacks {missing}; expected the dict "
                         "that state_dict() returns")


class Dense(StashPolicy):
    """Keep every saved array as it is (by reference, made read-only while stashed)."""

    name = "dense"

    def pack(self, array, info):
        return DenseEntry(array)


def zero_value_pack(array: np.ndarray) -> StashEntry:
    """Lossless zero-value compression of one array.

    Boolean masks are packed eight to a byte; floating arrays become a bitmap plus the
    non-zero values, or stay dense where that is smaller; integer arrays stay dense.
    NaN and Inf are ordinary non-zero values here and round-trip exactly, and so does the sign
    of -0.0 (recorded only where it occurs).
    """
    n = array.size
    if array.dtype == np.bool_:
        return PackedMaskEntry(array) if (n + 7) // 8 < n else DenseEntry(array)
    if array.dtype.kind != "f" or n == 0:
        return DenseEntry(array)
    nonzero_mask = (array != 0).reshape(-1)  # compare before flattening: no copy of a strided view
    nnz = int(np.count_nonzero(nonzero_mask))
    if (n + 7) // 8 + nnz * array.dtype.itemsize >= array.nbytes:
        return DenseEntry(array, nonzero=nnz)
    flat = array.reshape(-1)
    signs = negative_zeros(flat)  # -0.0 is a zero that must come back with its sign
    if signs is not None and (n + 7) // 8 + nnz * array.dtype.itemsize + signs[1].nbytes >= array.nbytes:
        return DenseEntry(array, nonzero=nnz)
    return pack_sparse(array, nonzero_mask, nonzero=nnz, fmt="bitmap", negative_zeros=signs)


class ZeroValue(StashPolicy):
    """The baseline: cDMA-style zero-value compression of every saved activation."""

    name = "zero_value"

    def pack(self, array, info):
        if info.role == R.PARAMETER:
            return DenseEntry(array)
        return zero_value_pack(array)


class DeferredDropout(StashPolicy):
    """Deferred dropout: keep the largest-magnitude part of each weight-gradient input.

    Parameters
    ----------
    drop:
        Fraction of each weight-gradient input to drop, in [0, 1).  ``k = ceil((1 - drop) n)``
        elements (or rows, or blocks) are kept, never a zero one.  ``drop=0`` stores losslessly
        and gives gradients bit-identical to :class:`Dense`.  Default 0.9; for
        ``structure="nm"`` the default is ``1 - n/m`` and any other value is refused.
    granularity:
        ``"tensor"`` (default): one top-k over the whole tensor.  ``"row"``: top-k of every row
        (a token's features for linear layers, a sample's feature map for convolutions); only
        with ``structure="element"``.
    structure:
        What is kept, on the input's 2-D (reduction rows x feature columns) view:
        ``"element"`` (default, unstructured top-k), ``"row"`` (whole rows of largest L2 norm),
        ``"block"`` (blocks of ``block`` consecutive rows within a column, by L2 norm) or
        ``"nm"`` (``n`` largest of every ``m`` consecutive rows within a column).  See
        :mod:`minidd.stash.structures`.
    block:
        Rows per block for ``structure="block"`` (default 128, a systolic array's height).
    n, m:
        ``structure="nm"`` keeps ``n`` of every ``m`` (default 2:4; ``1 <= n < m <= 256``).
    value_dtype:
        Precision of the stored values: ``"float32"`` (default, the array's own precision),
        ``"float16"`` or ``"bfloat16"`` (kept as uint16, round-to-nearest-even).
    selection:
        ``"exact"`` (default): exact top-k, ties at the threshold broken by lowest index.
        ``"sample"``: a hardware-friendly threshold estimated from ``sample_size`` elements
        (rows, blocks) drawn with a generator seeded by ``seed``; the entry records how many it
        actually kept (``kept`` vs ``target_kept``).  Not with ``structure="nm"`` (its choice is
        local to each group: nothing to estimate).
    warmup_steps, ramp_steps:
        Schedule over training steps (see :meth:`set_step`): dense for ``warmup_steps``, then a
        linear ramp to ``drop`` over ``ramp_steps`` (no ramp for ``"nm"``: its rate is fixed).
    layers:
        ``{pattern: drop}`` per-layer overrides, matched with :func:`fnmatch.fnmatch` against
        the dotted layer name (for example ``{"encoder.0.*": 0.5, "head": 0.0}``); the structure
        is the policy's (for ``"nm"`` an override is 0 or ``1 - n/m``).  The first matching
        pattern decides, so two policies whose patterns differ only in order are not equal.
        Patterns are checked against the layers the first forward ran in (at the next
        ``set_step``, which ``fit`` calls every step) or against a model's layer names by
        :meth:`check_layers`: a pattern that matches none raises, naming close layer names.
    exact_ops:
        Also sparsify the exact stashes these ops save (``"none"``, default; ``"all"``; or op
        names joined by ``+``: ``"gelu"``, ``"layer_norm"``, ``"softmax"`` (attention
        probabilities), ``"attention_scores"`` (Q and K of the score product), ``"matmul"``
        (probabilities and V of their product), ``"attention_context"`` (the fused one's), ...),
        with the same drop rate, structure and layer rules.  Their input gradients ``dX`` then
        become approximate too; ``Ledger.sparsified()`` names them.  Per-row statistics (a last
        axis of length 1) stay exact.
    lossless:
        The lossless reductions to use as well (:data:`LOSSLESS_OPS`).
    keep_marked_dense:
        Leave layers whose scope is marked ``keep_dense`` (by default the models mark their first
        layer, embeddings and classifier head) dense unless ``layers`` names them.

    An option that has no effect with the chosen structure or selection (``block`` without
    ``structure="block"``, ``seed`` with exact selection, ...) must keep its default: a value
    given there is refused rather than silently ignored.
    """

    name = "deferred_dropout"
    aliases = ("dd",)

    def __init__(self, drop: float | None = None, *, granularity: str = "tensor",
                 structure: str = "element", block: int = 128, n: int = 2, m: int = 4,
                 value_dtype: str = "float32", selection: str = "exact", sample_size: int = 4096,
                 seed: int = 0, warmup_steps: int = 0, ramp_steps: int = 0,
                 layers: dict | None = None, keep_marked_dense: bool = True,
                 exact_ops: str = "none", lossless="none"):
        super().__init__(lossless=lossless)
        self.exact_ops = canonical_exact_ops(exact_ops)
        self._exact_set = frozenset(self.exact_ops.split("+"))
        self.granularity = _check.choice(granularity, "DeferredDropout: granularity", ("tensor", "row"))
        self.structure = _check.choice(structure, "DeferredDropout: structure", STRUCTURES)
        self.value_dtype = _check.choice(value_dtype, "DeferredDropout: value_dtype", VALUE_DTYPES)
        self.selection = _check.choice(selection, "DeferredDropout: selection", ("exact", "sample"))
        self.block = _check.integer(block, "DeferredDropout: block", least=1, most=MAX_BLOCK,
                                    form=f"an int >= 1 and at most {MAX_BLOCK} (minidd.stash.policies.MAX_BLOCK)")
        self.n = _check.integer(n, "DeferredDropout: n", least=1)
        self.m = _check.integer(m, "DeferredDropout: m", least=2)
        self.sample_size = _check.integer(sample_size, "DeferredDropout: sample_size", least=1)
        self.seed = _check.integer(seed, "DeferredDropout: seed", least=0)
        self.warmup_steps = _check.integer(warmup_steps, "DeferredDropout: warmup_steps", least=0)
        self.ramp_steps = _check.integer(ramp_steps, "DeferredDropout: ramp_steps", least=0)
        self.keep_marked_dense = _check.flag(keep_marked_dense, "DeferredDropout: keep_marked_dense")
        if layers is not None and not isinstance(layers, dict):
            raise TypeError(f"DeferredDropout: layers must be a dict {{pattern: drop}}, "
                            f"got {type(layers).__name__}")
        self.layers = {}
        self._seen, self._checked = set(), False
        for pattern, d in (layers or {}).items():
            if not isinstance(pattern, str):
                raise TypeError(f"DeferredDropout: layers keys must be str patterns, got {pattern!r}")
            self.layers[pattern] = _check.fraction(d, f"DeferredDropout: layers[{pattern!r}]")
        self.drop = 0.9 if drop is None and self.structure != "nm" else drop
        self._check_structure()
        self.drop = _check.fraction(self.drop, "DeferredDropout: drop")
        self.step = 0
        self.rng = np.random.default_rng(self.seed)

    def _check_structure(self):
        s = self.structure
        if s != "element" and self.granularity != "tensor":
            raise ValueError(f"DeferredDropout: granularity={self.granularity!r} applies to "
                             f"structure='element' only; structure={s!r} selects over the tensor")
        irrelevant = [("block", self.block, 128, s == "block"),
                      ("n", self.n, 2, s == "nm"), ("m", self.m, 4, s == "nm"),
                      ("sample_size", self.sample_size, 4096, self.selection == "sample"),
                      ("seed", self.seed, 0, self.selection == "sample")]
        for name, value, default, used in irrelevant:
            if not used and value != default:
                needs = "structure='block'" if name == "block" else (
                    "structure='nm'" if name in ("n", "m") else "selection='sample'")
                raise ValueError(f"DeferredDropout: {name}={value!r} has no effect without "
                                 f"{needs}; leave it out or set {needs}")
        if s != "nm":
            return
        if not self.n < self.m <= 256:
            raise ValueError(f"DeferredDropout: structure='nm' needs 1 <= n < m <= 256, "
                             f"got n={self.n}, m={self.m}")
        if self.selection != "exact":
            raise ValueError("DeferredDropout: selection='sample' does not apply to "
                             "structure='nm' (each group of m keeps its n largest exactly)")
        if self.ramp_steps:
            raise ValueError("DeferredDropout: ramp_steps does not apply to structure='nm' (its "
                             "drop rate is fixed at 1 - n/m); use warmup_steps alone")
        nm_drop = 1.0 - self.n / self.m
        self.drop = self._nm_drop("drop", nm_drop if self.drop is None else self.drop, nm_drop)
        for pattern, d in self.layers.items():
            self.layers[pattern] = self._nm_drop(f"layers[{pattern!r}]", d, nm_drop, zero_ok=True)

    def _nm_drop(self, name, drop, nm_drop, zero_ok=False):
        drop = _check.fraction(drop, f"DeferredDropout: {name}")
        if math.isclose(drop, nm_drop, rel_tol=1e-9):
            return nm_drop
        if zero_ok and drop == 0.0:
            return 0.0
        raise ValueError(f"DeferredDropout: {name}={drop!r} is inconsistent with structure='nm' "
                         f"n={self.n}, m={self.m}, which drops 1 - n/m = {nm_drop!r}; leave it "
                         f"out or give {nm_drop!r}" + (" (or 0 to keep the layer dense)" if zero_ok else ""))

    def config(self):
        return {"policy": self.name, "drop": self.drop, "granularity": self.granularity,
                "structure": self.structure, "block": self.block, "n": self.n, "m": self.m,
                "value_dtype": self.value_dtype, "selection": self.selection,
                "sample_size": self.sample_size, "seed": self.seed,
                "warmup_steps": self.warmup_steps, "ramp_steps": self.ramp_steps,
                "layers": dict(self.layers), "keep_marked_dense": self.keep_marked_dense,
                **({} if self.exact_ops == "none" else {"exact_ops": self.exact_ops}),
                **self._lossless_config()}

    def state_dict(self) -> dict:
        """The schedule step and the sampling generator's state (plain data)."""
        return {"policy": self.name, "step": self.step, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        _check_state(self, state, ("step", "rng"))
        self.set_step(state["step"])
        try:
            self.rng.bit_generator.state = state["rng"]
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"DeferredDropout.load_state_dict: state['rng'] is not a "
                             f"{type(self.rng.bit_generator).__name__} state: {e}") from None

    def set_step(self, step: int) -> None:
        """Follow the training step; after a first forward, check ``layers=`` against the layers
        seen (when :meth:`check_layers` has not been called with the model)."""
        step = _check.integer(step, "DeferredDropout.set_step: step", least=0, form="a non-negative int")
        if self.layers and not self._checked and self._seen:
            self.check_layers(self._seen)
        self.step = step

    def scheduled_drop(self, step: int | None = None) -> float:
        """The drop rate the schedule gives at ``step`` (default: the current step)."""
        step = self.step if step is None else step
        if step < self.warmup_steps:
            return 0.0
        if self.ramp_steps and step < self.warmup_steps + self.ramp_steps:
            return self.drop * (step - self.warmup_steps + 1) / self.ramp_steps
        return self.drop

    def __eq__(self, other):
        # the first matching pattern decides: layers in another order is another policy
        return super().__eq__(other) is True and list(self.layers) == list(other.layers)

    __hash__ = StashPolicy.__hash__

    def check_layers(self, layer_names) -> None:
        """Raise a ValueError naming each ``layers=`` pattern that matches none of
        ``layer_names`` (a module gives its module names), with the closest names: a typo must
        not train as the default drop under the typo's label."""
        if hasattr(layer_names, "named_modules"):
            layer_names = [n for n, _ in layer_names.named_modules()]
        names = sorted({str(n) for n in layer_names if n} | self._seen)
        for pattern in self.layers:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                close = difflib.get_close_matches(pattern, names, n=4, cutoff=0.5) or names[:6]
                raise ValueError(f"DeferredDropout: layers pattern {pattern!r} matches no layer of "
                                 f"the model; close layer names: {', '.join(close) or '(none)'} "
                                 "(patterns use fnmatch: 'encoder.*.ff*')")
        self._checked = True

    def drop_for(self, scope: R.Scope) -> float:
        """The drop rate for a weight-gradient input saved in ``scope``."""
        for pattern, d in self.layers.items():
            if fnmatch.fnmatchcase(scope.name, pattern):
                return d if self.step >= self.warmup_steps else 0.0
        if scope.keep_dense and self.keep_marked_dense:
            return 0.0
        return self.scheduled_drop()

    def sparsifies(self, info: PackInfo, array: np.ndarray) -> bool:
        """Whether ``array`` is one this policy may sparsify: a floating weight-gradient input,
        or (``exact_ops``) an exact stash of a listed op that is not a per-row statistic (a
        last axis of length 1, such as LayerNorm's ``rstd``)."""
        if array.dtype.kind != "f" or array.size == 0:
            return False
        if info.role == R.WEIGHT_GRAD_INPUT:
            return True
        return info.role == R.EXACT and array.ndim > 0 and array.shape[-1] > 1 and (
            self.exact_ops == "all" or info.op in self._exact_set)

    def pack(self, array, info):
        if self.layers and not self._checked:
            self._seen.add(info.scope.name)  # the layers a forward ran, for check_layers
        if info.role == R.PARAMETER:
            return DenseEntry(array)
        if not self.sparsifies(info, array):
            return zero_value_pack(array)
        drop = self.drop_for(info.scope)
        if drop == 0.0:
            return zero_value_pack(array)
        if self.structure == "element":
            return self._sparsify(array, drop, info.scope, info.row_size)
        return self._structured(array, drop, info.scope, info.feature_axis)

    # -- selection ---------------------------------------------------------------------------
    def _sparsify(self, array, drop, scope, row_size):
        n = array.size
        cols = n if self.granularity == "tensor" else (row_size or array.shape[-1])
        if n % cols:
            raise ValueError(f"DeferredDropout: layer {scope.name!r} saved shape {array.shape} "
                             f"whose size is not a multiple of row_size {cols}")
        rows = n // cols
        k = math.ceil((1.0 - drop) * cols)
        mag = np.abs(array).reshape(rows, cols)
        nnz = int(np.count_nonzero(mag > 0))  # counting a bool mask is faster than floats
        mask = idx = None
        if self.selection == "sample":
            mask = S.sampled_mask(mag, k, scope.name, self.rng, self.sample_size).reshape(-1)
        elif rows == 1:  # the default: indices straight from the selection, no full-size mask
            idx = S.topk_indices(mag.reshape(-1), k, scope.name)
        else:
            mask = S.exact_topk_mask(mag, k, scope.name).reshape(-1)
        del mag
        kept = int(idx.size if mask is None else np.count_nonzero(mask))
        itemsize = 2 if self.value_dtype != "float32" else array.dtype.itemsize
        _, sparse = sparse_bytes(n, kept, itemsize)
        if sparse >= array.nbytes:  # nothing worth dropping: store the dropped tensor densely
            if kept == nnz:
                dense = array
            else:
                dense = np.zeros(n, array.dtype)
                keep = np.flatnonzero(mask) if idx is None else idx
                dense[keep] = array.reshape(-1)[keep]
                dense = dense.reshape(array.shape)
            return DenseEntry(dense, nonzero=nnz, kept=kept, target_kept=k * rows)
        return pack_sparse(array, mask, self.value_dtype, nonzero=nnz, target_kept=k * rows, idx=idx,
                           lossy=kept < nnz)

    def _select_units(self, scores, k, layer):
        """Mask of the ``k`` best units of a flat score array (exact or sampled)."""
        scores = scores.reshape(1, -1)
        if self.selection == "exact":
            return S.exact_topk_mask(scores, k, layer).reshape(-1)
        return S.sampled_mask(scores, k, layer, self.rng, self.sample_size).reshape(-1)

    def _structured(self, array, drop, scope, feature_axis):
        view = S.rows_view(array, feature_axis)
        nnz = int(np.count_nonzero(array != 0))
        rows, cols = view.shape
        if self.structure == "row":
            k = math.ceil((1.0 - drop) * rows)
            keep = self._select_units(S.row_scores(view), k, scope.name)
            entry = pack_rows(array, view, keep, feature_axis, self.value_dtype, nnz, k * cols)
        elif self.structure == "block":
            scores = S.block_scores(view, self.block)
            k = math.ceil((1.0 - drop) * scores.size)
            keep = self._select_units(scores, k, scope.name).reshape(scores.shape)
            entry = pack_blocks(array, view, keep, self.block, feature_axis, self.value_dtype,
                                nnz, min(array.size, k * self.block))
        else:
            entry = pack_nm(array, view, self.n, self.m, scope.name, feature_axis,
                            self.value_dtype, nnz)
        if entry.nbytes >= array.nbytes + meta_bytes(array.shape):  # no saving: store densely
            dense = entry.unpack()
            entry.drop()
            return DenseEntry(dense, nonzero=nnz, kept=entry.kept, target_kept=entry.target_kept)
        return entry


#: Largest ``block=`` (rows per block) accepted: a larger one is refused, not allocated.
MAX_BLOCK = 1 << 20


def canonical_exact_ops(value) -> str:
    """``exact_ops`` as ``"none"``, ``"all"`` or sorted op names joined by ``+``; every name must
    be an op's (:data:`minidd.stash.roles.OP_NAMES`)."""
    if not isinstance(value, str):
        raise TypeError(f"DeferredDropout: exact_ops must be a str ('none', 'all' or op names "
                        f"joined by '+', e.g. 'gelu+softmax'), got {type(value).__name__}")
    names = {v.strip() for v in value.split("+")} - {""}
    if not names or names == {"none"} or names == {"all"}:
        return "all" if names == {"all"} else "none"
    for name in names:
        if name not in R.OP_NAMES:
            close = difflib.get_close_matches(name, sorted(R.OP_NAMES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"DeferredDropout: exact_ops names an unknown op {name!r}{hint}; "
                             "expected 'none', 'all' or op names joined by '+'")
    return "+".join(sorted(names))


