"""Render simulation results: a per-layer CSV, a step summary, the scenario table.

The scenario table (:func:`scenarios`, :func:`scenario_table`) sets a proposed policy against
the zero-value baseline, mechanism by mechanism:

(a) each policy at its own largest batch (no fallback);
(b) a fixed batch at which the baseline does not fit: each policy uses the cheapest way to fit
    (:mod:`hardware.fallback`);
(c) the same batch with host offload as the only way to fit;
(d) the co-designed array (weight-gradient GEMM skipping all-zero streamed vectors), both
    policies at the baseline's largest batch;
(e) combinations: the policy with selective recomputation at the largest batch that this
    allows, against the baseline's cheapest way to fit it; and on the co-designed array.

Every row gives footprint, batch, speedup and the mechanism; every scenario ends with a
sentence, computed from its numbers, saying whether it lands inside the paper's ranges.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass

from .compression import BASELINE, Policy, policy_from_config
from .config import ChipConfig
from .energy import fitted_energy
from .fallback import FALLBACKS, FittedStep, fit_step
from .simulate import PHASES, LayerReport, StepReport, footprint, max_batch
from .workload import Workload, paper_model, workload_from_dict

#: The paper's reported ranges (Park, Han and Kim, ICCAD 2021), against the ReLU-zero baseline.
PAPER_FOOTPRINT_RANGE = (1.21, 3.60)
PAPER_SPEEDUP_RANGE = (1.06, 1.43)
LAYER_FIELDS = [f.name for f in dataclasses.fields(LayerReport) if f.name != "phases"] + \
    [f"{p}_{x}" for p in PHASES for x in ("compute", "hbm", "engine", "time", "bound")]


def layer_csv(report: StepReport) -> str:
    """One row per layer, in the spirit of SCALE-Sim's COMPUTE_REPORT.csv, with every phase's
    roofline: ``<phase>_compute``, ``_hbm``, ``_engine`` (cycles), ``_time`` (their maximum)
    and ``_bound`` (which one it is)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LAYER_FIELDS)
    for r in report.layers:
        cells = [getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "phases"]
        cells += [v for t in r.phases for v in dataclasses.astuple(t)]
        w.writerow([f"{v:.1f}" if isinstance(v, float) else v for v in cells])
    return buf.getvalue()


def _gib(b):
    return b / 2**30


def step_summary(report: StepReport) -> str:
    fp = report.footprint
    bounds = {}
    for r in report.layers:
        for p, t in zip(PHASES, r.phases):
            key = f"{p} {t.bound}"
            bounds[key] = bounds.get(key, 0) + t.cycles
    bounds["optimizer"] = report.optimizer_cycles
    share = ", ".join(f"{k} {v / report.cycles:.0%}" for k, v in sorted(bounds.items()) if v)
    return "\n".join([
        f"{report.workload} on {report.chip}, policy {report.policy}, batch {report.batch} "
        f"({report.timing_model} timing, {report.dataflow} dataflow)",
        f"  step: {report.cycles:,.0f} cycles = {report.seconds * 1e3:.2f} ms, "
        f"{report.throughput:,.1f} samples/s; time bound by {share}",
        f"  HBM traffic {report.hbm_bytes / 1e9:.2f} GB, compression engine {report.engine_cycles:,.0f} cycles, "
        f"weight-gradient GEMMs {report.dw_cycles:,} cycles",
        f"  footprint {_gib(fp.total):.2f} GiB = weights {_gib(fp.weights):.2f} + gradients "
        f"{_gib(fp.gradients):.2f} + optimizer {_gib(fp.optimizer):.2f} + stash kept {_gib(fp.stash):.2f} "
        f"+ live tensors {_gib(fp.live):.2f} at the peak ({fp.peak_at}; whole stash "
        f"{_gib(fp.stash_total):.2f})" + ("" if report.fits else "  (DOES NOT FIT)"),
    ])


