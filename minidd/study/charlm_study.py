"""The character-LM study as one resumable command: the learning-rate tuning, then the budget ladder.

    python -m minidd.study.charlm_study --out docs/results/charlm --jobs 2
    python -m minidd.study.charlm_study --out docs/results/charlm --report-only --results-md docs/results.md

Runs :data:`~minidd.study.studies.CHARLM_LR` (dense at three learning rates, scored on the
validation slice of the training e-mails) and the studies of :data:`LADDER` (the arms at 1,000 and
2,000 steps, :data:`~minidd.study.studies.CHARLM`), each through :func:`~minidd.study.studies.run_study`
in ``<out>/<study name>``; then writes every study's ``REPORT.md`` and ``<out>/REPORT.md`` (the
ladder's section: the window, the convergence check fixed here before the run, the headline
table; and the tuning table), and with ``--results-md`` the ``charlm`` section of the results page.
Prints the wall time of the invocation and the CPU time of every stored run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .ladder import Ladder, ladder_section
from .study_report import load, replace_section, write_report
from . import recipes
from .studies import CHARLM, CHARLM_BUDGETS, CHARLM_LR, cpu_seconds, run_study
from .sweep import EXECUTORS

#: Fixed before the run: dense counts as converged at 1,000 steps if 2,000 steps improve its
#: validation bits/char by less than 0.05 (mean over the 3 paired seeds); the task tells policies
#: apart if the floor is at least 0.5 bits/char behind dense in every seed.
LADDER = Ladder("charlm", "Causal character LM on the e-mail bodies (recipe `charlm`), the budget ladder: test "
                "bits/char (lower is better; differences arm - dense in bits/char, positive = worse than dense), "
                "3 paired seeds; the learning rate tuned on the validation slice of the training e-mails",
                CHARLM, CHARLM_BUDGETS, converged_within=0.05, validation_metric="val_bits_per_char", min_gap=0.5)


def tuned_lr(folder) -> float | None:
    """The learning rate of the ``charlm_lr`` run with the lowest validation bits/char (None
    before it has run)."""
    _, runs = load(CHARLM_LR, Path(folder) / CHARLM_LR.name)
    if not runs:
        return None
    return min(runs, key=lambda r: r.metrics["val_bits_per_char"]).settings["hp"]["lr"]


def tuning_table(folder) -> list[str]:
    _, runs = load(CHARLM_LR, Path(folder) / CHARLM_LR.name)
    out = ["| learning rate | validation bits/char (seed 100) | test bits/char (not used) |", "|---|---|---|"]
    for r in sorted(runs, key=lambda r: r.settings["hp"]["lr"]):
        out.append(f"| {r.settings['hp']['lr']:g} | {r.metrics['val_bits_per_char']:.3f} | "
                   f"{r.metrics['test_bits_per_char']:.3f} |")
    return out


def report(folder, wall: float | None = None) -> str:
    """``<out>/REPORT.md``: the ladder section, the tuning table, links to each study's report."""
    folder = Path(folder)
    every = [r for s in (CHARLM_LR,) + CHARLM for r in load(s, folder / s.name)[1]]
    cost = f"{len(every)} runs, {cpu_seconds(every) / 60:.1f} CPU minutes in all"
    if wall is not None:
        cost += f"; the last invocation took {wall / 60:.1f} minutes wall"
    lines = ["# The character-LM study", "", ladder_section(LADDER, folder), "## Learning-rate tuning (`charlm_lr`)", "",
             f"Dense at 1,000 steps, seed 100 (not a compared seed); the winner ({tuned_lr(folder)}) is the recipe's.", ""]
    lines += tuning_table(folder) + ["", "## Each budget's full tables", ""]
    lines += [f"- [{s.name}]({s.name}/REPORT.md)" for s in CHARLM] + ["", cost + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m minidd.study.charlm_study", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--executor", choices=EXECUTORS, default="local")
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the reports from the stored runs")
    ap.add_argument("--only", default=None, help="run only these ladder studies (comma-separated names; two "
                    "commands may run two of them at once, each folder has its lock)")
    ap.add_argument("--results-md", default=None, help="also regenerate the charlm section of this file")
    args = ap.parse_args(argv)
    out, t0 = Path(args.out), time.perf_counter()
    if not args.report_only:
        run = dict(jobs=args.jobs, executor=args.executor, scheduler=args.scheduler, progress=not args.no_progress)
        run_study(CHARLM_LR, out / CHARLM_LR.name, **run)
        lr = tuned_lr(out)
        if lr != recipes.config("charlm")["lr"]:
            print(f"charlm: the tuning picked lr {lr:g}, the recipe has {recipes.config('charlm')['lr']:g}; "
                  "set the recipe's lr (minidd/study/recipes.py) to the tuned one and rerun", file=sys.stderr)
            return 1
        names = [s.name for s in CHARLM] if args.only is None else args.only.split(",")
        unknown = sorted(set(names) - {s.name for s in CHARLM})
        if unknown:
            ap.error(f"--only: unknown studies {unknown}; choose from {[s.name for s in CHARLM]}")
        for study in CHARLM:
            if study.name in names:
                run_study(study, out / study.name, **run)
    for study in CHARLM:
        write_report(study, out / study.name)
    wall = None if args.report_only else time.perf_counter() - t0
    (out / "REPORT.md").write_text(report(out, wall), encoding="utf-8")
    if args.results_md:
        replace_section(args.results_md, LADDER.name, ladder_section(LADDER, out))
    every = [r for s in (CHARLM_LR,) + CHARLM for r in load(s, out / s.name)[1]]
    print(f"charlm: {len(every)} runs in {out}; report {out / 'REPORT.md'}")
    print(f"wall {time.perf_counter() - t0:.0f} s for this invocation; CPU {cpu_seconds(every):.0f} s in all the "
          "study's recorded runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
