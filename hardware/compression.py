"""The in-line compression engine between the core and HBM, and what each stash policy stores.

Policies (mirroring ``minidd.stash``):

``dense``
    Every stashed tensor kept as it is.
``zero_value``
    The baseline (cDMA-style): a bitmap plus the non-zero values, or dense where smaller.  The
    encoder makes one pass over the tensor as it streams to HBM; the decoder one pass back.
``deferred_dropout``
    Weight-gradient inputs keep ``min(ceil((1 - drop) n), non-zeros)`` values, stored as
    bitmap + values (or index + values, whichever is smaller); everything else as ``zero_value``.
    The selection unit needs the threshold before encoding: ``selection="exact"`` finds the exact
    top-k in a first pass over the tensor (a histogram/radix select), then encodes in a second
    pass, re-reading the tensor from HBM when it does not fit in VMEM; ``selection="estimate"``
    uses a threshold known in advance (sampled or the previous step's) and encodes in one pass.

``skip_zeros_in_dw`` is a what-if, off by default: a matrix unit that skips the zeros of the
stashed input in the weight-gradient GEMM, whose compute then scales with the stored density
(a TPUv3 MXU is dense and does not do this).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import ChipConfig

POLICY_KINDS = ("dense", "zero_value", "deferred_dropout")
SELECTIONS = ("exact", "estimate")


@dataclass(frozen=True)
class Policy:
    """A stash policy as the hardware sees it."""

    kind: str = "zero_value"
    drop: float = 0.0
    selection: str = "exact"
    value_bytes: int | None = None        #: stored value width (default: the chip's act_bytes)
    dense_layers: tuple = field(default=())  #: extra layer names left dense (besides keep_dense ones)
    skip_zeros_in_dw: bool = False        #: assumption: the weight-gradient GEMM skips stored zeros

    def __post_init__(self):
        if self.kind not in POLICY_KINDS:
            raise ValueError(f"Policy.kind must be one of {POLICY_KINDS}, got {self.kind!r}")
        if isinstance(self.drop, bool) or not isinstance(self.drop, (int, float)) or not 0 <= self.drop < 1:
            raise ValueError(f"Policy.drop must be a number in [0, 1), got {self.drop!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"Policy.selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.value_bytes is not None and self.value_bytes not in (1, 2, 4):
            raise ValueError(f"Policy.value_bytes must be 1, 2 or 4, got {self.value_bytes!r}")

    @property
    def label(self) -> str:
        skip = " +skip" if self.skip_zeros_in_dw else ""
        if self.kind == "deferred_dropout":
            return f"deferred_dropout({self.drop:g}, {self.selection}){skip}"
        return self.kind + skip


BASELINE = Policy("zero_value")


@dataclass(frozen=True)
class StashCost:
    """One stashed tensor under a policy, for a whole batch."""

    dense_bytes: int
    stored_bytes: int
    kept: int                #: stored values
    encode_passes: int       #: passes of the engine over the dense tensor when stashing
    extra_hbm_read: int      #: bytes re-read from HBM for a second selection pass
    encoded: bool            #: written through the engine (compressed format)


def _bitmap_or_index(n: int, kept: int, value_bytes: int) -> int:
    bitmap = math.ceil(n / 8) + kept * value_bytes
    index_bytes = 1 if n <= 2**8 else 2 if n <= 2**16 else 4
    return min(bitmap, kept * (index_bytes + value_bytes))


def stash_cost(elements: int, role: str, natural_sparsity: float, bits: int | None,
               policy: Policy, chip: ChipConfig, layer_dense: bool) -> StashCost:
    """What one stash item of ``elements`` (already multiplied by the batch) costs."""
    if bits is not None:  # masks and indices: packed bits, never compressed further
        b = math.ceil(elements * bits / 8)
        return StashCost(b, b, elements, 0, 0, False)
    act = chip.act_bytes
    dense = elements * act
    if policy.kind == "dense":
        return StashCost(dense, dense, elements, 0, 0, False)
    nnz = round(elements * (1.0 - natural_sparsity))
    sparsify = (policy.kind == "deferred_dropout" and role == "weight_grad_input"
                and not layer_dense and policy.drop > 0)
    if sparsify:
        kept = min(math.ceil((1 - policy.drop) * elements), nnz)
        stored = _bitmap_or_index(elements, kept, policy.value_bytes or act)
        passes = 2 if policy.selection == "exact" else 1
        extra = dense if (policy.selection == "exact" and dense > chip.vmem_bytes // 2) else 0
        if stored < dense:
            return StashCost(dense, stored, kept, passes, extra, True)
        return StashCost(dense, dense, elements, 0, 0, False)
    zv = math.ceil(elements / 8) + nnz * act
    if zv < dense:
        return StashCost(dense, zv, nnz, 1, 0, True)
    return StashCost(dense, dense, elements, 0, 0, False)


def engine_cycles(cost: StashCost, chip: ChipConfig) -> float:
    """Engine cycles to encode (forward) and decode (backward) one stashed tensor."""
    if not cost.encoded:
        return 0.0
    per_pass = cost.dense_bytes / chip.engine_bytes_per_cycle
    return (cost.encode_passes + 1) * per_pass + 2 * chip.engine_latency_cycles
