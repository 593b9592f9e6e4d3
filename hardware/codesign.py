"""The weight-gradient GEMM on a co-designed array: what a systolic array can skip.

``dW[K x N] = X^T[K x M] dY[M x N]`` reduces over ``M`` (tokens or output positions times the
batch).  We map it weight-stationary with **dY stationary** (an ``R x C`` tile: ``R`` reduction
indices by ``C`` output features) and **the stashed X streamed**: every cycle one vector of ``R``
reduction elements of one input feature enters the array.  The sparse operand streams and the
dense one stays, so a zero costs nothing only when the whole streamed vector is zero: the array
then skips that cycle (the proposed architecture, ``ChipConfig.dw_skips_zero_vectors``).  A fold
still waits ``R`` cycles for its stationary tile (:func:`hardware.systolic.gemm_cycles`), so
skipping cannot take a fold below ``R`` cycles.

The fraction of streamed vectors that are all zero, for a kept fraction ``kappa`` of the
selection units, assuming the kept units are spread independently (i.i.d.) over the tensor:

* ``element`` (unstructured top-k): ``(1 - kappa)^R``: ``0.9^128 = 1.4e-6`` at drop 0.9;
* ``block`` of ``B`` along the reduction dimension: a vector is zero iff every block it touches
  is dropped, ``(1 - kappa)^blocks``, averaged over the array-aligned vectors (one block when
  ``B`` is a multiple of ``R``: a fraction ``drop`` is skipped);
* ``nm``: every group of ``m`` keeps ``n``, so no vector of ``R >= m`` elements is ever zero:
  nothing is skipped (an N:M datapath, as in sparse tensor cores, would be another array);
* ``row`` (whole tokens): the reduction itself shrinks to the kept rows, on any array: gather
  the kept rows of dY and run a smaller dense GEMM (no skipping hardware needed).

Other dataflows (``os``, ``is``) are charged dense: the skipping datapath is built for the
weight-stationary mapping above.
"""
from __future__ import annotations

import math

from .systolic import GemmTiming, core_gemm_cycles


def zero_vector_fraction(kept_fraction: float, structure: str, rows: int, block: int = 128) -> float:
    """Probability that a streamed vector of ``rows`` reduction elements is all zero."""
    if not 0.0 <= kept_fraction <= 1.0:
        raise ValueError(f"zero_vector_fraction: kept_fraction must be in [0, 1], got {kept_fraction!r}")
    dropped = 1.0 - kept_fraction
    if structure == "element":
        return dropped ** rows
    if structure == "block":
        period = block // math.gcd(block, rows)  # array-aligned vectors repeat every `period`
        touched = [((j * rows + rows - 1) // block) - ((j * rows) // block) + 1 for j in range(period)]
        return sum(dropped ** t for t in touched) / period
    if structure in ("nm", "row"):
        return 0.0
    raise ValueError(f"zero_vector_fraction: unknown structure {structure!r}")


def dw_gemm(reduction: int, features: int, outputs: int, groups: int, kept_fraction: float,
            structure: str, block: int, chip, timing: str, dataflow: str) -> GemmTiming:
    """Cycles of the weight-gradient GEMM(s) ``X^T[features x reduction] dY[reduction x outputs]``
    for a stashed X whose selection keeps ``kept_fraction`` of its ``structure`` units."""
    if structure == "row" and kept_fraction < 1.0:
        reduction = max(1, math.ceil(reduction * kept_fraction))
    skipped = 0.0
    if chip.dw_skips_zero_vectors and dataflow == "ws":
        skipped = zero_vector_fraction(kept_fraction, structure, chip.mxu_rows, block)
    return core_gemm_cycles(features, reduction, outputs, groups, chip.mxus, chip.mxu_rows,
                            chip.mxu_cols, dataflow, timing, skipped)
