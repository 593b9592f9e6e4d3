"""Render simulation results: a per-layer CSV, a step summary, the reproduction table."""
from __future__ import annotations

import csv
import dataclasses
import io

from .compression import Policy
from .config import ChipConfig
from .simulate import Comparison, LayerReport, StepReport, compare
from .workload import paper_model

#: The paper's reported ranges (Park, Han and Kim, ICCAD 2021), against the ReLU-zero baseline.
PAPER_FOOTPRINT_RANGE = (1.21, 3.60)
PAPER_SPEEDUP_RANGE = (1.06, 1.43)
LAYER_FIELDS = [f.name for f in dataclasses.fields(LayerReport)]


def layer_csv(report: StepReport) -> str:
    """One row per layer, in the spirit of SCALE-Sim's COMPUTE_REPORT.csv."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LAYER_FIELDS)
    for r in report.layers:
        w.writerow([f"{v:.1f}" if isinstance(v, float) else v for v in dataclasses.astuple(r)])
    return buf.getvalue()


def _gib(b):
    return b / 2**30


def step_summary(report: StepReport) -> str:
    fp = report.footprint
    bounds = {}
    for r in report.layers:
        bounds[r.bound] = bounds.get(r.bound, 0) + r.cycles
    share = ", ".join(f"{k} {v / report.cycles:.0%}" for k, v in sorted(bounds.items()))
    return "\n".join([
        f"{report.workload} on {report.chip}, policy {report.policy}, batch {report.batch} "
        f"({report.timing_model} timing, {report.dataflow} dataflow)",
        f"  step: {report.cycles:,.0f} cycles = {report.seconds * 1e3:.2f} ms, "
        f"{report.throughput:,.1f} samples/s; time bound by {share}",
        f"  HBM traffic {report.hbm_bytes / 1e9:.2f} GB, compression engine {report.engine_cycles:,.0f} cycles",
        f"  footprint {_gib(fp.total):.2f} GiB = weights {_gib(fp.weights):.2f} + gradients "
        f"{_gib(fp.gradients):.2f} + optimizer {_gib(fp.optimizer):.2f} + stash {_gib(fp.stash):.2f} "
        f"+ workspace {_gib(fp.workspace):.2f}" + ("" if report.fits else "  (DOES NOT FIT)"),
    ])


def comparison_row(c: Comparison) -> dict:
    return {
        "model": c.workload, "policy": c.proposed.policy,
        "baseline_batch": c.baseline_own.batch, "proposed_batch": c.proposed_own.batch,
        "stash_reduction": c.stash_reduction, "footprint_reduction": c.footprint_reduction,
        "speedup_same_batch": c.speedup_same_batch, "speedup_own_batch": c.speedup_own_batch,
        "hbm_saved_fraction": c.hbm_bytes_saved / c.baseline.hbm_bytes,
        "engine_seconds_added": c.engine_cycles_added / c.baseline.cycles * c.baseline.seconds,
    }


def reproduction(chip: ChipConfig, models, drops, relu_sparsity=0.5, selection="exact",
                 timing_model="tpu") -> list[dict]:
    """Rows of baseline-against-deferred-dropout comparisons for paper-scale models.

    ``speedup_skip`` repeats the own-batch comparison with both policies' weight-gradient GEMMs
    skipping stored zeros (the what-if of :class:`~hardware.compression.Policy`).
    """
    rows = []
    for name in models:
        w = paper_model(name, relu_sparsity)
        for d in drops:
            row = comparison_row(compare(chip, w, Policy("deferred_dropout", d, selection),
                                         timing_model=timing_model))
            skip = compare(chip, w, Policy("deferred_dropout", d, selection, skip_zeros_in_dw=True),
                           baseline=Policy("zero_value", skip_zeros_in_dw=True), timing_model=timing_model)
            row["speedup_skip"] = skip.speedup_own_batch
            rows.append(row)
    return rows


def markdown_table(rows: list[dict]) -> str:
    head = ("| model | drop | batch base -> DD | stash reduction | footprint reduction | "
            "speedup, same batch | speedup, own batch | HBM bytes saved | speedup if dW skips zeros |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        drop = r["policy"].split("(")[1].split(",")[0]
        lines.append(f"| {r['model']} | {drop} | {r['baseline_batch']} -> {r['proposed_batch']} | "
                     f"{r['stash_reduction']:.2f}x | {r['footprint_reduction']:.2f}x | "
                     f"{r['speedup_same_batch']:.3f}x | {r['speedup_own_batch']:.3f}x | "
                     f"{r['hbm_saved_fraction']:.1%} | {r.get('speedup_skip', float('nan')):.3f}x |")
    lo, hi = PAPER_FOOTPRINT_RANGE
    slo, shi = PAPER_SPEEDUP_RANGE
    lines.append(f"| paper (ICCAD 2021) | | | | {lo}-{hi}x | | {slo}-{shi}x | | |")
    return "\n".join(lines)


def policy_from_args(kind: str, drop: float, selection: str) -> Policy:
    return Policy(kind, drop if kind == "deferred_dropout" else 0.0, selection)
