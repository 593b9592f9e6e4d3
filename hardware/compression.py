"""The in-line compression engine between the core and HBM, and what each stash policy stores.

Policies (the same names and options as ``minidd.stash``; :func:`policy_from_config` reads a
minidd policy config dict):

``dense``
    Every stashed tensor kept as it is.
``zero_value``
    The baseline (cDMA-style): a bitmap plus the non-zero values, or dense where smaller.  The
    encoder makes one pass over the tensor as it streams to HBM; the decoder one pass back.
``deferred_dropout``
    Weight-gradient inputs keep about ``(1 - drop)`` of their values; everything else as
    ``zero_value``.  The selection ``structure`` (the dW input's 2-D view is ``[reduction x
    features]``: tokens or positions by input features):

    * ``element``: top-k over single elements (never more than the non-zeros), stored as bitmap
      + values or index + values, whichever is smaller;
    * ``row``: whole rows (tokens), a bit per row + the kept rows;
    * ``block``: blocks of ``block`` consecutive elements along the reduction dimension within
      one feature column, a bit per block + the kept blocks;
    * ``nm``: the ``n`` largest of every ``m`` consecutive elements along the reduction
      dimension (the kept fraction is ``n / m``, whatever ``drop`` says), values +
      ``ceil(log2 m)``-bit positions.

    The selection unit needs its threshold before encoding: ``selection="exact"`` finds the
    exact top-k (of elements, rows or block norms) in a first pass, then encodes in a second,
    re-reading the tensor from HBM when it does not fit in VMEM; ``selection="sample"`` uses a
    threshold estimated from a sample and encodes in one pass; ``nm`` is local to each group
    and always one pass.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

from .config import ChipConfig

POLICY_KINDS = ("dense", "zero_value", "deferred_dropout")
SELECTIONS = ("exact", "sample")
STRUCTURES = ("element", "row", "block", "nm")
VALUE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class Policy:
    """A stash policy as the hardware sees it."""

    kind: str = "zero_value"
    drop: float = 0.0
    selection: str = "exact"
    value_bytes: int | None = None        #: stored value width (default: the chip's act_bytes)
    dense_layers: tuple = field(default=())  #: extra layer names left dense (besides keep_dense ones)
    structure: str = "element"
    block: int = 128                      #: for ``structure="block"``: elements per block
    n: int = 2                            #: for ``structure="nm"``: kept per group (minidd's 2:4)
    m: int = 4                            #: for ``structure="nm"``: group size
    layer_drops: tuple = field(default=())  #: ``((fnmatch pattern, drop), ...)`` overrides
    keep_marked_dense: bool = True        #: leave the workload's keep_dense layers dense

    def __post_init__(self):
        if self.kind not in POLICY_KINDS:
            raise ValueError(f"Policy.kind must be one of {POLICY_KINDS}, got {self.kind!r}")
        _check_drop(self.drop, "Policy.drop")
        if self.selection not in SELECTIONS:
            raise ValueError(f"Policy.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.value_bytes is not None and self.value_bytes not in (1, 2, 4):
            raise ValueError(f"Policy.value_bytes must be 1, 2 or 4, got {self.value_bytes!r}")
        if self.structure not in STRUCTURES:
            raise ValueError(f"Policy.structure must be one of {STRUCTURES}, got {self.structure!r}")
        for name in ("block", "n", "m"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Policy.{name} must be a positive int, got {v!r}")
        if self.n > self.m:
            raise ValueError(f"Policy: n ({self.n}) must not exceed m ({self.m})")
        object.__setattr__(self, "layer_drops", tuple(tuple(p) for p in self.layer_drops))
        for pattern, d in self.layer_drops:
            if not isinstance(pattern, str):
                raise ValueError(f"Policy.layer_drops: patterns must be strings, got {pattern!r}")
            _check_drop(d, f"Policy.layer_drops[{pattern!r}]")

    def drop_for(self, layer: str) -> float:
        """The drop rate for ``layer``: the first matching override, else ``drop``."""
        for pattern, d in self.layer_drops:
            if fnmatch.fnmatch(layer, pattern):
                return d
        return self.drop

    @property
    def label(self) -> str:
        if self.kind != "deferred_dropout":
            return self.kind
        shape = {"element": "", "row": ", row", "block": f", block {self.block}",
                 "nm": f", {self.n}:{self.m}"}[self.structure]
        return f"deferred_dropout({self.drop:g}, {self.selection}{shape})"


def _check_drop(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {v!r}")


BASELINE = Policy("zero_value")

#: minidd config keys that do not change what the hardware stores or computes in a steady
#: step (the schedule ramps the drop rate in over training; the sample size is the threshold
#: estimator's).
_TRAINING_ONLY = ("warmup_steps", "ramp_steps", "sample_size", "seed", "granularity")


def policy_from_config(config: dict) -> Policy:
    """The hardware :class:`Policy` for a minidd policy config (``policy.config()``).

    Reads ``policy`` (``dense``, ``zero_value``, ``deferred_dropout``), ``drop``,
    ``selection``, ``value_dtype``, ``structure``, ``block``, ``n``, ``m``, ``layers``
    (per-layer drop overrides) and ``keep_marked_dense``; the schedule and sampling options
    (``warmup_steps``, ``ramp_steps``, ``sample_size``, ``seed``) and ``granularity`` (per-tensor or
    per-row top-k: the same storage and, for the array, the same unstructured selection) do
    not change the steady-state step.  Unknown keys are refused by name.
    """
    if not isinstance(config, dict) or "policy" not in config:
        raise ValueError(f"policy_from_config: expected a dict with a 'policy' key, got {config!r}")
    kind = config["policy"]
    known = {"policy", "drop", "selection", "value_dtype", "structure", "block", "n", "m",
             "layers", "keep_marked_dense", *_TRAINING_ONLY}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"policy_from_config: unknown key {unknown[0]!r}")
    if kind in ("dense", "zero_value"):
        return Policy(kind)
    if kind != "deferred_dropout":
        raise ValueError(f"policy_from_config: 'policy' must be one of {POLICY_KINDS}, got {kind!r}")
    dtype = config.get("value_dtype", "float32")
    if dtype not in VALUE_BYTES:
        raise ValueError(f"policy_from_config: value_dtype must be one of {tuple(VALUE_BYTES)}, got {dtype!r}")
    layers = config.get("layers") or {}
    if not isinstance(layers, dict):
        raise ValueError(f"policy_from_config: 'layers' must be a dict of pattern -> drop, got {layers!r}")
    opts = {k: config[k] for k in ("selection", "structure", "block", "n", "m", "keep_marked_dense")
            if config.get(k) is not None}
    return Policy("deferred_dropout", config.get("drop", 0.9), value_bytes=VALUE_BYTES[dtype],
                  layer_drops=tuple(layers.items()), **opts)


@dataclass(frozen=True)
class StashCost:
    """One stashed tensor under a policy, for a whole batch."""

    dense_bytes: int
    stored_bytes: int
    kept: int                #: stored values
    encode_passes: int       #: passes of the engine over the dense tensor when stashing
    extra_hbm_read: int      #: bytes re-read from HBM for a second selection pass
    encoded: bool            #: written through the engine (compressed format)
    kept_fraction: float = 1.0   #: of the selection units (elements, rows, blocks) stored
    structure: str = "element"   #: the selection structure of a sparsified dW input
    zero_bitmap: bool = False    #: the stored form holds the exact zero pattern (every non-zero kept)


def _bitmap_or_index(n: int, kept: int, value_bytes: int) -> int:
    bitmap = math.ceil(n / 8) + kept * value_bytes
    index_bytes = 1 if n <= 2**8 else 2 if n <= 2**16 else 4
    return min(bitmap, kept * (index_bytes + value_bytes))


def _structured(elements: int, nnz: int, drop: float, policy: Policy, row: int,
                value_bytes: int) -> tuple[int, int, float]:
    """(stored bytes, kept values, kept fraction of the selection units) of one dW input."""
    if policy.structure == "element":
        kept = min(math.ceil((1 - drop) * elements), nnz)
        return _bitmap_or_index(elements, kept, value_bytes), kept, kept / elements
    if policy.structure == "nm":
        kept = math.ceil(elements * policy.n / policy.m)
        return kept * value_bytes + math.ceil(kept * math.ceil(math.log2(policy.m)) / 8), kept, policy.n / policy.m
    unit = max(1, row) if policy.structure == "row" else policy.block
    units = math.ceil(elements / unit)
    kept_units = math.ceil((1 - drop) * units)
    kept = min(kept_units * unit, elements)
    return math.ceil(units / 8) + kept * value_bytes, kept, kept_units / units


def stash_cost(elements: int, role: str, natural_sparsity: float, bits: int | None,
               policy: Policy, chip: ChipConfig, layer_dense: bool, drop: float | None = None,
               row_elements: int = 0) -> StashCost:
    """What one stash item of ``elements`` (already multiplied by the batch) costs.

    ``drop`` overrides the policy's rate (a per-layer override); ``row_elements`` is one row of
    the dW input's 2-D view (for ``structure="row"``)."""
    if bits is not None:  # masks and indices: packed bits, never compressed further
        b = math.ceil(elements * bits / 8)
        return StashCost(b, b, elements, 0, 0, False)
    act = chip.act_bytes
    dense = elements * act
    if policy.kind == "dense":
        return StashCost(dense, dense, elements, 0, 0, False)
    drop = policy.drop if drop is None else drop
    nnz = round(elements * (1.0 - natural_sparsity))
    sparsify = (policy.kind == "deferred_dropout" and role == "weight_grad_input"
                and not layer_dense and (drop > 0 or policy.structure == "nm"))
    if sparsify:
        stored, kept, fraction = _structured(elements, nnz, drop, policy, row_elements,
                                             policy.value_bytes or act)
        one_pass = policy.selection == "sample" or policy.structure == "nm"
        passes = 1 if one_pass else 2
        extra = dense if (not one_pass and dense > chip.vmem_bytes // 2) else 0
        if stored < dense:
            every_nonzero = policy.structure == "element" and kept >= nnz  # the zero pattern survives
            return StashCost(dense, stored, kept, passes, extra, True, fraction, policy.structure,
                             zero_bitmap=every_nonzero)
        return StashCost(dense, dense, elements, 0, 0, False)
    zv = math.ceil(elements / 8) + nnz * act
    if zv < dense:
        return StashCost(dense, zv, nnz, 1, 0, True, nnz / elements, zero_bitmap=True)
    return StashCost(dense, dense, elements, 0, 0, False)


def engine_phases(cost: StashCost, chip: ChipConfig) -> tuple[float, float]:
    """Engine cycles to encode one stashed tensor (forward: its selection and encoding passes)
    and to decode it (backward: one pass), each with the pipeline latency."""
    if not cost.encoded:
        return 0.0, 0.0
    per_pass = cost.dense_bytes / chip.engine_bytes_per_cycle
    return (cost.encode_passes * per_pass + chip.engine_latency_cycles,
            per_pass + chip.engine_latency_cycles)

