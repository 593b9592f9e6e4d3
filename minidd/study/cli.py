"""The main job: compare the zero-value baseline with deferred dropout end to end, and report.

    minidd-experiments                          # the quick preset: a few minutes on 2 cores
    minidd-experiments --preset full            # 4 models x 6 policies x 3 seeds
    minidd-experiments --preset hardware        # the paper-scale hardware model only, seconds
    minidd-experiments --policies dense 'dd:0.9,granularity=row' --seeds 0,1,2

(``python -m minidd`` and ``python run_experiments.py`` are the same command.)  Each run trains
one model under one stash policy and records its accuracy curve, the measured stash footprint,
the gradient-fidelity probe, the step time against Dense and the hardware model's figures for its
trace.  Results go to results/<preset>/: runs.jsonl (appended as runs finish; rerunning the same
command resumes and retries failed runs), summary.csv and REPORT.md with tables and figures.
Exit status: 0 all runs ok, 1 some runs failed (the report covers the others), 2 bad arguments
or folder, 3 the folder is in use by another sweep, 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from .. import __version__


def _csv(kind):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{kind}: give a comma-separated list")
        return items
    return parse


def _numbers(cast, what, valid, rule):
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


def _positive(what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a positive integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} must be a positive integer, got {value}")
        return value
    return parse


_drops = _numbers(float, "drop rates", lambda v: 0 <= v < 1, "in [0, 1)")
_seeds = _numbers(int, "seeds", lambda v: v >= 0, "non-negative")


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=("quick", "full", "hardware"), default="quick",
                    help="quick (default): all models, Dense, ZeroValue and deferred dropout at "
                         "0.5 and 0.9 (and 0.9 in blocks of 128), short training; full: {mlp, cnn, bert, "
                         "mlm} x {Dense, ZeroValue, DD 0.5, 0.75, 0.9, 0.95, DD 0.9 in blocks and in "
                         "rows} x 3 seeds with full training; hardware: the paper-scale hardware table only")
    ap.add_argument("--models", type=_csv("models"),
                    help="override the preset's models (comma-separated): mlp, cnn, bert (classifiers) "
                         "and mlm (masked-language-model pre-training)")
    ap.add_argument("--policies", nargs="+", metavar="SPEC",
                    help="override the preset's policies: one spec per argument, e.g. dense zero_value "
                         "'dd:0.9,granularity=row,value_dtype=bfloat16' (bash: dd:{0.5,0.9} gives two)")
    ap.add_argument("--drops", type=_drops,
                    help="short for --policies dense zero_value deferred_dropout:<d> for each rate d")
    ap.add_argument("--seeds", type=_seeds, help="override the seeds, e.g. 0,1,2")
    ap.add_argument("--epochs", type=_positive("--epochs"),
                    help="epochs for every model, steps for mlm (default: the preset's)")
    ap.add_argument("--train-limit", type=_positive("--train-limit"),
                    help="train on the first N training examples only")
    ap.add_argument("--out", help="output folder (default results/<preset>)")
    ap.add_argument("--executor", choices=("local", "dask"), default="local",
                    help="local (default): runs in processes on this machine; dask: each run a task "
                         "on the Dask cluster at --scheduler (pip install \"minidd[distributed]\")")
    ap.add_argument("--scheduler", metavar="ADDRESS", help="the Dask scheduler, e.g. tcp://10.0.0.5:8786")
    ap.add_argument("--jobs", type=_positive("--jobs"),
                    help="local executor: runs at once (default: one per core); each run uses one "
                         "BLAS thread, so results are identical for any value")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--quiet", action="store_true", help="no per-run lines, only warnings and the summary")
    ap.add_argument("--version", action="version", version=f"minidd {__version__}")
    return ap


def hardware_table(drops) -> str:
    from hardware import TPUV3
    from hardware.report import markdown_table, reproduction
    from hardware.workload import PAPER_MODELS
    return markdown_table(reproduction(TPUV3, list(PAPER_MODELS), drops))


def _check_args(ap, args):
    """Combinations argparse cannot see; exits with status 2 like argparse."""
    if args.executor == "dask" and not args.scheduler:
        ap.error("--executor dask needs --scheduler ADDRESS")
    if args.executor == "local" and args.scheduler:
        ap.error("--scheduler is for --executor dask")
    if args.executor == "dask" and args.jobs is not None:
        ap.error("--jobs is for the local executor; a Dask cluster runs as many runs at once as its "
                 "workers have threads")
    if args.out is not None and not args.out.strip():
        ap.error("--out must name a folder, got an empty string")
    if args.policies is not None and args.drops is not None:
        ap.error("give --policies or --drops, not both")
    if args.preset == "hardware" and (args.models or args.policies or args.seeds or args.epochs
                                      or args.train_limit or args.executor != "local"):
        ap.error("--preset hardware takes only --drops and --out")


def _setup_logging(quiet: bool) -> None:
    logger = logging.getLogger("minidd")
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    if not any(getattr(h, "minidd_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler()  # sys.stderr at the time of the call
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.minidd_cli = True
        logger.addHandler(handler)


def _hardware_preset(out: Path, drops, command: str) -> int:
    import json

    from .. import atomic
    from .sweep import CONFIG, claim_folder
    record = {"preset": "hardware", "drops": list(drops), "minidd_version": __version__}
    claim_folder(out)
    if (out / CONFIG).exists():
        try:
            have = json.loads((out / CONFIG).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{out / CONFIG}: cannot read it ({e}); choose another --out folder") from None
        if not isinstance(have, dict) or have.get("preset") != "hardware":
            raise ValueError(f"{out} holds a sweep's results; choose another --out folder for the hardware preset")
    table = hardware_table(drops)
    atomic.atomic_write(out / CONFIG, json.dumps(record, indent=2) + "\n")
    atomic.atomic_write(out / "REPORT.md", f"# Paper-scale hardware model\n\nProduced by `{command}`.\n\n{table}\n")
    print(table)
    print(f"\nreport: {out / 'REPORT.md'}")
    return 0


def _write_report(runs, config, out: Path, command: str) -> list[dict]:
    """summary.csv, REPORT.md and figures (``minidd.study.report``), which list the failed runs too."""
    from .report import write_report
    drops = sorted({r.policy["drop"] for r in runs if r.ok and r.policy.get("drop")}) or [0.9]
    return write_report(runs, out, config.to_json(), hardware_table(drops), command)


def main(argv=None, prog: str | None = None) -> int:
    """Run the main job with command-line arguments ``argv``; returns the exit status."""
    ap = parser(prog)
    args = ap.parse_args(argv)
    _check_args(ap, args)
    _setup_logging(args.quiet)
    out = Path(args.out or os.path.join("results", args.preset))
    command = f"{ap.prog} " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    command = command.strip()
    if args.preset == "hardware":
        try:
            return _hardware_preset(out, args.drops or [0.5, 0.75, 0.9, 0.95], command)
        except (ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .sweep import SweepLocked, from_preset, run_sweep
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:  # SIGTERM stops as cleanly as Ctrl-C
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        config = from_preset(args.preset, models=args.models, policies=args.policies, drops=args.drops,
                             seeds=args.seeds, epochs=args.epochs, train_limit=args.train_limit)
        with logging_redirect_tqdm(loggers=[logging.getLogger("minidd")]):
            runs = run_sweep(config, out, jobs=args.jobs or os.cpu_count() or 1, progress=not args.no_progress,
                             executor=args.executor, scheduler=args.scheduler)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are kept in {out}; run the same command again to resume",
              file=sys.stderr)
        return 130
    except SweepLocked as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except (ValueError, TypeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    failed = [r for r in runs if not r.ok]
    rows = _write_report(runs, config, out, command)
    print(f"{len(runs) - len(failed)} runs in {out}: runs.jsonl, summary.csv, REPORT.md"
          + (f"; {len(failed)} FAILED" if failed else ""))
    width = max((len(r["policy"]) for r in rows), default=0)
    for r in rows:
        print(f"  {r['task']:<5} {r['policy']:<{width}}  acc {100 * r['accuracy_mean']:6.2f}%  stash "
              f"{r.get('stash_reduction', float('nan')):5.2f}x smaller than dense")
    for r in failed:
        print(f"  FAILED {r.task} {r.spec} seed {r.seed}: {r.error.strip().splitlines()[-1]}")
    if failed:
        print("run the same command again to retry the failed runs", file=sys.stderr)
    return 1 if failed else 0
