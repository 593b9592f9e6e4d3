"""The masked-language-model study: deferred dropout against a tuned dense baseline and controls.

For every step budget:

1. **Tune dense**: a small grid of peak learning rates x warm-up fractions, dense, on a tuning
   seed that the comparison does not use; the lowest final validation MLM loss (a slice of the training e-mails) picks the budget's
   learning rate and warm-up, which every arm below then uses.
2. **Compare**, on seeds 0, 1, 2 (paired: a seed fixes initialisation, batch order and masking):
   dense; deferred dropout at 0.5 and 0.9; random-k at 0.9 (the same number of kept elements in
   the same layers, chosen at random: is it *which* elements DD keeps?); and dense with the
   learning rate of the weights DD sparsifies multiplied by 0.3 (is DD just a lower learning rate
   on those layers?).  ``STUDY["arms"]`` maps each arm to its policy spec and that multiplier.
3. **Flattening check**: dense at twice the longest budget (one seed, the tuned learning rate,
   warm-up stretched alike).  The report calls dense flattened at a budget when its held-out loss
   falls by less than the seed std of its final loss both over the budget's last 20% and when
   the budget is doubled (:func:`minidd.study.report.mlm_study_markdown`).

Every run records its held-out curve every ``budget // 20`` steps.  The stages run through
:func:`minidd.study.sweep.run_sweep` (its store, lock, run processes and local or Dask executors),
as arms (:class:`~minidd.study.sweep.Arm`) in ``<out>/tune``, ``<out>/compare`` and ``<out>/flat``.
``python -m minidd.study.mlm_study --out results/mlm_study --jobs 2`` runs what is missing
(resumable) and writes ``REPORT.md``
with the tuning grid, paired differences to dense and between arms, the flatness check and the
curves.  One budget of 2,000 steps, the grid and the number of arms are sized for this machine's
share of 2 cores (about 10 core-minutes in all); earlier studies at 400 and 1,500 steps found dense
stuck on the unigram plateau (held-out loss about 4.87) at 3e-2 and at 1e-2 with 2% warm-up, 1e-3
far behind 3e-3, and 2% against 10% warm-up at 3e-3 within 0.02, so the grid keeps 3e-3 and 1e-2
with 10% warm-up.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .sweep import EXECUTORS, Arm, SweepConfig, run_sweep

STUDY = {
    "budgets": [2000],
    "lrs": [3e-3, 1e-2],
    "warmup_fractions": [0.1],
    "tune_seed": 100,
    "seeds": [0, 1, 2],
    "arms": {"dense": ("dense", 1.0), "dd:0.9": ("deferred_dropout:0.9", 1.0),
             "random_k:0.9": ("random_k:0.9", 1.0), "dense, DD layers lr x0.3": ("dense", 0.3),
             "dd:0.5": ("deferred_dropout:0.5", 1.0)},
    "flat_factor": 2,
    "hp": {},   # overrides of the mlm recipe for every run (the tests shrink the model)
}
RUNNER = "minidd.study.measure:run_curves"   # the learning curve and final scores only


def _hp(budget, lr, warmup_steps, lr_scale=1.0, study=STUDY) -> dict:
    return {**study["hp"], "steps": budget, "lr": lr, "warmup_steps": warmup_steps,
            "encoder_lr_scale": lr_scale, "eval_every": max(1, budget // 20)}


def _arm(name, spec, hp, stage, budget, arm) -> tuple:
    return Arm(name, "mlm", spec, hp), {"stage": stage, "budget": budget, "arm": arm}


def tuning_arms(study=STUDY) -> list[tuple]:
    """``(Arm, tag)`` of every tuning run: dense at each learning rate and warm-up, longest budget first."""
    return [_arm(f"tune {b} lr={lr:g} wu={wu:g}", "dense", _hp(b, lr, int(round(b * wu)), study=study), "tune", b, "dense")
            for b in sorted(study["budgets"], reverse=True) for lr in study["lrs"] for wu in study["warmup_fractions"]]


def best_setting(runs, budget: int) -> dict:
    """The tuned ``hp`` of ``budget``: the tuning run with the lowest final validation loss."""
    tuned = [r for r in runs if r.ok and r.settings["study"] == {"stage": "tune", "budget": budget, "arm": "dense"}]
    if not tuned:
        raise RuntimeError(f"mlm study: no successful tuning run of budget {budget}")
    best = min(tuned, key=lambda r: r.metrics["val_loss"])   # the validation slice, never the test e-mails
    return {k: best.settings["hp"][k] for k in ("steps", "lr", "warmup_steps", "eval_every")}


def comparison_arms(runs, study=STUDY) -> list[tuple]:
    """Every arm of every budget with the budget's tuned learning rate and warm-up."""
    out = []
    for b in sorted(study["budgets"], reverse=True):   # longest runs first: the pool's last round is short
        best = best_setting(runs, b)
        out += [_arm(f"compare {b} {arm}", policy, _hp(b, best["lr"], best["warmup_steps"], scale, study), "compare", b, arm)
                for arm, (policy, scale) in study["arms"].items()]
    return out


def flat_arm(runs, study=STUDY) -> tuple:
    """Dense at ``flat_factor`` times the longest budget, its tuned learning rate and warm-up
    stretched alike: how much dense still gains from more steps."""
    b, f = max(study["budgets"]), study["flat_factor"]
    best = best_setting(runs, b)
    hp = {**_hp(f * b, best["lr"], f * best["warmup_steps"], study=study), "eval_every": best["eval_every"]}
    return _arm(f"flat {f * b} dense", "dense", hp, "flat", f * b, "dense")


def _stage(folder, arms, seeds, run_kw) -> list:
    """Run the arms (``(Arm, tag)``) x seeds through :func:`run_sweep`; the results carry their
    tag in ``settings["study"]`` (what the report reads)."""
    tags = {a.name: tag for a, tag in arms}
    config = SweepConfig.of_arms([a for a, _ in arms], seeds)
    return [replace(r, settings={**r.settings, "study": tags[r.settings.get("arm", r.spec)]})
            for r in run_sweep(config, folder, runner=RUNNER, **run_kw)]


def run_study(folder, jobs: int = 1, study=STUDY, executor: str = "local", scheduler=None,
              progress: bool = True) -> list:
    """Run every missing run of the study into ``folder`` (resumable); return all its results."""
    folder = Path(folder)
    kw = dict(jobs=jobs, executor=executor, scheduler=scheduler, progress=progress)
    tune = _stage(folder / "tune", tuning_arms(study), [study["tune_seed"]], kw)
    flat = _stage(folder / "flat", [flat_arm(tune, study)], study["seeds"][:1], kw)
    return tune + flat + _stage(folder / "compare", comparison_arms(tune, study), study["seeds"], kw)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/mlm_study")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--executor", choices=EXECUTORS, default="local")
    ap.add_argument("--scheduler", default=None)
    args = ap.parse_args(argv)
    runs = run_study(args.out, args.jobs, executor=args.executor, scheduler=args.scheduler)
    from .report import write_mlm_study
    write_mlm_study(runs, args.out, STUDY, command="python -m minidd.study.mlm_study " + " ".join(argv or sys.argv[1:]))
    print(f"{len(runs)} runs; report: {Path(args.out) / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
