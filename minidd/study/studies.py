"""Studies: arms x paired seeds, a tuning stage on a validation split, one resumable command.

A :class:`Study` is a list of arms (:class:`~minidd.study.sweep.Arm`: a task under a policy spec
with recipe overrides) run on paired seeds, plus, per task, a :class:`Tuning` grid of the
regularisers a practitioner would tune for dense (weight decay, dropout), scored on a validation
split carved from the training set (never on the test set) with seeds the comparison does not
use.  :func:`run_study` runs both stages through :func:`~minidd.study.sweep.run_sweep` (its store,
lock and local or Dask executors) in ``<out>/tune`` and ``<out>/runs``: the tuning winners become
the arms ``dense+<family> (tuned)`` of the second stage.  Rerunning the command resumes.

The grid and the criterion of each study are written here, before its runs::

    python -m minidd.study.studies mnist1d --out results/mnist1d --jobs 2
    python -m minidd.study.studies mnist1d --out results/mnist1d --executor dask --scheduler tcp://host:8786

Each prints the wall and CPU time and writes ``REPORT.md`` (:mod:`minidd.study.study_report`);
``--report-only --results-md docs/results.md`` rewrites the report and the study's section of the
results page from the stored runs alone.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .paired import Criterion
from .sweep import DEFAULT_RUNNER, EXECUTORS, Arm, SweepConfig, SweepLocked, run_sweep


@dataclass(frozen=True)
class Tuning:
    """Per task: ``grid`` maps a regulariser family to the hyperparameter values tried, each
    alone on top of the recipe; runs train on all but ``validation`` training examples, are
    scored on those, with ``seeds``; the best mean validation score of a family wins."""
    grid: dict
    seeds: tuple
    validation: int = 500


@dataclass(frozen=True)
class Study:
    """A study definition (see the module docstring).  ``published`` maps a task to the
    published dense score (in ``metric`` units) the report sets dense against."""
    name: str
    description: str
    arms: tuple
    seeds: tuple
    tuning: dict = field(default_factory=dict)
    criterion: Criterion = Criterion()
    metric: str = "test_accuracy"
    higher_is_better: bool = True
    dense: str = "dense"
    floor: str = "floor"
    published: dict = field(default_factory=dict)
    runner: str = DEFAULT_RUNNER
    hp: dict = field(default_factory=dict)   #: overrides for every run (tests shrink the budget)
    percent: bool = True   #: the metric is a fraction shown in % (differences in points); else as it is
    notes: tuple = ()      #: sentences the report prints under the tables

    def _arm(self, name, task, spec, hp, floor="") -> Arm:
        return Arm(name, task, spec, {**self.hp, **hp}, floor)

    def tune_config(self) -> SweepConfig | None:
        """The tuning stage as a sweep (None without tuning)."""
        arms = [self._arm(_tune_name(fam, value), task, "dense", {fam: value, "validation": t.validation})
                for task, t in self.tuning.items() for fam, values in t.grid.items() for value in values]
        if not arms:
            return None
        seeds = sorted({s for t in self.tuning.values() for s in t.seeds})
        return SweepConfig.of_arms(arms, seeds)

    def tuned_arms(self, tune_runs) -> list[Arm]:
        """The ``dense+<family> (tuned)`` arms the tuning results pick (best mean validation
        score per task and family; ties go to the first value in the grid)."""
        scores = {}
        for r in tune_runs:
            if r.ok and r.seed in self.tuning[r.task].seeds:
                scores.setdefault(r.settings["arm"], {}).setdefault(r.task, []).append(r.metrics[self.metric])
        sign = 1 if self.higher_is_better else -1
        arms = []
        for task, t in self.tuning.items():
            for fam, values in t.grid.items():
                done = [(v, statistics.fmean(scores[_tune_name(fam, v)][task])) for v in values
                        if len(scores.get(_tune_name(fam, v), {}).get(task, [])) == len(t.seeds)]
                if len(done) < len(values):
                    continue  # tuning incomplete: the arm is added when every value has run
                best = max(done, key=lambda vs: sign * vs[1])[0]
                arms.append(self._arm(f"dense+{fam} (tuned)", task, "dense", {fam: best}, self.floor))
        return arms

    def main_config(self, tune_runs=()) -> SweepConfig:
        arms = [self._arm(a.name, a.task, a.spec, a.hp, a.floor) for a in self.arms]
        controls = [a for a in arms if a.spec == "dense"]   # controls and the tuned dense arms run first
        return SweepConfig.of_arms(controls + self.tuned_arms(tune_runs) + [a for a in arms if a.spec != "dense"],
                                   self.seeds)


def _tune_name(family: str, value) -> str:
    return f"tune {family}={value:g}"


def run_study(study: Study, folder, jobs: int = 1, executor: str = "local", scheduler=None,
              progress: bool = True, max_runs: int | None = None) -> dict:
    """Run what is missing of ``study`` in ``folder`` (tuning, then the arms); returns
    ``{"tune": [...], "runs": [...]}`` (run results)."""
    folder = Path(folder)
    common = dict(jobs=jobs, executor=executor, scheduler=scheduler, progress=progress, runner=study.runner)
    tune = []
    config = study.tune_config()
    if config is not None:
        tune = run_sweep(config, folder / "tune", max_runs=max_runs, **common)
    runs = run_sweep(study.main_config(tune), folder / "runs", max_runs=max_runs, **common)
    return {"tune": tune, "runs": runs}


def cpu_seconds(results) -> float:
    """The CPU time the runs took (their processes' own figures)."""
    return sum(r.timings.get("cpu_seconds", 0.0) for r in results)


# ------------------------------------------------------------------ the MNIST-1D study
MNIST1D_TASKS = ("mnist1d_mlp", "mnist1d_cnn")


def _dd(drop, structure="element", **opts) -> str:
    extra = "".join(f",{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in opts.items())
    return f"deferred_dropout:{drop:g}" + ("" if structure == "element" else f",structure={structure}") + extra


def _controls(task) -> list[Arm]:
    return [Arm("dense", task, "dense"),
            Arm("floor", task, "dense", {"freeze": "touched"}),
            Arm("floor drop->1 (weights frozen, biases train)", task, "dense", {"freeze": "touched_weights"},
                floor="floor"),
            Arm("floor all layers", task, "dense", {"freeze": "all"})]


def _element(task, d, all_layers=False) -> Arm:
    if all_layers:
        return Arm(f"dd element {d:g}, all layers", task, _dd(d, keep_marked_dense=False), floor="floor all layers")
    return Arm(f"dd element {d:g}", task, _dd(d), floor="floor")


def _structured(task, label, d, structure, **opts) -> Arm:
    return Arm(f"dd {label} {d:g}", task, _dd(d, structure, **opts), floor="floor")


def _random_k(task, d) -> list[Arm]:
    return [Arm(f"random_k {d:g}", task, f"random_k:{d:g}", floor="floor"),
            Arm(f"random_k {d:g} rescaled", task, f"random_k:{d:g},rescale", floor="floor")]


# The grid, fixed before the policy arms ran, in the order the runs go (a study cut short keeps
# the first).  A run of the MLP costs ~6 CPU s, of the CNN ~18 CPU s; on a machine shared with
# other work (load average 9-13 while this study ran, nice 5) a CPU second took ~5 s of wall
# time, so the first grid (the full ladder for every structure) was cut to this one at 04:50 UTC,
# after the tuning and the MLP's controls had run and before any policy arm had: the element
# ladder on both models (the full ladder on the MLP, 0.5 / 0.9 / 0.99 / 0.999 on the CNN), the
# structures at 0.9 (row, block32, block128, N:M 2:4 at its fixed 0.5) and at 0.99 on the MLP,
# random-k plain and rescaled at 0.9, keep_marked_dense=false at 0.9.  At 05:13 UTC (load 17),
# after the controls and the tuned arms, the MLP's arms were moved before the CNN's policy arms
# (same arms, another order), so that one model's comparison completes.
# Row = one sample of the MLP batch (100 rows), one position of a CNN input (100 x 19 or 100 x 10
# rows); block = 32 or 128 consecutive rows within a feature column: on the MLP a block of 128
# covers a whole column (the batch has 100 rows), so block-128 there selects whole features; on
# the CNN both sizes are smaller than the columns they group.
_M, _C = "mnist1d_mlp", "mnist1d_cnn"
_ARMS = (_controls(_M) + _controls(_C)
         + [_element(_M, d) for d in (0.9, 0.99, 0.999)]
         + _random_k(_M, 0.9)
         + [_structured(_M, "row", 0.9, "row"), _structured(_M, "block32", 0.9, "block", block=32),
            _structured(_M, "block128 (whole column)", 0.9, "block", block=128),
            _structured(_M, "nm 2:4", 0.5, "nm")]
         + [_element(_C, 0.9)] + [_element(_M, d) for d in (0.5, 0.75, 0.95)]
         + [_element(_C, d) for d in (0.99, 0.999)] + [_element(_C, 0.5)]
         + [_structured(_C, "row", 0.9, "row"), _structured(_C, "block128", 0.9, "block", block=128)]
         + [_element(_M, 0.9, all_layers=True), _structured(_M, "row", 0.99, "row"),
            _structured(_M, "block32", 0.99, "block", block=32), _structured(_M, "nm 1:10", 0.9, "nm", n=1, m=10)]
         + _random_k(_C, 0.9) + [_element(_C, 0.9, all_layers=True), _structured(_C, "block32", 0.9, "block", block=32),
                                  _structured(_C, "nm 2:4", 0.5, "nm")])

MNIST1D = Study(
    name="mnist1d",
    description=("MNIST-1D (Greydanus and Kobak): the reference MLP and CNN, Adam 1e-2, batch 100, "
                 "8,000 steps, 4,000 training / 1,000 test signals; 5 paired seeds"),
    arms=tuple(_ARMS),
    seeds=(0, 1, 2, 3, 4),
    tuning={"mnist1d_mlp": Tuning({"weight_decay": (0.01, 0.1, 0.5), "dropout": (0.1, 0.3)}, (100, 101)),
            "mnist1d_cnn": Tuning({"weight_decay": (0.01, 0.1, 0.5), "dropout": (0.1, 0.3)}, (100, 101))},
    criterion=Criterion(threshold=0.95, min_seeds=5),
    published={"mnist1d_mlp": 0.68, "mnist1d_cnn": 0.94},
    notes=("Rows: on the MLP a row is one sample of the batch of 100 (the second layer's input is "
           "100 x 100); on the CNN one position of a sample (conv2 reads 100 x 19 positions of 25 "
           "channels, conv3 100 x 10).",
           "Blocks group consecutive rows within one feature column: block32 is smaller than every "
           "column it groups; block128 covers a whole column on the MLP (100 rows), so there it keeps "
           "or drops whole features, while on the CNN (1,900 and 1,000 rows) it is a true block.",
           "N:M keeps the n largest of every m consecutive rows of a column; its drop rate is 1 - n/m.",
           "The grid was cut at 04:50 UTC, before any policy arm ran, from a first grid (the full drop "
           "ladder for every structure; its configuration is kept as runs/config.first-grid.json) when "
           "the shared machine ran at load 9-13; at 05:13 UTC, after the controls and the tuned arms, "
           "the MLP's policy arms were moved before the CNN's (same arms, another order). Arms with "
           "fewer than 5 seeds did not finish before the deadline (criterion: n/a)."),
)


# ------------------------------------------------------------------ the character-LM study
# The budget ladder, fixed before the run and sized to the machine (benchmarks/bench_charlm.py: a
# step costs 41 ms dense, 34 ms floor, 50-59 ms deferred dropout and random-k, CPU time; the 2
# cores are shared, so the most telling arms run first and a study cut short keeps them): at
# 1,000 steps dense, the floor, then deferred dropout element 0.9, random-k 0.9 unscaled and
# rescaled, element 0.99 and 0.5, row and block-128 at 0.9, element 0.75 and 0.95 (the first grid
# also had the floor of every layer and keep_marked_dense=false at 0.9; at load 14 on the 2 cores
# they were cut after dense and the floor had run, before any policy arm: its config is kept as
# docs/results/charlm/charlm_1000/runs/config.first-grid.json); at 2,000 steps dense, the floor and
# element 0.9 (the ladder's second rung).  3 paired seeds.  Row = one position of one window
# (2,048 rows per batch); block-128 = 128 consecutive positions within a feature column (smaller
# than the column it groups).  The learning rate (recipe: 1e-2) is the winner of CHARLM_LR (dense,
# seed 100, validation bits/char on a slice of the training e-mails), which
# tests/study/test_charlm_study.py checks against its stored runs.  What "preserves quality"
# means and when dense counts as converged: minidd.study.charlm_study.LADDER.
CHARLM_BUDGETS = (1000, 2000)
CHARLM_LRS = (3e-3, 1e-2, 3e-2)
CURVES_RUNNER = "minidd.study.measure:run_curves"


def _budget(steps: int) -> dict:
    return {"steps": steps, "warmup_steps": steps // 10, "eval_every": steps // 10}


def _charlm_arms(full: bool) -> list[Arm]:
    dense, floor = _controls("charlm")[:2]
    if not full:
        return [dense, floor, _element("charlm", 0.9)]
    return ([dense, floor, _element("charlm", 0.9)] + _random_k("charlm", 0.9)
            + [_element("charlm", d) for d in (0.99, 0.5)]
            + [_structured("charlm", "row", 0.9, "row"),
               _structured("charlm", "block128", 0.9, "block", block=128)]
            + [_element("charlm", d) for d in (0.75, 0.95)])


CHARLM = tuple(Study(
    name=f"charlm_{steps}",
    description=(f"causal character LM (recipe `charlm`: 2 pre-LN blocks, d=64, untied head; 84% of its weights "
                 f"in the layers deferred dropout touches) on the e-mail bodies, batch 32 x 64 symbols, AdamW "
                 f"1e-2, {steps:,} steps; test bits/char (lower is better); 3 paired seeds"),
    arms=tuple(_charlm_arms(full=steps == CHARLM_BUDGETS[0])), seeds=(0, 1, 2),
    criterion=Criterion(threshold=0.95, min_seeds=3), metric="test_bits_per_char", higher_is_better=False,
    runner=CURVES_RUNNER, hp=_budget(steps), percent=False)
    for steps in CHARLM_BUDGETS)

CHARLM_LR = Study(
    name="charlm_lr", description=("the character LM's learning rate: dense at 1,000 steps, seed 100, scored on "
                                   "the validation slice of the training e-mails (never the test e-mails)"),
    arms=tuple(Arm(f"dense lr={lr:g}", "charlm", "dense", {"lr": lr}) for lr in CHARLM_LRS), seeds=(100,),
    metric="val_bits_per_char", higher_is_better=False, runner=CURVES_RUNNER, hp=_budget(CHARLM_BUDGETS[0]),
    percent=False)

STUDIES = {s.name: s for s in (MNIST1D, CHARLM_LR) + CHARLM}


def main(argv=None) -> int:
    """``python -m minidd.study.studies <study> --out DIR [--jobs N | --executor dask --scheduler ADDR]``."""
    ap = argparse.ArgumentParser(prog="python -m minidd.study.studies", description=__doc__.split("\n")[0])
    ap.add_argument("study", choices=sorted(STUDIES))
    ap.add_argument("--out", required=True, help="the study's folder (resumable)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--executor", choices=EXECUTORS, default="local")
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--max-runs", type=int, default=None)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="run nothing: write REPORT.md from the stored runs")
    ap.add_argument("--results-md", default=None, help="also regenerate this study's section of this file "
                    "(docs/results.md)")
    args = ap.parse_args(argv)
    from .study_report import update_results_md, write_report
    study = STUDIES[args.study]
    if args.report_only:
        print(write_report(study, args.out))
        if args.results_md:
            update_results_md(study, args.out, args.results_md)
            print(args.results_md)
        return 0
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        results = run_study(study, args.out, args.jobs, args.executor, args.scheduler, not args.no_progress,
                            args.max_runs)
    except SweepLocked as e:          # another study holds the folder: the main job's status 3
        print(f"{ap.prog}: {e}", file=sys.stderr)
        return 3
    except (TypeError, ValueError) as e:   # a bad option or folder, named by the message: status 2
        print(f"{ap.prog}: error: {e}", file=sys.stderr)
        return 2
    path = write_report(study, args.out)
    if args.results_md:
        update_results_md(study, args.out, args.results_md)
    every = results["tune"] + results["runs"]
    failed = sum(not r.ok for r in every)
    print(f"{study.name}: {len(every)} runs ({failed} failed) in {args.out}; report {path}")
    print(f"wall {time.perf_counter() - t0:.0f} s for this invocation; CPU {cpu_seconds(every):.0f} s in "
          f"all the study's recorded runs (+ {time.process_time() - c0:.0f} s in this process)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
