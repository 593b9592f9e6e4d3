"""Turn a sweep's runs into ``summary.csv``, ``REPORT.md`` and (with matplotlib) figures."""
from __future__ import annotations

import csv
import math
import os
import statistics
from pathlib import Path

SUMMARY_FIELDS = ["model", "policy", "drop", "seeds", "accuracy_mean", "accuracy_std", "loss_mean", "loss_std",
                  "stash_bytes", "stash_reduction", "wgi_reduction", "min_cosine", "mean_cosine",
                  "step_overhead", "hw_stash_reduction", "hw_footprint_reduction",
                  "hw_speedup_same_batch", "hw_speedup_own_batch"]


def _drop(policy: str) -> float:
    return float(policy.split(":")[1]) if ":" in policy else (0.0 if policy == "dense" else float("nan"))


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (model, policy), means over seeds."""
    groups: dict[tuple, list] = {}
    for r in runs:
        groups.setdefault((r["model"], r["policy"]), []).append(r)
    rows = []
    for (model, policy), rs in groups.items():
        acc = [r["test_accuracy"] for r in rs]
        loss = [r["test_loss"] for r in rs]
        wgi = [r["stash"]["by_role"].get("weight_grad_input", {}) for r in rs]
        dropped = [f["cosine"] for r in rs for f in r["fidelity"] if f["rel_error"] > 0]
        mean = statistics.fmean
        rows.append({
            "model": model, "policy": policy, "drop": _drop(policy), "seeds": len(rs),
            "accuracy_mean": mean(acc), "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "loss_mean": mean(loss), "loss_std": statistics.stdev(loss) if len(loss) > 1 else 0.0,
            "stash_bytes": mean(r["stash"]["stash_bytes"] for r in rs),
            "stash_reduction": mean(r["stash"]["stash_dense_bytes"] / r["stash"]["stash_bytes"] for r in rs),
            "wgi_reduction": mean(w["dense_nbytes"] / w["nbytes"] for w in wgi) if all(wgi) else float("nan"),
            "min_cosine": min(dropped) if dropped else 1.0,
            "mean_cosine": mean(dropped) if dropped else 1.0,
            "step_overhead": mean(r["step_seconds"] / r["step_seconds_dense"] - 1 for r in rs),
            "hw_stash_reduction": mean(r["hardware"]["stash_reduction"] for r in rs),
            "hw_footprint_reduction": mean(r["hardware"]["footprint_reduction"] for r in rs),
            "hw_speedup_same_batch": mean(r["hardware"]["speedup_same_batch"] for r in rs),
            "hw_speedup_own_batch": mean(r["hardware"]["speedup_own_batch"] for r in rs),
        })
    order = {"dense": -2, "zero_value": -1}
    rows.sort(key=lambda r: (r["model"], order.get(r["policy"], r["drop"])))
    return rows


def write_summary_csv(rows: list[dict], path) -> None:
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, SUMMARY_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, path)


def _pct(x):
    return f"{100 * x:.2f}"


def report_markdown(rows: list[dict], config: dict, paper_table: str, figures: list[str],
                    figure_note: str, command: str) -> str:
    lines = ["# minidd: zero-value baseline against deferred dropout", "",
             f"Produced by `{command}`. Configuration: models {', '.join(config['models'])}; "
             f"policies {', '.join(config['policies'])}; seeds {config['seeds']}; epochs "
             f"{config['epochs'] or 'recipe defaults'}; training subset {config['train_limit'] or 'none'}.",
             "", "## Accuracy against drop rate", "",
             "Test accuracy (%) and test loss at the end of training, mean ± std over seeds (for "
             "`mlm`: masked-token accuracy and held-out MLM loss). `dense` and `zero_value` are both "
             "lossless and runs are deterministic, so they agree exactly; the cosine column compares "
             "each dropped layer's weight gradient with the dense one on a probe batch.", "",
             "| model | policy | seeds | accuracy | vs dense (points) | test loss | weight-grad cosine (min / mean) |",
             "|---|---|---|---|---|---|---|"]
    dense = {r["model"]: r["accuracy_mean"] for r in rows if r["policy"] == "dense"}
    for r in rows:
        diff = "" if r["model"] not in dense else f"{100 * (r['accuracy_mean'] - dense[r['model']]):+.2f}"
        lines.append(f"| {r['model']} | {r['policy']} | {r['seeds']} | {_pct(r['accuracy_mean'])} ± "
                     f"{_pct(r['accuracy_std'])} | {diff} | {r['loss_mean']:.4f} ± {r['loss_std']:.4f} | "
                     f"{r['min_cosine']:.3f} / {r['mean_cosine']:.3f} |")
    lines += ["", "## Measured stash footprint", "",
              "Bytes the stash holds at the forward/backward boundary for one training batch, "
              "measured by the ledger (which matches `tracemalloc` within 5%). Reduction is "
              "against what `Dense` would hold for the same batch; the weight-gradient-input "
              "column is the part deferred dropout acts on. Step overhead is the NumPy cost of "
              "packing and unpacking against a `Dense` step.", "",
              "| model | policy | stash MB | reduction | weight-grad-input reduction | step overhead |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['policy']} | {r['stash_bytes'] / 1e6:.2f} | "
                     f"{r['stash_reduction']:.2f}x | {r['wgi_reduction']:.2f}x | {r['step_overhead']:+.1%} |")
    lines += ["", "## Hardware model on these models' traces", "",
              "Each trained model's trace (shapes, measured natural sparsity) on the TPUv3-core "
              "model, at the training batch, against the zero-value baseline "
              "(`hardware/README.md` says what is modelled).", "",
              "| model | policy | stash reduction | footprint reduction | speedup, same batch | speedup, own batch |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['policy']} | {r['hw_stash_reduction']:.2f}x | "
                     f"{r['hw_footprint_reduction']:.3f}x | {r['hw_speedup_same_batch']:.3f}x | "
                     f"{r['hw_speedup_own_batch']:.3f}x |")
    lines += ["", "## Paper-scale models (hardware model) beside the paper's figures", "", paper_table,
              "", "## Figures", ""]
    lines += [f"![{Path(f).stem}]({Path(f).name})" for f in figures] or [figure_note]
    return "\n".join(lines) + "\n"


def write_figures(rows: list[dict], folder) -> tuple[list[str], str]:
    """Accuracy and stash reduction against drop rate, one line per model (PNG)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], ("Figures need matplotlib, an optional extra: `pip install \".[figures]\"`, "
                    "then rerun the same command (finished runs are not repeated).")
    paths = []
    for metric, label, fname in (("accuracy_mean", "test accuracy", "accuracy_vs_drop.png"),
                                 ("loss_mean", "test loss (mlm: held-out MLM loss)", "loss_vs_drop.png"),
                                 ("stash_reduction", "stash reduction vs Dense (x)", "footprint_vs_drop.png")):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for model in sorted({r["model"] for r in rows}):
            pts = sorted((r["drop"], r[metric]) for r in rows
                         if r["model"] == model and not math.isnan(r["drop"]))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=model)
            zv = [r[metric] for r in rows if r["model"] == model and r["policy"] == "zero_value"]
            if zv:
                ax.axhline(zv[0], ls=":", lw=0.8, color=ax.lines[-1].get_color() if pts else None)
        ax.set_xlabel("deferred-dropout drop rate (0 = dense; dotted: zero-value baseline)")
        ax.set_ylabel(label)
        ax.legend()
        fig.tight_layout()
        path = Path(folder) / fname
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(str(path))
    return paths, ""
