"""The whole stash on the training side (#20): each variant's quality and measured stash.

For every task, variant and seed: train the recipe under the variant's policy, then on the
task's fixed probe batch measure the stash three ways (the ledger per role and per op, what
``tracemalloc`` sees retained by the forward pass, and the gradient-fidelity probe's dW and dX
against Dense).  One JSON record per run goes to ``--out`` (skipped when it exists)::

    nice -n 5 python benchmarks/wholestash.py --tasks mlm bert charlm --seeds 0 1 --out docs/results/wholestash

``--table`` prints the summary table (mean over seeds) from the records in ``--out``, then the
hardware model's accountings with those quality costs (``python -m hardware reproduce``'s
section): what docs/results.md shows.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from hardware.accounting import accounting_section
from minidd import stash
from minidd.nn import Dropout
from minidd.study import recipes

VARIANTS = {  # name -> policy spec; the baseline is zero-value compression (the paper's)
    "zero_value": "zero_value",
    "lossless": "zero_value,lossless=all",
    "dd_wgi": "dd:0.9",
    "dd_wgi+lossless": "dd:0.9,lossless=all",
    "dd_every": "dd:0.9,exact_ops=all",
    "dd_every+lossless": "dd:0.9,exact_ops=all,lossless=all",
    "dd_every@0.75": "dd:0.75,exact_ops=all",  # where on the drop axis does every-stash DD hold?
    "dd_every@0.5": "dd:0.5,exact_ops=all",
}
BUDGET = {"bert": {"epochs": 1}, "mlm": {"steps": 400, "eval_every": 200},
          "charlm": {"steps": 400, "eval_every": 200}}


def _fixed_dropout(net, loss_fn):
    drops = [m for m in net.modules() if isinstance(m, Dropout)]

    def fixed(m):
        for d in drops:
            d.rng = np.random.default_rng(0)
        return loss_fn(m)
    return fixed


def _retained(net, loss_fn, policy):
    """(ledger bytes, tracemalloc bytes retained) of one forward under ``policy``; backward runs."""
    with stash.use(policy):
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            loss = loss_fn(net)
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        led = stash.ledger()
        out = led.current, retained, led.by("role"), led.by("op"), led.sparsified()
        net.zero_grad()
        loss.backward()
        del loss
    return out


def measure_stash(net, loss_fn, policy) -> dict:
    """Ledger (bytes at the forward/backward boundary, by role and op) and tracemalloc's retained
    bytes for one forward of the probe batch, and the same under Dense: Dense keeps the stashed
    arrays themselves, so its ``tracemalloc - ledger`` is what the graph holds besides the
    stash (nodes, the loss), subtracted for ``tracemalloc_stash_bytes``.  Then the fidelity
    probe's dW and dX rows, summarised."""
    net.train()
    dense_ledger, dense_traced, *_ = _retained(net, loss_fn, stash.Dense())
    ledger, traced, by_role, by_op, sparsified = _retained(net, loss_fn, policy)
    out = {"ledger_bytes": ledger, "tracemalloc_bytes": traced,
           "graph_overhead_bytes": dense_traced - dense_ledger,
           "tracemalloc_stash_bytes": traced - (dense_traced - dense_ledger),
           "dense_ledger_bytes": dense_ledger, "by_role": by_role, "by_op": by_op,
           "sparsified_exact_ops": sorted({op for _, op, role in sparsified
                                           if role != stash.WEIGHT_GRAD_INPUT})}
    rows = stash.gradient_fidelity(net, loss_fn, policy)
    for grad in ("dW", "dX"):
        mine = [r for r in rows if r["grad"] == grad]
        out[f"{grad}_cosine_min"] = min((r["cosine"] for r in mine), default=None)
        out[f"{grad}_rel_error_mean"] = statistics.fmean(r["rel_error"] for r in mine) if mine else None
    return out


def run_one(task, variant, seed, out_dir: Path) -> dict:
    path = out_dir / f"{task}-{variant}-{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    spec = VARIANTS[variant]
    hp = recipes.config(task, **BUDGET[task])
    policy = stash.parse_spec(spec)
    t0 = time.perf_counter()
    net, _history, probe, batch, metrics = recipes.train(task, hp, policy, seed)
    seconds = time.perf_counter() - t0
    record = {"task": task, "variant": variant, "spec": stash.format_spec(policy), "seed": seed,
              "hp": hp, "metrics": metrics, "train_seconds": seconds, "probe_batch": batch,
              **measure_stash(net, _fixed_dropout(net, probe), policy)}
    path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def load(out_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]


def table(records: list[dict]) -> list[str]:
    """Per task and variant (mean over seeds): quality, the ledger's stash and its reduction
    against zero-value compression, tracemalloc's stash (graph overhead removed) over the
    ledger's, and the smallest dW and dX cosine against Dense."""
    lines = [f"| task | variant | seeds | test accuracy | test loss | stash (ledger) | x vs zero_value "
             f"| tracemalloc / ledger | min dW cosine | min dX cosine |", "|" + "---|" * 10]
    for task in dict.fromkeys(r["task"] for r in records):
        mine = [r for r in records if r["task"] == task]
        base = statistics.fmean(r["ledger_bytes"] for r in mine if r["variant"] == "zero_value")
        for variant in VARIANTS:
            rs = [r for r in mine if r["variant"] == variant]
            if not rs:
                continue
            mean = lambda f: statistics.fmean(f(r) for r in rs)  # noqa: E731
            acc, loss = mean(lambda r: r["metrics"]["test_accuracy"]), mean(lambda r: r["metrics"]["test_loss"])
            led = mean(lambda r: r["ledger_bytes"])
            ratio = mean(lambda r: r["tracemalloc_stash_bytes"] / r["ledger_bytes"])
            cos = lambda key: "-" if rs[0][key] is None else f"{min(r[key] for r in rs):.4f}"  # noqa: E731
            lines.append(f"| {task} | {variant} | {len(rs)} | {acc:.4f} | {loss:.4f} | {led / 1e6:.2f} MB "
                         f"| {base / led:.2f}x | {ratio:.3f} | {cos('dW_cosine_min')} | {cos('dX_cosine_min')} |")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["bert", "mlm", "charlm"], choices=list(BUDGET))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--out", type=Path, default=Path("docs/results/wholestash"))
    ap.add_argument("--table", action="store_true", help="print the table from --out and exit")
    args = ap.parse_args(argv)
    if not args.table:
        args.out.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for task in args.tasks:
                for variant in args.variants:
                    r = run_one(task, variant, seed, args.out)
                    print(f"{task} {variant} seed {seed}: accuracy {r['metrics']['test_accuracy']:.4f}, "
                          f"stash {r['ledger_bytes']:,} B (tracemalloc {r['tracemalloc_stash_bytes']:,}), "
                          f"{r['train_seconds']:.0f} s", file=sys.stderr, flush=True)
    print("\n".join(table(load(args.out)) + [""] + accounting_section(args.out)))


if __name__ == "__main__":
    main()