def memory_csv(scens: list) -> str:
    """The memory-over-time curve of every row of every scenario: one line per event (each
    layer's forward, each layer's backward, the optimizer) with the stash kept, the live
    tensors and the total, in bytes (:mod:`hardware.liveness`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scenario", "policy", "batch", "event", "phase", "layer", "stash_bytes", "live_bytes",
                "total_bytes"])
    for s in scens:
        for r in s.rows:
            for i, p in enumerate(r.step.report.memory):
                w.writerow([f"({s.key}) {s.title}", r.policy, r.step.report.batch, i, p.phase, p.layer,
                            p.stash, p.live, p.total])
    return buf.getvalue()


def memory_figure(scens: list, path: str, capacity: int, title: str) -> bool:
    """Plot the total HBM bytes over the step's events of scenarios (a) and (b) to ``path``;
    False (and nothing written) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 4))
    for s in scens[:2]:
        for r in s.rows:
            mem = r.step.report.memory
            ax.plot(range(len(mem)), [p.total / 2**30 for p in mem],
                    label=f"({s.key}) {r.policy}, batch {r.step.report.batch}")
    ax.axhline(capacity / 2**30, color="k", linestyle=":", label="HBM capacity")
    ax.set_xlabel("event (forward layers, backward layers, optimizer)")
    ax.set_ylabel("HBM GiB")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------- scenarios
@dataclass(frozen=True)
class Row:
    """One policy in one scenario."""

    scenario: str
    policy: str
    chip: str
    step: FittedStep
    footprint_reduction: float   #: baseline bytes / this policy's bytes, same scenario
    speedup: float               #: this policy's throughput / the baseline's, same scenario
    dw_removed: float            #: fraction of the baseline's weight-gradient cycles removed
    energy_per_sample: float = 0.0  #: joules (:mod:`hardware.energy`, assumed per-operation energies)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    rows: tuple                  #: the baseline first
    verdict: str


def _in_range(x, lo, hi):
    return "inside" if lo <= x <= hi else ("below" if x < lo else "above")


def _why(base: FittedStep, prop: FittedStep) -> str:
    """Where the time difference per sample comes from, as shares of the baseline's: the
    weight-gradient GEMMs' compute, recomputed forward work, and the way to fit itself (extra
    micro-batch steps, host-link time beyond the modelled step)."""
    def parts(f: FittedStep):
        r = f.report
        rerun = sum(x.phases[PHASES.index("recompute")].cycles for x in r.layers)
        return {"weight-gradient GEMMs": r.dw_cycles / r.batch, "recomputation": rerun / r.batch,
                "the way to fit itself": f.seconds * _clock(f) / f.batch - r.cycles / r.batch}
    pb, pp = parts(base), parts(prop)
    total = base.seconds * _clock(base) / base.batch
    diffs = {k: (pb[k] - pp[k]) / total for k in pb}
    named = [f"{k} {v:+.1%}" for k, v in sorted(diffs.items(), key=lambda kv: -abs(kv[1])) if abs(v) >= 0.005]
    return "per-sample time saved: " + (", ".join(named) if named else "under 0.5% from every mechanism")


def _clock(f: FittedStep) -> float:
    return f.report.cycles / f.report.seconds


def _row(key, chip, workload, policy, step, base_step, base_fp, base_dw) -> Row:
    dw = step.report.dw_cycles / step.report.batch
    fp = footprint(chip, workload, policy, base_step.batch).total
    return Row(key, step.policy, chip.name, step, base_fp / fp, step.throughput / base_step.throughput,
               1 - dw / base_dw if base_dw else 0.0, fitted_energy(step, chip).total / step.batch)


