"""A sweep's report: ``summary.csv``, ``REPORT.md`` and (with matplotlib) figures.

The report reads run results (:class:`minidd.study.results.RunResult`) through their attributes:
``task``, ``policy`` (the policy's config dict), ``spec`` (its canonical label), ``seed``,
``status``, ``error``, ``settings``, ``metrics``, ``fidelity``, ``stash``, ``hardware``,
``timings`` and ``curves``.  Labels come from ``spec`` and drop rates from the config, never from
parsing label text.  Failed runs are listed, and left out of the tables.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from ..atomic import atomic_write

SUMMARY_FIELDS = ["task", "policy", "drop", "seeds", "accuracy_mean", "accuracy_std", "loss_mean", "loss_std",
                  "loss_vs_dense_mean", "loss_vs_dense_std", "stash_bytes", "stash_reduction",
                  "wgi_reduction", "min_cosine", "mean_cosine", "step_overhead",
                  "hw_stash_reduction", "hw_footprint_reduction", "hw_speedup_same_batch",
                  "hw_speedup_own_batch"]
#: The MLM study's longest budget: shorter MLM runs cannot tell policies apart (docs/results.md, MLM study).
MLM_MIN_STEPS = 1500


def _drop(policy: dict) -> float:
    """The drop rate a policy config describes: 0 for lossless policies."""
    return float(policy.get("drop", 0.0))


def _order(row) -> tuple:
    lossless = {"dense": 0, "zero_value": 1}
    return row["task"], lossless.get(row["policy_name"], 2), row["drop"], row["policy"]


def _sd(xs) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def summarize(runs) -> list[dict]:
    """One row per (task, policy): means over seeds of the successful runs.

    ``loss_vs_dense`` is the mean and standard deviation over seeds of the paired difference
    (same seed) to ``dense``'s test loss (NaN without a dense run of that seed).
    """
    ok = [r for r in runs if r.status == "ok"]
    dense_loss = {(r.task, r.seed): r.metrics["test_loss"] for r in ok if r.policy["policy"] == "dense"}
    groups: dict[tuple, list] = {}
    for r in ok:
        groups.setdefault((r.task, r.spec), []).append(r)
    rows = []
    for (task, spec), rs in groups.items():
        mean = statistics.fmean
        acc = [r.metrics["test_accuracy"] for r in rs]
        loss = [r.metrics["test_loss"] for r in rs]
        paired = [r.metrics["test_loss"] - dense_loss[task, r.seed] for r in rs if (task, r.seed) in dense_loss]
        row = {"task": task, "policy": spec, "policy_name": rs[0].policy["policy"], "drop": _drop(rs[0].policy),
               "seeds": len(rs), "accuracy_mean": mean(acc), "accuracy_std": _sd(acc),
               "loss_mean": mean(loss), "loss_std": _sd(loss),
               "loss_vs_dense_mean": mean(paired) if paired else math.nan,
               "loss_vs_dense_std": _sd(paired) if paired else math.nan}
        measured = [r for r in rs if r.stash]
        if measured:
            wgi = [r.stash["by_role"].get("weight_grad_input", {}) for r in measured]
            dropped = [f["cosine"] for r in measured for f in r.fidelity if f["rel_error"] > 0]
            row.update({
                "stash_bytes": mean(r.stash["stash_bytes"] for r in measured),
                "stash_reduction": mean(r.stash["stash_dense_bytes"] / r.stash["stash_bytes"] for r in measured),
                "wgi_reduction": mean(w["dense_nbytes"] / w["nbytes"] for w in wgi) if all(wgi) else math.nan,
                "min_cosine": min(dropped) if dropped else 1.0,
                "mean_cosine": mean(dropped) if dropped else 1.0,
                "step_overhead": statistics.median(r.timings["step_overhead"] for r in measured),
                "hw_stash_reduction": mean(r.hardware["stash_reduction"] for r in measured),
                "hw_footprint_reduction": mean(r.hardware["footprint_reduction"] for r in measured),
                "hw_speedup_same_batch": mean(r.hardware["speedup_same_batch"] for r in measured),
                "hw_speedup_own_batch": mean(r.hardware["speedup_own_batch"] for r in measured),
            })
        rows.append(row)
    rows.sort(key=_order)
    return rows


def summary_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, SUMMARY_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return out.getvalue()


def _pct(x):
    return f"{100 * x:.2f}"


def _failed_section(runs) -> list[str]:
    failed = [r for r in runs if r.status != "ok"]
    if not failed:
        return []
    lines = ["## Failed runs", "", f"{len(failed)} run(s) failed and are left out of every table below "
             "(rerunning the same command retries them).", "",
             "| task | policy | seed | error |", "|---|---|---|---|"]
    for r in sorted(failed, key=lambda r: (r.task, r.spec, r.seed)):
        first = (r.error or "").strip().splitlines()
        lines.append(f"| {r.task} | {r.spec} | {r.seed} | {(first[-1] if first else '?').replace('|', '/')} |")
    return lines + [""]


def _time_section(runs) -> list[str]:
    per_task: dict[str, list] = {}
    for r in runs:
        per_task.setdefault(r.task, []).append(r.timings.get("total_seconds", math.nan))
    lines = ["## Time per task", "",
             "Wall time of the runs (training and measurements), summed per task, as measured in this "
             "sweep's worker processes (single-threaded BLAS; other processes on the machine slow it "
             "down, so read it as an upper bound when the machine was shared).", "",
             "| task | runs | total (min) | per run (s, mean) |", "|---|---|---|---|"]
    for task in sorted(per_task):
        ts = per_task[task]
        lines.append(f"| {task} | {len(ts)} | {sum(ts) / 60:.1f} | {statistics.fmean(ts):.0f} |")
    return lines + [""]


def _mlm_note(runs) -> list[str]:
    steps = {r.settings.get("hp", {}).get("steps") for r in runs if r.task == "mlm"}
    short = sorted(s for s in steps if s is not None and s < MLM_MIN_STEPS)
    if not short:
        return []
    return [f"**The `mlm` runs here train only {', '.join(map(str, short))} step(s): at that budget the "
            "held-out MLM loss is still falling fast and its differences between policies are not "
            "evidence for or against any policy** (the learning rate decides them). The masked-LM "
            "study (`python -m minidd.study.mlm_study`, docs/results.md) compares policies at longer budgets against "
            "a tuned dense baseline and two controls, paired over seeds.", ""]


def report_markdown(runs, rows: list[dict], config: dict, paper_table: str, figures: list[str],
                    figure_note: str, command: str, hardware_scenarios: str | None = None) -> str:
    """REPORT.md's text for a sweep's ``runs`` and their summary ``rows``."""
    lines = ["# minidd: zero-value baseline against deferred dropout", "",
             f"Produced by `{command}`. Configuration (config.json): tasks {', '.join(config['models'])}; "
             f"policies {', '.join(map(str, config['policies']))}; seeds {config['seeds']}; epochs "
             f"{config['epochs'] or 'recipe defaults'}; training subset {config['train_limit'] or 'none'}.", ""]
    lines += _failed_section(runs)
    lines += ["## Accuracy against drop rate", "",
              "Test accuracy (%) and test loss at the end of training, mean ± std over seeds (for "
              "`mlm`: masked-token accuracy and held-out MLM loss). Differences to dense are paired "
              "(same seed), mean ± std over seeds. `dense` and `zero_value` are both lossless and runs "
              "are deterministic, so they agree exactly; the cosine column compares each dropped "
              "layer's weight gradient with the dense one on a probe batch.", ""]
    lines += _mlm_note(runs)
    lines += ["| task | policy | seeds | accuracy | test loss | loss vs dense (paired) | weight-grad cosine (min / mean) |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        paired = ("" if math.isnan(r["loss_vs_dense_mean"])
                  else f"{r['loss_vs_dense_mean']:+.4f} ± {r['loss_vs_dense_std']:.4f}")
        cos = f"{r['min_cosine']:.3f} / {r['mean_cosine']:.3f}" if "min_cosine" in r else "n/a"
        lines.append(f"| {r['task']} | {r['policy']} | {r['seeds']} | {_pct(r['accuracy_mean'])} ± "
                     f"{_pct(r['accuracy_std'])} | {r['loss_mean']:.4f} ± {r['loss_std']:.4f} | {paired} | {cos} |")
    measured = [r for r in rows if "stash_bytes" in r]
    lines += ["", "## Measured stash footprint", "",
              "Bytes the stash holds at the forward/backward boundary for one training batch, "
              "measured by the ledger (which matches `tracemalloc` within 5%). Reduction is "
              "against what `Dense` would hold for the same batch; the weight-gradient-input "
              "column is the part deferred dropout acts on. Step overhead: a forward + backward "
              "step under the policy against one under `Dense`, timed in the same process in "
              "interleaved rounds (median of the per-round ratios, median over seeds; `dense` is "
              "0 by construction). It is a rough figure taken while other runs share the cores; "
              "`benchmarks/bench_stash.py` measures the stash cost carefully.", "",
              "| task | policy | stash MB | reduction | weight-grad-input reduction | step overhead |",
              "|---|---|---|---|---|---|"]
    for r in measured:
        lines.append(f"| {r['task']} | {r['policy']} | {r['stash_bytes'] / 1e6:.2f} | "
                     f"{r['stash_reduction']:.2f}x | {r['wgi_reduction']:.2f}x | {r['step_overhead']:+.1%} |")
    lines += _hardware_sections(measured, hardware_scenarios)
    lines += ["", "## Paper-scale models (hardware model) beside the paper's figures", "", paper_table, ""]
    lines += _time_section(runs)
    lines += ["## Figures", ""]
    lines += [f"![{Path(f).stem}]({Path(f).name})" for f in figures] or [figure_note]
    return "\n".join(lines) + "\n"


def _hardware_sections(measured: list[dict], hardware_scenarios: str | None) -> list[str]:
    """The hardware model's view of each measured run, and the scenarios when given."""
    lines = ["", "## Hardware model on these models' traces", "",
              "Each trained model's trace (shapes, measured natural sparsity) on the TPUv3-core "
              "model, at the training batch, against the zero-value baseline "
              "(`hardware/README.md` says what is modelled).", "",
              "| task | policy | stash reduction | footprint reduction | speedup, same batch | speedup, own batch |",
              "|---|---|---|---|---|---|"]
    for r in measured:
        lines.append(f"| {r['task']} | {r['policy']} | {r['hw_stash_reduction']:.2f}x | "
                     f"{r['hw_footprint_reduction']:.3f}x | {r['hw_speedup_same_batch']:.3f}x | "
                     f"{r['hw_speedup_own_batch']:.3f}x |")
    if hardware_scenarios:
        lines += ["", "## Hardware scenarios on these models' traces", "",
                  "Each deferred-dropout variant trained here, modelled on its task's trace (the dense "
                  "run's) in the scenarios of `python -m hardware reproduce`: (a) each policy at its own "
                  "largest batch, (b) a fixed batch at which the zero-value baseline must fall back to "
                  "its cheapest way to fit, (c) host offload, (d) the co-designed array that skips "
                  "all-zero streamed vectors, by selection structure, (e) combinations; beside each "
                  "variant's measured accuracy (mean over seeds), the trade-off a designer chooses. "
                  "Small models fold into few 128-wide passes, so structure buys less here than at "
                  "paper scale.", "", hardware_scenarios]
    return lines


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


