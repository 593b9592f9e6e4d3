"""Compute cycles of one GEMM ``Y[M x N] = X[M x K] W[K x N]`` on an ``R x C`` systolic array.

Each dataflow keeps one operand in place and maps the GEMM onto two spatial dimensions (rows,
columns of the array) and one temporal dimension (cycles of streaming), as in SCALE-Sim:

============  =======================  ===================  ==================
dataflow      spatial rows S_R         spatial columns S_C  temporal T
============  =======================  ===================  ==================
``ws`` weight  K                       N                    M
``os`` output  M                       N                    K
``is`` input   K                       M                    N
============  =======================  ===================  ==================

The work is cut into ``folds = ceil(S_R / R) * ceil(S_C / C)`` array-sized pieces.

``scalesim``
    SCALE-Sim v2's compute cycles (``scalesim/compute/systolic_compute_{ws,os,is}.py`` and
    ``memory/double_buffered_scratchpad_mem.py``).  SCALE-Sim builds, per fold, a demand matrix
    of one row per cycle and skews it for the systolic pipeline; the layer's ``Total Cycles``
    is the index of the last row of the concatenated matrices (stall-free), so the whole GEMM
    pays ``-1`` once, every fold pays its own fill and drain:

    * ``ws`` and ``is``: ``R`` cycles to load the stationary operand, ``T`` streamed rows,
      ``C - 1`` rows for the last partial sums to leave, skewed over ``R`` lanes (``+ R - 1``):
      ``folds * (T + 2R + C - 2) - 1``;
    * ``os``: nothing to preload (the outputs stay); ``T`` streamed rows and ``C - 1`` drain
      rows, skewed over ``R`` lanes: ``folds * (T + R + C - 2) - 1``.

    Example: M=512, K=768, N=768 on 128x128 weight-stationary is 6 * 6 * 894 - 1 = 32,183
    cycles.
``tpu``
    A TPU-like array: the next fold's operands are loaded while the current fold streams
    (double buffering) and partial sums accumulate on chip, so fill and drain are paid once:
    ``folds * max(T, R) + R + C - 2``.  A fold still takes at least ``R`` cycles, the time to
    shift the next fold's stationary operand in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

DATAFLOWS = ("ws", "os", "is")
TIMING_MODELS = ("tpu", "scalesim")


@dataclass(frozen=True)
class GemmTiming:
    cycles: int
    folds: int
    macs: int
    utilization: float  #: MACs / (cycles x R x C)
    mapping: str = ""   #: how a core spread the work over its arrays (:func:`map_gemm`)


def _check_dims(**dims):
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"gemm_cycles: {name} must be a positive int, got {v!r}")


def gemm_cycles(m: int, k: int, n: int, rows: int, cols: int, dataflow: str = "ws",
                model: str = "tpu", skipped: float = 0.0) -> GemmTiming:
    """Cycles of ``Y[m x n] = X[m x k] W[k x n]`` on one ``rows x cols`` array.

    ``skipped`` is the fraction of streamed vectors an array that skips all-zero streamed
    vectors leaves out (0 for a dense array); each fold streams ``ceil(T (1 - skipped))``.
    """
    _check_dims(m=m, k=k, n=n, rows=rows, cols=cols)
    if dataflow not in DATAFLOWS:
        raise ValueError(f"gemm_cycles: dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    if model not in TIMING_MODELS:
        raise ValueError(f"gemm_cycles: model must be one of {TIMING_MODELS}, got {model!r}")
    if not 0.0 <= skipped <= 1.0:
        raise ValueError(f"gemm_cycles: skipped must be a fraction in [0, 1], got {skipped!r}")
    s_r, s_c, t = {"ws": (k, n, m), "os": (m, n, k), "is": (k, m, n)}[dataflow]
    folds = math.ceil(s_r / rows) * math.ceil(s_c / cols)
    t = math.ceil(t * (1.0 - skipped))
    if model == "scalesim":
        preload = 0 if dataflow == "os" else rows  # the stationary operand's R load cycles
        cycles = folds * (t + preload + rows + cols - 2) - 1
    else:
        cycles = folds * max(t, rows) + rows + cols - 2
    macs = m * k * n
    return GemmTiming(cycles, folds, macs, macs / (cycles * rows * cols))


def core_gemm_cycles(m: int, k: int, n: int, groups: int, mxus: int, rows: int, cols: int,
                     dataflow: str = "ws", model: str = "tpu", skipped: float = 0.0) -> GemmTiming:
    """``groups`` independent GEMMs on a core with ``mxus`` arrays, mapped by :func:`map_gemm`."""
    return map_gemm(m, k, n, groups, mxus, rows, cols, dataflow, model, skipped)


SUBLANES = 8  #: a TPU tile is (8, 128): 8 sublanes of 128 lanes


def map_gemm(m: int, k: int, n: int, groups: int, mxus: int, rows: int, cols: int,
             dataflow: str = "ws", model: str = "tpu", skipped: float = 0.0) -> GemmTiming:
    """A small mapper (in the spirit of Timeloop): how ``groups`` GEMMs are spread over ``mxus``
    arrays, and the cycles of the best choice (``GemmTiming.mapping`` names it).

    Independent GEMMs (attention heads, samples of a batched product) go to the arrays in turn
    (``"groups"``).  Fewer GEMMs than arrays: each one is split across the arrays either by
    output columns (``"n"``: every array holds ``ceil(n / mxus)`` columns of the stationary
    operand) or by rows of ``m`` (``"m"``: every array holds all ``n`` columns and streams
    ``ceil(m / mxus)`` rows); the mapper takes the faster (ties: ``"n"``).  A GEMM with
    ``n <= 128`` split by columns leaves half of each array idle; split by rows it does not.

    ``tpu`` timing pads every dimension to the (8, 128) tile layout: the 128 side is the
    array's own fold, so only the streamed dimension changes (rounded up to 8 sublanes, or to
    the array's rows if it has fewer); the
    GEMMs an array runs back to back form one pipeline (fill and drain paid once per array).
    ``scalesim`` timing keeps SCALE-Sim's single-array layers: no padding, each GEMM of a
    group a layer of its own, a single GEMM split by output columns only.
    """
    macs, area = groups * m * k * n, rows * cols * mxus
    if model == "tpu":
        pad = min(SUBLANES, rows)
        m, k, n = (-(-d // pad) * pad for d in (m, k, n))
    if groups >= mxus:
        one = gemm_cycles(m, k, n, rows, cols, dataflow, model, skipped)
        return _spread(one, groups, math.ceil(groups / mxus), model, rows + cols - 2, "groups", macs, area)
    options = [("n", gemm_cycles(m, k, math.ceil(n / mxus), rows, cols, dataflow, model, skipped))]
    if model == "tpu" and m > 1:
        options.append(("m", gemm_cycles(math.ceil(m / mxus), k, n, rows, cols, dataflow, model, skipped)))
    split, one = min(options, key=lambda o: o[1].cycles)
    return _spread(one, groups * mxus, groups, model, rows + cols - 2, split, macs, area)


def _spread(one: GemmTiming, pieces: int, rounds: int, model: str, fill: int, split: str,
            macs: int, area: int) -> GemmTiming:
    """``rounds`` of ``one`` per array, ``pieces`` array-GEMMs in all; ``area``: MACs per cycle
    of the core."""
    cycles = rounds * (one.cycles - fill) + fill if model == "tpu" else rounds * one.cycles
    return GemmTiming(cycles, pieces * one.folds, macs, macs / (cycles * area), split)