def _scenario(key, title, chip, workload, baseline, base: FittedStep, policies, props: list[FittedStep],
              note="") -> Scenario:
    """Rows and verdict; footprint reductions are taken as-is (no fallback) at the baseline's
    batch of the scenario, so they measure the stash policy, not the way to fit."""
    base_dw = base.report.dw_cycles / base.report.batch
    base_fp = footprint(chip, workload, baseline, base.batch).total
    rows = [_row(key, chip, workload, baseline, base, base, base_fp, base_dw)] + \
        [_row(key, chip, workload, pol, p, base, base_fp, base_dw) for pol, p in zip(policies, props)]
    lo, hi = PAPER_SPEEDUP_RANGE
    flo, fhi = PAPER_FOOTPRINT_RANGE
    compute = sum(t.cycles for x in base.report.layers for t in x.phases
                  if t.bound == "compute") / base.report.cycles
    parts = [f"the baseline's step is {compute:.0%} compute-bound"]
    for r in rows[1:]:
        parts.append(f"{r.policy}: speedup {r.speedup:.3f}x is {_in_range(r.speedup, lo, hi)} the paper's "
                     f"{lo}-{hi}x and footprint reduction {r.footprint_reduction:.2f}x is "
                     f"{_in_range(r.footprint_reduction, flo, fhi)} its {flo}-{fhi}x; baseline fits by "
                     f"{base.method}{' (' + base.detail + ')' if base.detail else ''}, the policy by "
                     f"{r.step.method}{' (' + r.step.detail + ')' if r.step.detail else ''}; "
                     f"{_why(base, r.step)}")
    text = "; ".join(parts)
    if note:
        text = note + " " + text[0].upper() + text[1:]
    return Scenario(key, title, tuple(rows), text + ".")


def scenarios(chip: ChipConfig, workload: Workload, policies, baseline: Policy = BASELINE,
              timing_model: str = "tpu", codesign: ChipConfig | None = None) -> list[Scenario]:
    """Scenarios (a)-(e) of the module docstring for ``policies`` against ``baseline``."""
    policies = [policy_from_config(p) if isinstance(p, dict) else p for p in policies]
    codesign = codesign or dataclasses.replace(chip, name=chip.name + ", zero-vector-skipping dW",
                                               dw_skips_zero_vectors=True)
    run = lambda c, pol, b, methods=("none",): fit_step(c, workload, pol, b, methods, timing_model)  # noqa: E731
    b_base = max_batch(chip, workload, baseline)
    if b_base == 0:
        raise ValueError(f"scenarios: not one sample of {workload.name} fits in {chip.hbm_bytes} bytes of HBM")
    cheapest = lambda c, pol, b, methods=FALLBACKS: fit_step(c, workload, pol, b, methods, timing_model)  # noqa: E731
    own = [run(chip, p, max(1, max_batch(chip, workload, p))) for p in policies]
    fixed = max([s.batch for s in own] + [math.ceil(1.25 * b_base), b_base + 1])
    recompute = ("none", "selective_attention", "selective")
    b_e = min(max(1, max_batch(chip, workload, p, recompute=("attention", "pointwise"))) for p in policies)
    table = [
        ("a", "each policy at its own largest batch", chip, run(chip, baseline, b_base), own),
        ("b", f"fixed batch {fixed}, the cheapest way to fit", chip, cheapest(chip, baseline, fixed),
         [cheapest(chip, p, fixed) for p in policies]),
        ("c", f"fixed batch {fixed}, host offload as the way to fit", chip,
         cheapest(chip, baseline, fixed, ("none", "host_offload")),
         [cheapest(chip, p, fixed, ("none", "host_offload")) for p in policies]),
        ("d", f"co-designed array, batch {b_base}", codesign, run(codesign, baseline, b_base),
         [cheapest(codesign, p, b_base) for p in policies]),   # a policy larger than the baseline falls back
        ("e", f"policy + selective recomputation, batch {b_e} (baseline: cheapest way to fit)", chip,
         cheapest(chip, baseline, b_e), [cheapest(chip, p, b_e, recompute) for p in policies]),
        ("e", f"co-designed array, fixed batch {fixed}, the cheapest way to fit", codesign,
         cheapest(codesign, baseline, fixed), [cheapest(codesign, p, fixed) for p in policies]),
    ]
    notes = {"c": _offload_note(chip, workload, baseline, policies, fixed, table[2][3], table[2][4],
                                timing_model)}
    return [_scenario(key, title, c, workload, baseline, base, policies, props,
                      notes.get(key, "") if i == 2 else "")
            for i, (key, title, c, base, props) in enumerate(table)]