FIGURE_NOTE = ("Figures need matplotlib, an optional extra: `pip install \".[figures]\"`, then rerun "
               "the same command (finished runs are not repeated).")

NO_FIGURE_NOTE = "No figures: no run finished, so there is nothing to plot."


def _save(fig, path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write(path, buf.getvalue())
    return str(path)


def write_figures(rows: list[dict], runs, folder) -> tuple[list[str], str]:
    """Accuracy, loss and stash reduction against drop rate (one line per task), and the held-out
    MLM curves when the sweep has ``mlm`` runs (PNG); a figure with nothing to plot is not written."""
    plt = _pyplot()
    if plt is None:
        return [], FIGURE_NOTE
    paths = []
    for metric, label, fname in (("accuracy_mean", "test accuracy", "accuracy_vs_drop.png"),
                                 ("loss_mean", "test loss (mlm: held-out MLM loss)", "loss_vs_drop.png"),
                                 ("stash_reduction", "stash reduction vs Dense (x)", "footprint_vs_drop.png")):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for task in sorted({r["task"] for r in rows}):
            mine = [r for r in rows if r["task"] == task and metric in r]
            pts = sorted((r["drop"], r[metric]) for r in mine if r["policy_name"] in ("dense", "deferred_dropout"))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=task)
            zv = [r[metric] for r in mine if r["policy_name"] == "zero_value"]
            if zv:
                ax.axhline(zv[0], ls=":", lw=0.8, color=ax.lines[-1].get_color() if pts else None)
        if ax.lines:  # no successful run of any task: no figure (and no empty legend)
            ax.set_xlabel("deferred-dropout drop rate (0 = dense; dotted: zero-value baseline)")
            ax.set_ylabel(label)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
            fig.tight_layout()
            paths.append(_save(fig, Path(folder) / fname))
        plt.close(fig)
    mlm = [r for r in runs if r.task == "mlm" and r.status == "ok" and r.curves.get("curve")]
    if mlm:
        paths.append(_save(curves_figure(plt, mlm, "held-out MLM loss"), Path(folder) / "mlm_curves.png"))
    return paths, "" if paths else NO_FIGURE_NOTE


