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
* ``block`` on a **convolution** (:func:`conv_block_touches`): the blocks are B consecutive
  *input* positions of one channel (minidd's 2-D view: ``(sample, y, x)`` rows, continuing into
  the next sample), but the dW GEMM reduces over the im2col matrix, whose column for channel
  ``c`` and kernel offset ``(dy, dx)`` reads input position ``(y s + dy - p, x s + dx - p)`` for
  output position ``(y, x)``.  A streamed vector of R consecutive output positions therefore
  reads a shifted, strided set of input positions that may straddle several blocks, or only
  zero padding (always zero).  We count, exactly for the layer's geometry, the blocks each
  vector touches over every kernel offset and one period of the alignment pattern, and average
  ``(1 - kappa)^blocks``.  A 1x1 stride-1 convolution is exactly the linear case; a 3x3 one
  straddles two blocks for most vectors, a strided one more.  Without the geometry (a layer
  with no ``conv`` field) the blocks are taken as blocks of the im2col reduction (the linear
  formula), which over-states the skipping;
* ``nm``: every group of ``m`` keeps ``n``, so no vector of ``R >= m`` elements is ever zero:
  nothing is skipped (an N:M datapath, as in sparse tensor cores, would be another array);
* ``row`` (whole tokens): the reduction itself shrinks to the kept rows, on any array: gather
  the kept rows of dY and run a smaller dense GEMM (no skipping hardware needed).  On a
  ``k x k`` convolution a kept input position meets a different output position at every
  kernel offset, so the weight gradient is ``k^2`` GEMMs ``[C x kept] [kept x O]``, each after
  its own gather of dY (:func:`row_gather_bytes`), not one GEMM with a shrunk reduction.

Other dataflows (``os``, ``is``) are charged dense: the skipping datapath is built for the
weight-stationary mapping above.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

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


@lru_cache(maxsize=256)
def conv_block_touches(conv: tuple, rows: int, block: int) -> tuple:
    """For a convolution ``conv = (height, width, kernel, stride, padding)`` of its input, the
    distribution of the number of input blocks (B = ``block`` consecutive input positions of
    one channel, minidd's 2-D view) that a streamed vector of ``rows`` consecutive output
    positions of one im2col column touches: ``counts[t]`` = share of vectors touching ``t``
    blocks (``t = 0``: only zero padding).  Exact over every kernel offset and one period of the
    pattern (vectors aligned at multiples of ``rows`` of the flattened ``samples x positions``
    reduction, blocks at multiples of ``block`` of the flattened input)."""
    h, w, k, stride, pad = conv
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    period = math.lcm(rows // math.gcd(rows, ho * wo), block // math.gcd(block, h * w))
    j = np.arange(period * ho * wo)                # output positions over `period` samples
    sample, pos = np.divmod(j, ho * wo)
    y, x = np.divmod(pos, wo)
    hist = np.zeros(rows + 1)
    for dy in range(k):
        for dx in range(k):
            iy, ix = y * stride + dy - pad, x * stride + dx - pad
            inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
            ids = np.where(inside, (sample * h * w + iy * w + ix) // block, -1).reshape(-1, rows)
            ids = np.sort(ids, axis=1)
            new = np.ones(ids.shape, bool)
            new[:, 1:] = ids[:, 1:] != ids[:, :-1]
            hist += np.bincount((new & (ids >= 0)).sum(axis=1), minlength=rows + 1)
    return tuple(hist / hist.sum())


def zero_vector_fraction_conv(kept_fraction: float, conv: tuple, rows: int, block: int) -> float:
    """Probability that a streamed im2col vector of a convolution is all zero under block
    selection (kept blocks i.i.d.; see :func:`conv_block_touches`)."""
    counts = conv_block_touches(tuple(conv), rows, block)
    return float(sum(c * (1.0 - kept_fraction) ** t for t, c in enumerate(counts) if c))


def row_gather_bytes(reduction: int, outputs: int, groups: int, kept_fraction: float, conv: tuple,
                     act_bytes: int) -> int:
    """HBM bytes of the dY gathers of row selection: per kernel offset (one for a linear
    layer), the kept rows of dY read and written gathered."""
    if kept_fraction >= 1.0:
        return 0
    offsets = conv[2] ** 2 if conv else 1
    return 2 * offsets * groups * math.ceil(reduction * kept_fraction) * outputs * act_bytes


def dw_gemm(reduction: int, features: int, outputs: int, groups: int, kept_fraction: float,
            structure: str, block: int, chip, timing: str, dataflow: str, conv: tuple = ()) -> GemmTiming:
    """Cycles of the weight-gradient GEMM(s) ``X^T[features x reduction] dY[reduction x outputs]``
    for a stashed X whose selection keeps ``kept_fraction`` of its ``structure`` units;
    ``conv``: the layer's convolution geometry, if it is one (block skipping on im2col)."""
    if structure == "row" and kept_fraction < 1.0:
        reduction = max(1, math.ceil(reduction * kept_fraction))
        offsets = conv[2] ** 2 if conv else 1
        if offsets > 1:  # one GEMM per kernel offset: each offset gathers its own kept rows of dY
            return core_gemm_cycles(features // offsets, reduction, outputs, groups * offsets, chip.mxus,
                                    chip.mxu_rows, chip.mxu_cols, dataflow, timing)
    skipped = 0.0
    if chip.dw_skips_zero_vectors and dataflow == "ws":
        if structure == "block" and conv:
            skipped = zero_vector_fraction_conv(kept_fraction, conv, chip.mxu_rows, block)
        else:
            skipped = zero_vector_fraction(kept_fraction, structure, chip.mxu_rows, block)
    return core_gemm_cycles(features, reduction, outputs, groups, chip.mxus, chip.mxu_rows,
                            chip.mxu_cols, dataflow, timing, skipped)
