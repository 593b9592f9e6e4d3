"""The headline ratios and how far each assumption moves them.

Headline ratios, per model at drop 0.9 against the zero-value baseline (:func:`headline`):

``footprint``  peak HBM bytes at the baseline's largest batch, baseline / deferred dropout;
``own batch``  throughput with each policy at its own largest batch (element selection);
``co-design``  block-128 selection on the co-designed array, at the baseline's largest batch
               (double-buffered folds: ``tpu`` timing);
``co-design, per-fold fill``  the same with SCALE-Sim's fold model (every fold pays its
               stationary load, fill and drain: ``scalesim`` timing), the pessimistic end;
``row``        whole-token (row) selection on a stock TPUv3, at the baseline's largest batch.

Host offload is not a headline: its ratio is set by the assumed host link (scenario (c) prints
it with its link sensitivity).  :func:`sensitivity` recomputes the ratios with each assumption
at the ends of its plausible range (:data:`ASSUMPTIONS`, plus the calibrated parameters over
their leave-one-out fits), one at a time; the band of a ratio is the smallest and largest value
any of them gives.
"""
from __future__ import annotations

import dataclasses

from .compression import BASELINE, Policy
from .config import ChipConfig
from .simulate import footprint, max_batch, simulate_step
from .workload import paper_model

RATIOS = ("footprint", "own batch", "co-design", "co-design, per-fold fill", "row")
#: (field or ``relu_sparsity``, low, high, what it is); the chip's own value is the middle
ASSUMPTIONS = (
    ("engine_bytes_per_cycle", 256, 1024, "compression engine throughput per pass (assumed 512 B/cycle)"),
    ("engine_latency_cycles", 16, 256, "compression engine latency per tensor (assumed 64 cycles)"),
    ("vector_flops_per_cycle", 1024, 4096, "vector unit throughput (assumed 2,048 FLOP/cycle)"),
    ("relu_sparsity", 0.4, 0.7, "exact zeros of ReLU outputs in the CNNs (assumed 0.5)"),
)


def headline(chip: ChipConfig, model: str, relu_sparsity: float = 0.5, drop: float = 0.9) -> dict:
    """``{ratio: value}`` of :data:`RATIOS` for one paper model."""
    w = paper_model(model, relu_sparsity)
    elem = Policy("deferred_dropout", drop)
    block = Policy("deferred_dropout", drop, structure="block", block=chip.mxu_rows)
    row = Policy("deferred_dropout", drop, structure="row")
    b_base, b_dd = max_batch(chip, w, BASELINE), max(1, max_batch(chip, w, elem))
    codesign = dataclasses.replace(chip, dw_skips_zero_vectors=True)
    thr = lambda c, p, b, t="tpu": b / simulate_step(c, w, p, b, t).seconds  # noqa: E731
    base = thr(chip, BASELINE, b_base)
    return {"footprint": footprint(chip, w, BASELINE, b_base).total / footprint(chip, w, elem, b_base).total,
            "own batch": thr(chip, elem, b_dd) / base,
            "co-design": thr(codesign, block, b_base) / thr(codesign, BASELINE, b_base),
            "co-design, per-fold fill": (thr(codesign, block, b_base, "scalesim")
                                         / thr(codesign, BASELINE, b_base, "scalesim")),
            "row": thr(chip, row, b_base) / base}


def headlines(chip: ChipConfig, models, relu_sparsity: float = 0.5) -> dict:
    """``{model: headline}``."""
    return {m: headline(chip, m, relu_sparsity) for m in models}


def _span(values) -> tuple[float, float]:
    return min(values), max(values)


def sensitivity(chip: ChipConfig, models, fitted_ranges=()) -> tuple[dict, list]:
    """The headlines on ``chip`` and one row per assumption end: ``(field, value, what,
    {model: headline})``.  ``fitted_ranges``: ``((field, low, high, what), ...)`` for the
    calibrated parameters."""
    rows = []
    for field, lo, hi, what in tuple(ASSUMPTIONS) + tuple(fitted_ranges):
        for value in (lo, hi):
            if field == "relu_sparsity":
                rows.append((field, value, what, headlines(chip, models, value)))
            else:
                rows.append((field, value, what, headlines(dataclasses.replace(chip, **{field: value}), models)))
    return headlines(chip, models), rows


def bands(central: dict, rows: list) -> dict:
    """``{(ratio, model): (low, high)}`` over the central value and every assumption end."""
    out = {}
    for model, values in central.items():
        for ratio in RATIOS:
            out[ratio, model] = _span([values[ratio]] + [r[3][model][ratio] for r in rows])
    return out


def sensitivity_lines(central: dict, rows: list) -> list[str]:
    """A markdown table (each assumption end: each ratio's range over the models) and the
    headline ranges with their bands."""
    models = list(central)
    lines = ["| assumption | value | " + " | ".join(RATIOS) + " |", "|---|---|" + "---|" * len(RATIOS)]
    fmt = lambda vals: "{:.3f}-{:.3f}x".format(*_span(vals))  # noqa: E731
    lines.append("| (central) | | " + " | ".join(fmt([central[m][r] for m in models]) for r in RATIOS) + " |")
    for field, value, what, heads in rows:
        lines.append(f"| {field}: {what} | {value:g} | "
                     + " | ".join(fmt([heads[m][r] for m in models]) for r in RATIOS) + " |")
    band = bands(central, rows)
    lines.append("")
    for r in RATIOS:
        lo, hi = _span([central[m][r] for m in models])
        blo, bhi = _span([v for (ratio, _), span in band.items() if ratio == r for v in span])
        lines.append(f"* {r}: {lo:.3f}-{hi:.3f}x over {', '.join(models)} (band {blo:.3f}-{bhi:.3f}x over "
                     "every assumption's range); per model " + ", ".join(
                         f"{m} {central[m][r]:.3f}x ({band[r, m][0]:.3f}-{band[r, m][1]:.3f})" for m in models))
    return lines