def curves_figure(plt, runs, title: str, label=lambda r: r.spec):
    """Held-out MLM loss against step, one line per run (runs of one label share a colour)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = {}
    for r in sorted(runs, key=lambda r: (label(r), r.seed)):
        c = r.curves["curve"]
        lab = label(r)
        line, = ax.plot([p["step"] for p in c], [p["mlm_loss"] for p in c], lw=1,
                        color=colours.get(lab), label=None if lab in colours else lab)
        colours.setdefault(lab, line.get_color())
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out MLM loss")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def scenarios_markdown(runs, rows: list[dict]) -> str:
    """The hardware scenario tables (``hardware.scenario_table``) of every task that trained a
    deferred-dropout variant, on the trace recorded by the task's dense (else first) run, with
    each variant's measured accuracy beside it; ``""`` when no run recorded a trace."""
    from hardware import scenario_table
    ok = [r for r in runs if r.status == "ok" and r.hardware.get("trace")]
    acc = {(row["task"], row["policy"]): row for row in rows}
    parts = []
    for task in dict.fromkeys(r.task for r in ok):
        mine = [r for r in ok if r.task == task]
        traced = next((r for r in mine if r.policy["policy"] == "dense"), mine[0]).hardware["trace"]
        variants = {r.spec: r.policy for r in mine if r.policy["policy"] == "deferred_dropout"}
        if not variants:
            continue
        accuracy = [f"{_pct(acc[task, spec]['accuracy_mean'])} ± {_pct(acc[task, spec]['accuracy_std'])}"
                    for spec in variants]
        parts += [f"### {task}", ""] + scenario_table(traced, list(variants.values()), accuracy) + [""]
    return "\n".join(parts)


