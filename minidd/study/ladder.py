"""A budget ladder: one study run at several step budgets, with a convergence check fixed in advance.

A :class:`Ladder` is a list of :class:`~minidd.study.studies.Study` objects that differ only in
the training budget (their arms carry ``steps`` overrides); each runs in ``<folder>/<study.name>``.
Before any run, the ladder states when dense counts as converged at a budget: when the next
budget improves dense's *validation* score (the tuning split, never the test set) by less than
``converged_within``, mean over the paired seeds.  :func:`ladder_section` reads the stored runs
and gives, per budget, dense against the floor (the window an arm can fall through), the
convergence verdict and the headline table: per arm and budget the paired difference to dense,
R and the study's criterion verdict, then what those numbers support (:func:`conclusions`).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from .paired import paired
from .study_report import BEGIN, END, arm_rows, load


@dataclass(frozen=True)
class Ladder:
    """``studies`` ascending in ``budgets``; see the module docstring for ``converged_within``
    (in the unit of ``validation_metric``) and ``min_gap`` (the floor-to-dense gap, in the
    study metric's unit, that makes the task able to tell policies apart)."""
    name: str
    description: str
    studies: tuple
    budgets: tuple
    converged_within: float
    validation_metric: str
    min_gap: float

    def rule(self) -> str:
        return (f"dense counts as converged at a budget when the next budget improves its validation "
                f"`{self.validation_metric}` by less than {self.converged_within:g} (mean over the paired seeds); "
                f"the task tells policies apart when floor - dense >= {self.min_gap:g} at every budget")


def _scores(runs, arm: str, metric: str) -> dict:
    return {r.seed: r.metrics[metric] for r in runs if r.settings.get("arm", r.spec) == arm}


def _mean_std(values) -> str:
    values = list(values)
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def budget_rows(ladder: Ladder, folder) -> list[dict]:
    """Per budget: the study, its runs and arm rows, dense and floor scores (test metric) and
    dense's validation scores."""
    out = []
    for budget, study in zip(ladder.budgets, ladder.studies):
        tune, runs = load(study, Path(folder) / study.name)
        task = study.arms[0].task
        out.append({"budget": budget, "study": study, "rows": arm_rows(study, tune, runs, task) if runs else [],
                    "dense": _scores(runs, study.dense, study.metric), "floor": _scores(runs, study.floor, study.metric),
                    "dense_val": _scores(runs, study.dense, ladder.validation_metric)})
    return out


def window_table(ladder, budgets) -> list[str]:
    out = ["| budget (steps) | dense (mean ± std) | floor (mean ± std) | floor - dense, paired | "
           f"window >= {ladder.min_gap:g} |", "|---|---|---|---|---|"]
    for b in budgets:
        p = paired(b["floor"], b["dense"]) if b["dense"] and b["floor"] else None
        if p is None:
            out.append(f"| {b['budget']} | - | - | - | - |")
            continue
        out.append(f"| {b['budget']} | {_mean_std(b['dense'].values())} | {_mean_std(b['floor'].values())} | "
                   f"{p.mean:+.3f} ± {p.std:.3f} | {'yes' if min(p.diffs) >= ladder.min_gap else 'no'} |")
    return out


def convergence_table(ladder, budgets) -> list[str]:
    out = [f"| from | to | dense validation gain, paired (mean ± std) | converged at 'from' |", "|---|---|---|---|"]
    for lo, hi in zip(budgets, budgets[1:]):
        p = paired(lo["dense_val"], hi["dense_val"]) if lo["dense_val"] and hi["dense_val"] else None
        if p is None:
            out.append(f"| {lo['budget']} | {hi['budget']} | - | - |")
            continue
        gain = p.mean if not ladder.studies[0].higher_is_better else -p.mean
        out.append(f"| {lo['budget']} | {hi['budget']} | {gain:+.3f} ± {p.std:.3f} | "
                   f"{'yes' if gain < ladder.converged_within else 'no'} |")
    return out


def headline_table(budgets) -> list[str]:
    """Arm x budget: paired difference to dense ± std, R mean (min), verdict."""
    names = list(dict.fromkeys(row["arm"] for b in budgets for row in b["rows"]))
    out = ["| arm | " + " | ".join(f"{b['budget']} steps: diff vs dense ± std; R mean (min); verdict"
                                   for b in budgets) + " |", "|---|" + "---|" * len(budgets)]
    for name in names:
        cells = []
        for b in budgets:
            row = next((r for r in b["rows"] if r["arm"] == name), None)
            if row is None:
                cells.append("not run")
            elif row["paired"] is None:
                cells.append(f"{row['mean']:.3f} (the reference)")
            else:
                p, r = row["paired"], row["R"]
                rr = f"; R {statistics.fmean(r.values()):.3f} ({min(r.values()):.3f}); {row['verdict']}" if r else ""
                cells.append(f"{p.mean:+.3f} ± {p.std:.3f}{rr}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


def conclusions(ladder, budgets) -> list[str]:
    """What the stored numbers support, in words: the window, convergence, the verdicts per
    budget and whether they hold across budgets (derived from the tables, nothing typed in)."""
    out = []
    for b in budgets:
        p = paired(b["floor"], b["dense"]) if b["dense"] and b["floor"] else None
        if p:
            ok = "wide enough" if min(p.diffs) >= ladder.min_gap else "too narrow"
            out.append(f"- {b['budget']} steps: the floor is {p.mean:.3f} behind dense (smallest seed "
                       f"{min(p.diffs):.3f}): the window is {ok} to tell policies apart.")
    for lo, hi in zip(budgets, budgets[1:]):
        p = paired(lo["dense_val"], hi["dense_val"]) if lo["dense_val"] and hi["dense_val"] else None
        if p:
            gain = p.mean if not ladder.studies[0].higher_is_better else -p.mean
            state = ("has converged" if gain < ladder.converged_within else
                     "has not converged: comparisons at this budget are of under-trained models")
            out.append(f"- Dense at {lo['budget']} steps {state} (doubling the budget gains {gain:.3f} on validation).")
    verdicts = {}
    for b in budgets:
        for row in b["rows"]:
            if row["verdict"] in ("pass", "fail"):
                verdicts.setdefault(row["arm"], {})[b["budget"]] = row["verdict"]
        passed = [row["arm"] for row in b["rows"] if row["verdict"] == "pass"]
        judged = [row for row in b["rows"] if row["verdict"] in ("pass", "fail")]
        if judged:
            out.append(f"- {b['budget']} steps: {len(passed)} of {len(judged)} arms judged preserve quality"
                       + (f" ({', '.join(passed)})" if passed else "") + ".")
    both = {a: v for a, v in verdicts.items() if len(v) == len(budgets) > 1}
    if both:
        same = [a for a, v in both.items() if len(set(v.values())) == 1]
        moved = [a for a in both if a not in same]
        out.append(f"- Run at every budget: {', '.join(same) or 'none'} keep their verdict"
                   + (f"; {', '.join(moved)} change it with the budget" if moved else "") + ".")
    return out


def ladder_section(ladder: Ladder, folder) -> str:
    """The ladder's generated section (REPORT.md and ``docs/results.md``)."""
    budgets = budget_rows(ladder, folder)
    crit = ladder.studies[0].criterion.describe()
    lines = [BEGIN.format(name=ladder.name), f"## {ladder.name}", "", ladder.description + ".", "",
             f"Fixed before the run: {crit}; {ladder.rule()}. R = (floor - arm) / (floor - dense) per seed.", "",
             "### The window: dense against the floor", ""] + window_table(ladder, budgets)
    lines += ["", "### Convergence check", ""] + convergence_table(ladder, budgets)
    lines += ["", "### Headline: every arm at every budget", ""] + headline_table(budgets)
    lines += ["", "### What the numbers support", ""] + (conclusions(ladder, budgets) or ["- nothing yet: no runs stored"])
    return "\n".join(lines + ["", END.format(name=ladder.name)]) + "\n"
