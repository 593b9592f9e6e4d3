"""Command line: ``python -m hardware {config,step,reproduce} ...`` (``--help`` on each)."""
from __future__ import annotations

import argparse
import json
import sys

from .config import TPUV3, config_to_dict, load_config
from .report import layer_csv, markdown_table, policy_from_args, reproduction, step_summary
from .simulate import simulate_step
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
    st.add_argument("--selection", default="exact", choices=("exact", "estimate"),
                    help="exact top-k (two passes) or a threshold estimate (one pass)")
    st.add_argument("--batch", type=int, default=32)
    st.add_argument("--relu-sparsity", type=float, default=0.5, help="natural zeros of ReLU outputs (CNNs)")
    st.add_argument("--config", help="chip file (.json or .ini) instead of the TPUv3 default")
    st.add_argument("--timing", default="tpu", choices=TIMING_MODELS)
    st.add_argument("--dataflow", default="ws", choices=DATAFLOWS)
    st.add_argument("--csv", help="write the per-layer report to this file")

    rp = sub.add_parser("reproduce", help="the paper-scale comparison table (markdown)")
    rp.add_argument("--drops", type=_drops, default=[0.5, 0.75, 0.9, 0.95])
    rp.add_argument("--models", default=",".join(PAPER_MODELS),
                    help=f"comma-separated, from {', '.join(PAPER_MODELS)}")
    rp.add_argument("--relu-sparsity", type=float, default=0.5)
    rp.add_argument("--selection", default="exact", choices=("exact", "estimate"))
    rp.add_argument("--timing", default="tpu", choices=TIMING_MODELS)
    rp.add_argument("--config", help="chip file (.json or .ini)")
    args = ap.parse_args(argv)

    try:
        chip = load_config(args.config) if getattr(args, "config", None) else TPUV3
        if args.cmd == "config":
            print(json.dumps(config_to_dict(chip), indent=2))
        elif args.cmd == "step":
            w = load_workload(args.workload) if args.workload else paper_model(args.model, args.relu_sparsity)
            pol = policy_from_args(args.policy, args.drop, args.selection)
            rep = simulate_step(chip, w, pol, args.batch, args.timing, args.dataflow)
            print(step_summary(rep))
            if args.csv:
                with open(args.csv, "w") as f:
                    f.write(layer_csv(rep))
                print(f"per-layer report: {args.csv}")
        else:
            models = [m.strip() for m in args.models.split(",") if m.strip()]
            print(markdown_table(reproduction(chip, models, args.drops, args.relu_sparsity,
                                              args.selection, args.timing)))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