def write_report(runs, folder, config: dict, paper_table: str, command: str,
                 hardware_scenarios: str | None = None) -> list[dict]:
    """Write ``summary.csv``, the figures and ``REPORT.md`` of ``runs`` into ``folder``; the hardware
    scenarios default to :func:`scenarios_markdown` of the runs."""
    folder = Path(folder)
    rows = summarize(runs)
    if hardware_scenarios is None:
        hardware_scenarios = scenarios_markdown(runs, rows)
    atomic_write(folder / "summary.csv", summary_csv(rows))
    figures, note = write_figures(rows, runs, folder)
    atomic_write(folder / "REPORT.md", report_markdown(runs, rows, config, paper_table, figures, note, command,
                                                 hardware_scenarios))
    return rows


# ------------------------------------------------------------------------------ the MLM study
def _study(r) -> dict:
    return r.settings["study"]


def _arm_curve(runs):
    """Mean held-out curve over runs that share their evaluation steps."""
    steps = [p["step"] for p in runs[0].curves["curve"]]
    return steps, [statistics.fmean(r.curves["curve"][i]["mlm_loss"] for r in runs) for i in range(len(steps))]


def mlm_study_markdown(runs, study: dict, figures: list[str], figure_note: str, command: str) -> str:
    """The MLM study's report: tuning grid, paired differences to dense per budget, flattening."""
    ok = [r for r in runs if r.status == "ok"]
    hp0 = ok[0].settings["hp"] if ok else {}
    lines = ["# Masked-LM study: deferred dropout against a tuned dense baseline and two controls", "",
             f"Produced by `{command}`. Model and data: {hp0.get('layers')} pre-LN blocks, d={hp0.get('dim')}, "
             f"{hp0.get('heads')} heads, ff {hp0.get('ff_dim')}, {hp0.get('vocab_size')}-word vocabulary, "
             f"{hp0.get('max_len')} tokens, batch {hp0.get('batch_size')}, AdamW (weight decay "
             f"{hp0.get('weight_decay')}), linear warm-up then cosine decay to 0; BERT masking; scored by "
             "the held-out MLM loss on the test e-mails with one fixed masking.", ""]
    lines += _failed_section(runs)
    for budget in sorted(study["budgets"]):
        tune = sorted((r for r in ok if _study(r)["stage"] == "tune" and _study(r)["budget"] == budget),
                      key=lambda r: (r.settings["hp"]["lr"], r.settings["hp"]["warmup_steps"]))
        comp = [r for r in ok if _study(r)["stage"] == "compare" and _study(r)["budget"] == budget]
        if not tune:
            continue
        best = min(tune, key=lambda r: r.metrics["val_loss"])
        lines += [f"## Budget {budget} steps", "",
                  f"**Tuning** (dense, seed {study['tune_seed']}, not one of the compared seeds): final "
                  "validation loss (a slice of the training e-mails, never the test e-mails) per peak "
                  "learning rate and warm-up; the best (bold) is used by every arm.", "",
                  "| lr | warm-up steps | validation loss |", "|---|---|---|"]
        for r in tune:
            hp = r.settings["hp"]
            cell = f"{r.metrics['val_loss']:.4f}"
            lines.append(f"| {hp['lr']:g} | {hp['warmup_steps']} | {f'**{cell}**' if r is best else cell} |")
        dense = {r.seed: r.metrics["test_loss"] for r in comp if _study(r)["arm"] == "dense"}
        lines += ["", f"**Comparison** (lr {best.settings['hp']['lr']:g}, warm-up {best.settings['hp']['warmup_steps']} "
                  "steps): final held-out loss, and its paired difference to dense (same seed: same "
                  "initialisation, batches and masking); negative is better than dense.", "",
                  "| arm | seeds | held-out loss (mean ± std) | minus dense, paired (mean ± std) | per seed |",
                  "|---|---|---|---|---|"]
        for arm in study["arms"]:
            rs = sorted((r for r in comp if _study(r)["arm"] == arm), key=lambda r: r.seed)
            if not rs:
                continue
            loss = [r.metrics["test_loss"] for r in rs]
            diffs = [r.metrics["test_loss"] - dense[r.seed] for r in rs if r.seed in dense]
            per_seed = ", ".join(f"{d:+.4f}" for d in diffs)
            paired = f"{statistics.fmean(diffs):+.4f} ± {_sd(diffs):.4f}" if diffs else "n/a"
            lines.append(f"| {arm} | {len(rs)} | {statistics.fmean(loss):.4f} ± {_sd(loss):.4f} | "
                         f"{'0 (reference)' if arm == 'dense' else paired} | {'' if arm == 'dense' else per_seed} |")
        lines += _contrasts(comp, study)
    lines += _flatness(ok, study)
    wall = sum(r.timings.get("total_seconds", 0.0) for r in ok)
    cpu = sum(r.timings.get("cpu_seconds", 0.0) for r in ok)
    lines += [f"Compute: {len(runs)} runs; {wall / 60:.0f} minutes of wall time summed over runs"
              + (f", {cpu / 60:.0f} core-minutes of CPU time" if cpu else "")
              + " (single-threaded runs, many at a time, on a shared machine).", "", "## Figures", ""]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in figures] or [figure_note]
    return "\n".join(lines) + "\n"