def _offload_note(chip, workload, baseline, policies, batch, base: FittedStep, props, timing_model) -> str:
    """What dominates scenario (c), and its speedups at twice and half the host link (an
    assumption)."""
    def exposed(f: FittedStep) -> str:
        if f.method != "host_offload":
            return f"{f.policy} fits without the link"
        share = 1 - f.report.seconds / f.seconds
        return f"{f.policy}: exposed host-link time is {share:.0%} of its step"
    parts = [exposed(base)] + [exposed(f) for f in props]
    sens = []
    for factor in (2.0, 0.5):
        c = dataclasses.replace(chip, host_link_bytes_per_s=chip.host_link_bytes_per_s * factor)
        fit = lambda pol: fit_step(c, workload, pol, batch, ("none", "host_offload"), timing_model)  # noqa: E731
        b = fit(baseline)
        sens.append(f"{factor:g}x the link ({chip.host_link_bytes_per_s * factor / 1e9:.2f} GB/s per core): "
                    + " / ".join(f"{fit(p).throughput / b.throughput:.2f}x" for p in policies))
    return ("What dominates: " + "; ".join(parts) + ". Speedups at " + "; at ".join(sens) + ".")


SCENARIO_HEADER = ("| scenario | policy | fits by | batch | footprint GiB | footprint reduction | "
                   "speedup | dW cycles removed | energy per sample mJ |")


def scenario_lines(scens: list[Scenario], accuracy: dict | None = None) -> list[str]:
    """Markdown lines: one table row per policy and scenario, then one sentence per scenario.
    ``accuracy`` maps a policy label to a measured-accuracy string (an extra column)."""
    head = SCENARIO_HEADER + (" measured accuracy |" if accuracy else "")
    lines = [head, "|" + "---|" * head.count(" |")]
    for s in scens:
        for r in s.rows:
            f = r.step
            cells = [f"({s.key}) {s.title}", r.policy, f.method + (f": {f.detail}" if f.detail else ""),
                     str(f.batch), f"{_gib(f.footprint_bytes):.2f}", f"{r.footprint_reduction:.2f}x",
                     f"{r.speedup:.3f}x", f"{r.dw_removed:.0%}", f"{r.energy_per_sample * 1e3:.1f}"]
            if accuracy:
                cells.append(accuracy.get(r.policy, ""))
            lines.append("| " + " | ".join(cells) + " |")
    lo, hi = PAPER_SPEEDUP_RANGE
    flo, fhi = PAPER_FOOTPRINT_RANGE
    lines.append(f"| paper (ICCAD 2021, TPUv3) | | | | | {flo}-{fhi}x | {lo}-{hi}x | | |"
                 + (" |" if accuracy else ""))
    lines.append("")
    for s in scens:
        lines.append(f"* ({s.key}) {s.title}: {s.verdict}")
    return lines


def scenario_table(workload_or_trace, policies, accuracy_rows=None, chip: ChipConfig | None = None,
                   timing_model: str = "tpu") -> list[str]:
    """Markdown lines of the scenario table for a workload or a minidd trace dict.

    ``policies``: hardware :class:`Policy` objects or minidd policy config dicts (the baseline,
    zero-value, is always added first); ``accuracy_rows``: None or a list aligned with
    ``policies`` of measured-accuracy strings, shown in an extra column.
    """
    from .config import TPUV3
    w = workload_or_trace if isinstance(workload_or_trace, Workload) else \
        workload_from_dict(workload_or_trace, "trace")
    pols = [policy_from_config(p) if isinstance(p, dict) else p for p in policies]
    pols = [p for p in pols if p.kind == "deferred_dropout"]
    if accuracy_rows is not None and len(accuracy_rows) != len(policies):
        raise ValueError(f"scenario_table: accuracy_rows has {len(accuracy_rows)} entries for "
                         f"{len(policies)} policies")
    acc = None
    if accuracy_rows is not None:
        full = [policy_from_config(p) if isinstance(p, dict) else p for p in policies]
        acc = {p.label: a for p, a in zip(full, accuracy_rows) if a is not None}
    if not pols:
        return [f"No deferred-dropout policy to set against the baseline for {w.name}."]
    return [f"Scenarios for {w.name}:", ""] + scenario_lines(scenarios(chip or TPUV3, w, pols,
                                                                        timing_model=timing_model), acc)


