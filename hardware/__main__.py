"""Command line: ``python -m hardware {config,step,reproduce} ...`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from .accounting import accounting_section
from .calibration import calibration_report, fitted_ranges
from .compression import SELECTIONS, STRUCTURES, Policy
from .config import TPUV3, config_to_dict, load_config
from .energy import TDP_WATTS_PER_CORE, step_energy
from .report import (layer_csv, markdown_table, memory_csv, memory_figure, policy_from_args, reproduction,
                     scenario_lines, scenarios, step_summary)
from .sensitivity import sensitivity, sensitivity_lines
from .simulate import RECOMPUTE, max_batch, simulate_step
from .systolic import DATAFLOWS, TIMING_MODELS
from .workload import PAPER_MODELS, load_workload, paper_model


def _drops(text):
    try:
        vals = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"drop rates must be comma-separated numbers, got {text!r}") from None
    if not all(0 <= v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"drop rates must be in [0, 1), got {text!r}")
    return vals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hardware", description="Analytical TPUv3 "
                                 "training-step model: zero-value baseline against deferred dropout.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("config", help="print the default chip (TPUv3 core) as a JSON template")

    st = sub.add_parser("step", help="model one training step and print a summary (and a per-layer CSV)")
    src = st.add_mutually_exclusive_group()
    src.add_argument("--model", default="bert-base-128", choices=sorted(PAPER_MODELS),
                     help="paper-scale model (default bert-base-128)")
    src.add_argument("--workload", help="a JSON workload or minidd trace instead of --model")
    st.add_argument("--policy", default="zero_value", choices=("dense", "zero_value", "deferred_dropout"))
    st.add_argument("--drop", type=float, default=0.9, help="drop rate for deferred_dropout (default 0.9)")
    st.add_argument("--selection", default="exact", choices=SELECTIONS,
                    help="exact top-k (two passes) or a sampled threshold (one pass)")
    st.add_argument("--structure", default="element", choices=STRUCTURES,
                    help="deferred dropout's selection structure (default element)")
    st.add_argument("--block", type=int, default=128, help="block size for --structure block")
    st.add_argument("--n", type=int, default=2, help="N of N:M for --structure nm (default 2)")
    st.add_argument("--m", type=int, default=4, help="M of N:M for --structure nm (default 4)")
    st.add_argument("--codesign", action="store_true",
                    help="the co-designed array: weight-gradient GEMMs skip all-zero streamed vectors")
    st.add_argument("--recompute", default="", help=f"comma-separated classes from {', '.join(RECOMPUTE)}")
    st.add_argument("--batch", type=int, default=32)
    st.add_argument("--relu-sparsity", type=float, default=0.5, help="natural zeros of ReLU outputs (CNNs)")
    st.add_argument("--config", help="chip file (.json or .ini) instead of the TPUv3 default")
    st.add_argument("--timing", default="tpu", choices=TIMING_MODELS)
    st.add_argument("--dataflow", default="ws", choices=DATAFLOWS)
    st.add_argument("--csv", help="write the per-layer report to this file")

    rp = sub.add_parser("reproduce", help="calibration, the scenario tables and the paper-scale summary (markdown)")
    rp.add_argument("--drops", type=_drops, default=[0.5, 0.75, 0.9, 0.95])
    rp.add_argument("--models", default=",".join(PAPER_MODELS),
                    help=f"comma-separated, from {', '.join(PAPER_MODELS)}")
    rp.add_argument("--relu-sparsity", type=float, default=0.5)
    rp.add_argument("--selection", default="exact", choices=SELECTIONS)
    rp.add_argument("--scenario-models", default="bert-base-128,bert-large-512,resnet50",
                    help="models of the scenario tables (comma-separated; empty for none)")
    rp.add_argument("--timing", default="tpu", choices=TIMING_MODELS)
    rp.add_argument("--config", help="chip file (.json or .ini)")
    rp.add_argument("--figures", metavar="DIR", help="write each scenario model's memory-over-time "
                    "curves to DIR (memory_<model>.csv; memory_<model>.png with matplotlib)")
    args = ap.parse_args(argv)

    try:
        chip = load_config(args.config) if getattr(args, "config", None) else TPUV3
        if args.cmd == "config":
            print(json.dumps(config_to_dict(chip), indent=2))
        elif args.cmd == "step":
            if args.codesign:
                chip = dataclasses.replace(chip, dw_skips_zero_vectors=True)
            w = load_workload(args.workload) if args.workload else paper_model(args.model, args.relu_sparsity)
            pol = policy_from_args(args.policy, args.drop, args.selection, args.structure, args.block,
                                   args.n, args.m)
            recompute = tuple(r.strip() for r in args.recompute.split(",") if r.strip())
            rep = simulate_step(chip, w, pol, args.batch, args.timing, args.dataflow, recompute)
            print(step_summary(rep))
            if args.csv:
                with open(args.csv, "w") as f:
                    f.write(layer_csv(rep))
                print(f"per-layer report: {args.csv}")
        else:
            _reproduce(chip, args)
    except (ValueError, OSError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def _reproduce(chip, args):
    """Calibration, the scenario tables, the paper-scale summary."""
    cal, lines = calibration_report(chip)
    print("\n".join(lines))
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    print("\n## Headline ratios (calibrated chip, drop 0.9) and their sensitivity\n")
    central, rows = sensitivity(cal.chip, models, fitted_ranges(chip, cal))
    print("\n".join(sensitivity_lines(central, rows)))
    print("\n" + _energy_anchor(cal.chip))
    print("\nThe scenario tables below use the calibrated chip (their energy column: per-operation "
          "energies assumed in hardware/energy.py); the summary is printed on both.\n")
    policies = [Policy("deferred_dropout", 0.9, args.selection),
                Policy("deferred_dropout", 0.9, args.selection, structure="block", block=chip.mxu_rows),
                Policy("deferred_dropout", 0.9, args.selection, structure="row")]
    for name in [m.strip() for m in args.scenario_models.split(",") if m.strip()]:
        w = paper_model(name, args.relu_sparsity)
        print(f"## Scenarios: {w.name} (calibrated TPUv3 core, {args.timing} timing, drop 0.9)\n")
        scens = scenarios(cal.chip, w, policies, timing_model=args.timing)
        print("\n".join(scenario_lines(scens)))
        print()
        if args.figures:
            _write_memory(scens, args.figures, w.name, cal.chip.hbm_bytes)
    print("\n".join(accounting_section()))
    for label, c in (("uncalibrated", chip), ("calibrated", cal.chip)):
        print(f"## Summary by drop rate ({label} chip)\n")
        print(markdown_table(reproduction(c, models, args.drops, args.relu_sparsity, args.selection,
                                          args.timing)))
        print()


def _energy_anchor(chip) -> str:
    """The modelled power of a compute-bound paper step against TPUv3's published TDP."""
    w = paper_model("bert-base-128")
    r = simulate_step(chip, w, Policy("zero_value"), max_batch(chip, w, Policy("zero_value")))
    e = step_energy(r, chip)
    return (f"Energy anchor: {w.name}, zero-value at batch {r.batch}: {e.total:.1f} J per step "
            f"({e.total / r.batch * 1e3:.1f} mJ per sample; MXU {e.mxu / e.total:.0%}, HBM {e.hbm / e.total:.0%}, "
            f"VMEM {e.vmem / e.total:.0%}, vector {e.vector / e.total:.0%}, static {e.static / e.total:.0%}), "
            f"{e.total / r.seconds:.0f} W per core against the {TDP_WATTS_PER_CORE:.0f} W per core of TPUv3's "
            "450 W chip TDP (Jouppi et al., CACM 2020)")


def _write_memory(scens, folder: str, name: str, capacity: int) -> None:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"memory_{name}")
    with open(path + ".csv", "w") as f:
        f.write(memory_csv(scens))
    drawn = memory_figure(scens, path + ".png", capacity, f"{name}: HBM over one step")
    print(f"memory curves: {path}.csv" + (f", {path}.png" if drawn else " (no matplotlib: no figure)") + "\n")


if __name__ == "__main__":
    sys.exit(main())