#: The final fraction of a budget over which the MLM study checks that dense has flattened.
FLAT_TAIL = 0.2


def _tail_drop(r, tail: float) -> float:
    """How much the held-out loss of run ``r`` falls over the last ``tail`` of its steps (from the
    last evaluation at or before step ``(1 - tail) * steps`` to the end)."""
    c = r.curves["curve"]
    start = max((p for p in c if p["step"] <= (1 - tail) * r.settings["hp"]["steps"]), key=lambda p: p["step"])
    return start["mlm_loss"] - c[-1]["mlm_loss"]


def _flatness(ok, study) -> list[str]:
    """The flatness check of dense at every budget, stated as a verdict: dense has flattened when
    its held-out loss falls by less than the seed std of its final loss over (a) the budget's last
    ``FLAT_TAIL`` (mean over seeds) and (b) doubling the budget (the ``flat`` run)."""
    tail = FLAT_TAIL
    lines = ["## Has dense flattened?", "",
             f"Criterion: dense has flattened at a budget when its held-out loss falls by less than the std over "
             f"seeds of its final held-out loss (a) over the last {tail:.0%} of the budget (mean over seeds; "
             "the cosine schedule is then below a tenth of its peak, so this part is partly guaranteed by the "
             "schedule) and (b) when the budget is doubled (one run, the same learning rate, warm-up "
             "stretched alike; it is the stronger test).", "",
             "| budget | dense final loss (mean ± std) | (a) fall over the last part, per seed | (a) flat? "
             "| (b) fall when doubled | (b) flat? |", "|---|---|---|---|---|---|"]
    flat = {r.seed: r for r in ok if _study(r)["stage"] == "flat"}
    for budget in sorted(study["budgets"]):
        dense = sorted((r for r in ok if _study(r)["stage"] == "compare" and _study(r)["budget"] == budget
                        and _study(r)["arm"] == "dense"), key=lambda r: r.seed)
        if not dense:
            continue
        final = [r.metrics["test_loss"] for r in dense]
        sd = _sd(final)
        drops = [_tail_drop(r, tail) for r in dense]
        a = "yes" if statistics.fmean(drops) < sd else "no"
        doubled = [(flat[r.seed], r) for r in dense if r.seed in flat
                   and flat[r.seed].settings["hp"]["steps"] == study["flat_factor"] * budget]
        if doubled:
            f, r = doubled[0]
            gain = r.metrics["test_loss"] - f.metrics["test_loss"]
            b_cell = f"{gain:+.4f} (seed {f.seed}: {r.metrics['test_loss']:.4f} at {budget}, " \
                     f"{f.metrics['test_loss']:.4f} at {f.settings['hp']['steps']})"
            b_flat = "yes" if gain < sd else "no"
        else:
            b_cell, b_flat = "not run", "n/a"
        lines.append(f"| {budget} | {statistics.fmean(final):.4f} ± {sd:.4f} | "
                     + ", ".join(f"{d:+.4f}" for d in drops) + f" (mean {statistics.fmean(drops):+.4f}) | {a} | "
                     f"{b_cell} | {b_flat} |")
    return lines + [""]