# ------------------------------------------------------------------ the paper-scale summary
def reproduction(chip: ChipConfig, models, drops, relu_sparsity=0.5, selection="exact",
                 timing_model="tpu") -> list[dict]:
    """Per model and drop rate: footprint and speedup of deferred dropout (element and
    block-128 selections) against zero-value, at own batch, at a fixed batch where the baseline
    must fall back, and on the co-designed array."""
    from .config import TPUV3  # noqa: F401  (chip is passed in)
    rows = []
    for name in models:
        w = paper_model(name, relu_sparsity)
        b_base = max_batch(chip, w, BASELINE)
        base_own = fit_step(chip, w, BASELINE, b_base, ("none",), timing_model)
        codesign = dataclasses.replace(chip, dw_skips_zero_vectors=True)
        base_cd = fit_step(codesign, w, BASELINE, b_base, ("none",), timing_model)
        for d in drops:
            elem = Policy("deferred_dropout", d, selection)
            block = Policy("deferred_dropout", d, selection, structure="block", block=chip.mxu_rows)
            b_dd = max(1, max_batch(chip, w, elem))
            dd_own = fit_step(chip, w, elem, b_dd, ("none",), timing_model)
            fixed = max(b_dd, b_base + 1)
            base_fixed = fit_step(chip, w, BASELINE, fixed, timing_model=timing_model)
            dd_fixed = fit_step(chip, w, elem, fixed, timing_model=timing_model)
            cd = fit_step(codesign, w, block, b_base, timing_model=timing_model)  # may not fit as it is
            rows.append({
                "model": w.name, "drop": d, "baseline_batch": b_base, "proposed_batch": b_dd,
                "stash_reduction": base_own.report.footprint.stash_total / fit_step(
                    chip, w, elem, b_base, ("none",), timing_model).report.footprint.stash_total,
                "footprint_reduction": base_own.footprint_bytes / fit_step(
                    chip, w, elem, b_base, ("none",), timing_model).footprint_bytes,
                "speedup_own_batch": dd_own.throughput / base_own.throughput,
                "fixed_batch": fixed, "baseline_fallback": base_fixed.method,
                "speedup_fixed_batch": dd_fixed.throughput / base_fixed.throughput,
                "speedup_codesign_block": cd.throughput / base_cd.throughput,
            })
    return rows


def markdown_table(rows: list[dict]) -> str:
    head = ("| model | drop | batch base -> DD | stash reduction | footprint reduction | "
            "speedup, own batch | fixed batch (baseline fits by) | speedup, fixed batch | "
            "speedup, co-designed array, block selection |")
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['drop']:g} | {r['baseline_batch']} -> {r['proposed_batch']} | "
                     f"{r['stash_reduction']:.2f}x | {r['footprint_reduction']:.2f}x | "
                     f"{r['speedup_own_batch']:.3f}x | {r['fixed_batch']} ({r['baseline_fallback']}) | "
                     f"{r['speedup_fixed_batch']:.3f}x | {r['speedup_codesign_block']:.3f}x |")
    lo, hi = PAPER_FOOTPRINT_RANGE
    slo, shi = PAPER_SPEEDUP_RANGE
    lines.append(f"| paper (ICCAD 2021) | | | | {lo}-{hi}x | {slo}-{shi}x | | | |")
    return "\n".join(lines)


def policy_from_args(kind: str, drop: float, selection: str, structure: str = "element",
                     block: int = 128, n: int = 2, m: int = 4) -> Policy:
    if kind != "deferred_dropout":
        return Policy(kind)
    return Policy(kind, drop, selection, structure=structure, block=block, n=n, m=m)
