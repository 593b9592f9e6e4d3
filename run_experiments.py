#!/usr/bin/env python3
"""Compare the zero-value baseline with deferred dropout end to end, and write a report.

    python run_experiments.py                     # the quick preset: a few minutes on 2 cores
    python run_experiments.py --preset full       # 4 models x 6 policies x 3 seeds
    python run_experiments.py --preset hardware   # the paper-scale hardware model only, seconds

Each run trains one model under one stash policy and records its accuracy curve, the measured
stash footprint, the gradient-fidelity probe, the step time against Dense and the hardware
model's figures for its trace.  Results go to results/<name>/: runs.jsonl (appended as runs
finish; rerunning resumes), summary.csv and REPORT.md with tables and figures.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path


def _csv(kind):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{kind}: give a comma-separated list")
        return items
    return parse


def _numbers(cast, what, valid=lambda v: True, rule=""):
    """An argparse type: comma-separated ``cast`` values, each satisfying ``valid``."""
    def parse(text):
        try:
            vals = [cast(t) for t in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be comma-separated {cast.__name__}s, got {text!r}") from None
        bad = [v for v in vals if not valid(v)]
        if bad:
            raise argparse.ArgumentTypeError(f"{what} must be {rule}, got {bad}")
        return vals
    return parse


_drops = _numbers(float, "drop rates", lambda v: 0 <= v < 1, "in [0, 1)")
_ints = _numbers(int, "seeds", lambda v: v >= 0, "non-negative")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=("quick", "full", "hardware"), default="quick",
                    help="quick (default): all models, Dense, ZeroValue and deferred dropout at "
                         "0.5 and 0.9, short training; full: {mlp, cnn, bert, mlm} x {Dense, ZeroValue, "
                         "DD 0.5, 0.75, 0.9, 0.95} x 3 seeds with full training; hardware: the "
                         "paper-scale hardware table only")
    ap.add_argument("--models", type=_csv("models"),
                    help="override the preset's models: mlp, cnn, bert (classifiers) and mlm "
                         "(masked-language-model pre-training)")
    ap.add_argument("--drops", type=_drops,
                    help="override the deferred-dropout drop rates (Dense and ZeroValue always run)")
    ap.add_argument("--seeds", type=_ints, help="override the seeds, e.g. 0,1,2")
    ap.add_argument("--epochs", type=int,
                    help="epochs for every model, steps for mlm (default: the preset's)")
    ap.add_argument("--train-limit", type=int, help="train on the first N training examples only")
    ap.add_argument("--out", help="output folder (default results/<preset>)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="runs in parallel processes (default: one per core); each run uses one "
                         "BLAS thread, so results are identical for any value")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    return ap


def build_config(args):
    from minidd.sweep import PRESETS, SweepConfig
    base = PRESETS[args.preset]
    policies = base.policies
    if args.drops is not None:
        policies = ("dense", "zero_value") + tuple(f"deferred_dropout:{d:g}" for d in args.drops if d > 0)
    models = tuple(args.models) if args.models else base.models
    epochs = {m: args.epochs for m in models} if args.epochs else {m: e for m, e in base.epochs.items() if m in models}
    limit = ({m: args.train_limit for m in models} if args.train_limit
             else {m: n for m, n in base.train_limit.items() if m in models})
    return SweepConfig(models, policies, tuple(args.seeds) if args.seeds else base.seeds, epochs, limit)


def hardware_table(drops) -> str:
    from hardware import TPUV3
    from hardware.report import markdown_table, reproduction
    from hardware.workload import PAPER_MODELS
    return markdown_table(reproduction(TPUV3, list(PAPER_MODELS), drops))


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    out = Path(args.out or os.path.join("results", args.preset))
    command = "python run_experiments.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.preset == "hardware":
        out.mkdir(parents=True, exist_ok=True)
        table = hardware_table(args.drops or [0.5, 0.75, 0.9, 0.95])
        (out / "REPORT.md").write_text(f"# Paper-scale hardware model\n\nProduced by `{command.strip()}`.\n\n{table}\n")
        print(table)
        print(f"\nreport: {out / 'REPORT.md'}")
        return 0
    from minidd.report import write_report
    from minidd.results import RunResult
    from minidd.sweep import run_sweep
    try:
        config = build_config(args)
        runs = [RunResult.from_dict(r) for r in run_sweep(config, out, jobs=args.jobs, progress=not args.no_progress)]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    drops = sorted({r.policy["drop"] for r in runs if r.policy.get("drop")}) or [0.9]
    rows = write_report(runs, out, config.to_json(), hardware_table(drops), command.strip())
    print(f"{len(runs)} runs in {out}: runs.jsonl, summary.csv, REPORT.md")
    for r in rows:
        print(f"  {r['task']:<5} {r['policy']:<22} acc {100 * r['accuracy_mean']:6.2f}%  stash "
              f"{r.get('stash_reduction', float('nan')):5.2f}x smaller than dense")
    return 0


if __name__ == "__main__":
    sys.exit(main())