def _contrasts(comp, study) -> list[str]:
    """Each deferred-dropout arm against each control arm (random-k only at its own drop rate),
    paired by seed."""
    by_arm: dict[str, dict] = {}
    for r in comp:
        by_arm.setdefault(_study(r)["arm"], {})[r.seed] = r
    dd = [a for a in study["arms"] if a in by_arm and next(iter(by_arm[a].values())).policy["policy"] == "deferred_dropout"]
    controls = [a for a in study["arms"] if a in by_arm and a != "dense" and a not in dd]
    if not dd or not controls:
        return [""]
    lines = ["", "Deferred dropout minus each control, paired by seed (negative: deferred dropout is better):", "",
             "| contrast | mean ± std | per seed |", "|---|---|---|"]
    def drop(arm):
        return next(iter(by_arm[arm].values())).policy.get("drop")

    for a in dd:
        for c in controls:
            if drop(c) is not None and drop(c) != drop(a):   # random-k is a control at its own keep ratio
                continue
            seeds = sorted(set(by_arm[a]) & set(by_arm[c]))
            diffs = [by_arm[a][s].metrics["test_loss"] - by_arm[c][s].metrics["test_loss"] for s in seeds]
            if diffs:
                lines.append(f"| {a} minus {c} | {statistics.fmean(diffs):+.4f} ± {_sd(diffs):.4f} | "
                             + ", ".join(f"{d:+.4f}" for d in diffs) + " |")
    return lines + [""]


