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

Every run records its held-out curve every ``budget // 20`` steps.  ``python -m minidd.study.mlm_study
--out results/mlm_study --jobs 2`` runs what is missing (resumable) and writes ``REPORT.md``
with the tuning grid, paired differences to dense and between arms, the flatness check and the
curves.  One budget of 2,000 steps, the grid and the number of arms are sized for this machine's
share of 2 cores (about 10 core-minutes in all); earlier studies at 400 and 1,500 steps found dense
stuck on the unigram plateau (held-out loss about 4.87) at 3e-2 and at 1e-2 with 2% warm-up, 1e-3
far behind 3e-3, and 2% against 10% warm-up at 3e-3 within 0.02, so the grid keeps 3e-3 and 1e-2
with 10% warm-up.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import os
import sys
from dataclasses import replace
from pathlib import Path

from .. import stash
from . import recipes
from ..atomic import append_line, atomic_write
from .measure import run
from .results import RunResult

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
_BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _hp(budget, lr, warmup_fraction, lr_scale=1.0, study=STUDY) -> dict:
    return {**study["hp"], "steps": budget, "lr": lr, "warmup_steps": int(round(budget * warmup_fraction)),
            "encoder_lr_scale": lr_scale, "eval_every": max(1, budget // 20)}


def tuning_runs(budget: int, study=STUDY) -> list[dict]:
    return [{"key": f"tune|{budget}|lr={lr:g}|wu={wu:g}", "stage": "tune", "budget": budget, "arm": "dense",
             "policy": "dense", "seed": study["tune_seed"], "hp": _hp(budget, lr, wu, study=study)}
            for lr in study["lrs"] for wu in study["warmup_fractions"]]


def best_setting(runs: list[dict], budget: int) -> dict:
    """The tuned ``hp`` of ``budget``: the tuning run with the lowest final validation loss."""
    tuned = [r for r in runs if r.settings["study"]["stage"] == "tune"
             and r.settings["study"]["budget"] == budget and r.ok]
    if not tuned:
        raise RuntimeError(f"mlm study: no successful tuning run of budget {budget}")
    best = min(tuned, key=lambda r: r.metrics["val_loss"])   # the validation slice, never the test e-mails
    return {k: best.settings["hp"][k] for k in ("steps", "lr", "warmup_steps", "eval_every")}


def comparison_runs(runs: list[dict], budget: int, study=STUDY) -> list[dict]:
    best = best_setting(runs, budget)
    return [{"key": f"compare|{budget}|{arm}|{s}", "stage": "compare", "budget": budget, "arm": arm,
             "policy": policy, "seed": s, "hp": {**study["hp"], **best, "encoder_lr_scale": scale}}
            for arm, (policy, scale) in study["arms"].items() for s in study["seeds"]]


def flat_run(runs: list[dict], study=STUDY) -> dict:
    """Dense at ``flat_factor`` times the longest budget, its tuned learning rate and warm-up
    stretched alike: how much dense still gains from more steps."""
    b, f = max(study["budgets"]), study["flat_factor"]
    best = best_setting(runs, b)
    return {"key": f"flat|{f * b}|dense|{study['seeds'][0]}", "stage": "flat", "budget": f * b, "arm": "dense",
            "policy": "dense", "seed": study["seeds"][0],
            "hp": {**study["hp"], "steps": f * b, "lr": best["lr"], "warmup_steps": f * best["warmup_steps"],
                   "encoder_lr_scale": 1.0, "eval_every": best["eval_every"]}}


def _one(spec: dict) -> RunResult:
    """Run one study run; a diverged run (NaN loss) is a failed result, not a crash."""
    study = {k: spec[k] for k in ("stage", "budget", "arm")}
    try:
        r = run("mlm", spec["policy"], spec["seed"], hp=spec["hp"], measure_run=False)
    except FloatingPointError as e:
        policy = stash.as_policy(spec["policy"])
        return RunResult.failed(spec["key"], "mlm", policy.config(), stash.format_spec(policy), spec["seed"],
                                f"{type(e).__name__}: {e}",
                                settings={"hp": recipes.config("mlm", **spec["hp"]), "study": study})
    return replace(r, key=spec["key"], settings={**r.settings, "study": study})


def load(folder) -> list[RunResult]:
    """The finished runs in ``folder`` (a torn last line is ignored; a key is kept once)."""
    path = Path(folder) / "runs.jsonl"
    if not path.exists():
        return []
    raw = path.read_bytes()
    runs = {}
    for n, line in enumerate(raw[:raw.rfind(b"\n") + 1].decode().splitlines(), 1):
        if line.strip():
            r = RunResult.from_json(line, f"{path}, line {n}")
            runs.setdefault(r.key, r)
    return list(runs.values())


def _execute(folder, specs, jobs, log):
    done = {r.key for r in load(folder)}
    todo = [s for s in specs if s["key"] not in done]

    def finished(r):
        append_line(Path(folder) / "runs.jsonl", r.to_json())
        log(f"{r.key}: {r.status} " + (f"loss {r.metrics['test_loss']:.4f} ({r.timings['total_seconds']:.0f} s)"
                                       if r.ok else r.error))

    if jobs == 1:   # in this process (BLAS threads as the caller set them)
        for s in todo:
            finished(_one(s))
        return
    for var in _BLAS:
        os.environ[var] = "1"
    with cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for fut in cf.as_completed([pool.submit(_one, s) for s in todo]):
            finished(fut.result())


def run_study(folder, jobs: int = 1, study=STUDY, log=print) -> list[dict]:
    """Run every missing run of the study into ``folder`` (resumable); return all runs."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / "config.json"
    want = {"study": study, "mlm": recipes.config("mlm", **study["hp"])}
    want = json.loads(json.dumps(want))
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != want:
        raise ValueError(f"{folder} holds another study configuration; choose another folder")
    atomic_write(cfg_path, json.dumps(want, indent=2))
    tune = [t for b in sorted(study["budgets"], reverse=True) for t in tuning_runs(b, study)]
    _execute(folder, tune, jobs, log)
    runs = load(folder)
    # longest runs first: the pool's last round is then short
    todo = [flat_run(runs, study)] + [c for b in sorted(study["budgets"], reverse=True)
                                      for c in comparison_runs(runs, b, study)]
    _execute(folder, todo, jobs, log)
    return load(folder)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results/mlm_study")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    runs = run_study(args.out, args.jobs)
    from .report import write_mlm_study
    write_mlm_study(runs, args.out, STUDY, command="python -m minidd.study.mlm_study " + " ".join(argv or sys.argv[1:]))
    print(f"{len(runs)} runs; report: {Path(args.out) / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