def write_mlm_study(runs, folder, study: dict, command: str) -> None:
    """Write the MLM study's REPORT.md and its curve figures (one per budget) into ``folder``."""
    folder = Path(folder)
    plt = _pyplot()
    figures, note = [], FIGURE_NOTE
    ok = [r for r in runs if r.status == "ok"]
    if plt is not None:
        note = ""
        for budget in sorted(study["budgets"]):
            comp = [r for r in ok if _study(r)["stage"] == "compare" and _study(r)["budget"] == budget]
            if not comp:
                continue
            fig, ax = plt.subplots(figsize=(6, 4))
            for arm in study["arms"]:
                rs = [r for r in comp if _study(r)["arm"] == arm]
                if rs:
                    steps, mean = _arm_curve(rs)
                    ax.plot(steps, mean, lw=1.2, label=f"{arm} (mean of {len(rs)})")
            flat = [r for r in ok if _study(r)["stage"] == "flat"]
            if budget == max(study["budgets"]) and flat:
                c = flat[0].curves["curve"]
                ax.plot([p["step"] for p in c], [p["mlm_loss"] for p in c], "k:", lw=1,
                        label=f"dense, {flat[0].settings['hp']['steps']} steps (seed {flat[0].seed})")
            ax.axvline((1 - FLAT_TAIL) * budget, color="grey", lw=0.8, ls="--")   # the flatness check's start
            ax.set_xlabel("training step")
            ax.set_ylabel("held-out MLM loss")
            ax.set_title(f"MLM, {budget}-step budget (dashed: last {FLAT_TAIL:.0%})")
            shown = comp + (flat if budget == max(study["budgets"]) else [])
            lo = min(min(p["mlm_loss"] for p in r.curves["curve"]) for r in shown)
            ax.set_ylim(lo - 0.05, lo + 1.0)
            ax.legend(fontsize=7)
            fig.tight_layout()
            figures.append(_save(fig, folder / f"mlm_curves_{budget}.png"))
            plt.close(fig)
    atomic_write(folder / "REPORT.md", mlm_study_markdown(runs, study, figures, note, command))
