"""The whole stash, by accounting: which way of counting gives the paper's 1.21-3.60x (#20).

Pure functions over a workload's stash inventory (:mod:`hardware.workload`: for BERT,
Korthikanti et al.'s ``34 s h + 5 a s^2`` bytes per block and sample with 1-bit masks).  A
*variant* says what the training side stores (``minidd.stash`` policies):

``zero_value``         the baseline: every float stash zero-value compressed (bitmap + non-zeros
                       where smaller), masks as bits;
``lossless``           the baseline with minidd's lossless reductions (``lossless="all"``):
                       LayerNorm keeps its output (shared with the next layer's stash when that
                       layer keeps the same tensor), GELU its output (shared with ``ff2``'s
                       input) and a 1-bit branch mask, attention not its dropout output;
``dd_wgi``             deferred dropout on the weight-gradient inputs (``dd:<drop>``);
``dd_wgi+lossless``    both; an input shared with a LayerNorm or GELU output stays exact;
``dd_every``           deferred dropout on every float stash (``exact_ops="all"``);
``dd_every+lossless``  both.

An *accounting* says what is counted: the ``stash`` of every activation, only the ``eligible``
tensors the variant sparsifies, or the ``total`` training footprint (the stash of a batch plus 16
bytes per parameter: fp32 weights and gradients and Adam's two moments, as
:mod:`hardware.simulate` books them, at the baseline's largest batch in 16 GiB); stash values
in ``bf16`` (2 bytes) or ``fp32``.  The paper's body is not public, so which one it used is
unknown.  Every figure is the
baseline's bytes over the variant's.  Layers marked ``keep_dense`` (embeddings, the head) stay
dense under deferred dropout, as in minidd.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .compression import _bitmap_or_index
from .workload import Layer, Workload

VARIANTS = ("zero_value", "lossless", "dd_wgi", "dd_wgi+lossless", "dd_every", "dd_every+lossless")
PAPER_RANGE = (1.21, 3.60)
PARAM_BYTES = 16  #: fp32 weight, gradient and two Adam moments per parameter


@dataclass(frozen=True)
class Item:
    """One stashed tensor of one sample: its layer, role, elements, bits (masks) and sparsity."""

    layer: str
    role: str          #: "weight_grad_input", "exact" or "index"
    elements: int
    bits: int | None = None
    natural_sparsity: float = 0.0
    keep_dense: bool = False


def inventory(workload: Workload, lossless: bool = False) -> list[Item]:
    """The stash items of one sample; with ``lossless`` as the lossless reductions change them."""
    items = [Item(layer.name, s.role, s.elements, s.bits, s.natural_sparsity, layer.keep_dense)
             for layer in workload.layers for s in layer.stash]
    return _lossless(workload, items) if lossless else items


def _consumer(workload: Workload, producer: Layer) -> str | None:
    """The layer that stashes ``producer``'s whole output as its weight-gradient input."""
    for layer in workload.layers:
        if producer.name in layer.inputs and any(
                s.role == "weight_grad_input" and s.elements == producer.out_elements for s in layer.stash):
            return layer.name
    return None


def _lossless(workload: Workload, items: list[Item]) -> list[Item]:
    """LayerNorm (``ln*``) and GELU keep their outputs; where the next layer stashes that output,
    the two share one exact copy.  GELU adds a 1-bit branch mask.  Attention's ``context``
    product no longer keeps the dropout output (its T x T operand)."""
    out = list(items)
    for layer in workload.layers:
        short = layer.name.rsplit(".", 1)[-1]
        if short == "context":
            att = layer.in_elements[0]
            out = [i for i in out if not (i.layer == layer.name and i.role == "exact" and i.elements == att)]
        if not (short.startswith("ln") or short == "gelu"):
            continue
        consumer = _consumer(workload, layer)
        if consumer is not None:
            out = [i for i in out if i.layer != layer.name]
            out = [Item(i.layer, "exact", i.elements, keep_dense=i.keep_dense)
                   if i.layer == consumer and i.role == "weight_grad_input" else i for i in out]
        if short == "gelu":
            out.append(Item(layer.name, "index", layer.out_elements, bits=1))
    return out


def _sparsified(item: Item, variant: str) -> bool:
    if item.bits is not None or item.keep_dense or not variant.startswith("dd"):
        return False
    return item.role == "weight_grad_input" or variant.startswith("dd_every")


def item_bytes(item: Item, variant: str, drop: float, value_bytes: int, batch: int = 1) -> int:
    """Bytes of ``batch`` samples of ``item`` under ``variant``."""
    n = item.elements * batch
    if item.bits is not None:
        return math.ceil(n * item.bits / 8)
    nnz = round(n * (1.0 - item.natural_sparsity))
    kept = min(math.ceil((1.0 - drop) * n), nnz) if _sparsified(item, variant) else nnz
    return min(n * value_bytes, _bitmap_or_index(n, kept, value_bytes))


def stash_bytes(workload: Workload, variant: str, drop: float, value_bytes: int, batch: int = 1,
                eligible_of: str | None = None) -> int:
    """The stash of ``batch`` samples under ``variant``; with ``eligible_of``, only the items that
    variant sparsifies (counted under ``variant``)."""
    if variant not in VARIANTS:
        raise ValueError(f"stash_bytes: variant must be one of {VARIANTS}, got {variant!r}")
    items = inventory(workload, lossless=variant.endswith("lossless"))
    if eligible_of is not None:
        items = [i for i in items if _sparsified(i, eligible_of)]
    return sum(item_bytes(i, variant, drop, value_bytes, batch) for i in items)


HBM_BYTES = 16 * 2**30  #: one TPUv3 core


def baseline_batch(workload: Workload, value_bytes: int = 2, hbm_bytes: int = HBM_BYTES) -> int:
    """The largest batch whose baseline footprint (stash plus parameter state) fits in HBM."""
    free = hbm_bytes - PARAM_BYTES * workload.params
    return max(1, free // stash_bytes(workload, "zero_value", 0.0, value_bytes))


def reduction(workload: Workload, variant: str, drop: float, accounting: str = "stash",
              value_bytes: int = 2, batch: int | None = None) -> float | None:
    """The baseline's bytes over ``variant``'s under one accounting: ``"stash"`` (every
    activation), ``"eligible"`` (only the tensors the variant sparsifies, the same tensors
    before and after; ``None`` for a variant that sparsifies nothing) or ``"total"`` (the stash
    of ``batch`` samples, default :func:`baseline_batch`, plus the parameter state)."""
    if accounting not in ACCOUNTINGS:
        raise ValueError(f"reduction: accounting must be one of {ACCOUNTINGS}, got {accounting!r}")
    if accounting == "eligible":
        if not variant.startswith("dd"):
            return None
        mine = [i for i in inventory(workload, variant.endswith("lossless")) if _sparsified(i, variant)]
        return (sum(item_bytes(i, "zero_value", drop, value_bytes) for i in mine)
                / sum(item_bytes(i, variant, drop, value_bytes) for i in mine))
    batch = batch or baseline_batch(workload, value_bytes)
    base = stash_bytes(workload, "zero_value", drop, value_bytes, batch)
    ours = stash_bytes(workload, variant, drop, value_bytes, batch)
    if accounting == "total":
        state = PARAM_BYTES * workload.params
        base, ours = base + state, ours + state
    return base / ours


ACCOUNTINGS = ("stash", "eligible", "total")


def accounting_table(workloads, drop: float = 0.9, quality: dict | None = None) -> list[str]:
    """Markdown: per workload and variant, the reduction under every accounting in bf16 and
    fp32 (``*`` where it reaches the paper's 3.60x, ``in`` where it lies in 1.21-3.60x; the total
    at the baseline's largest batch in 16 GiB); ``quality`` (optional) maps a variant to its
    measured quality cost (a short string) for the last column."""
    cols = [(a, vb) for a in ACCOUNTINGS for vb in (2, 4)]
    heads = [f"{a} {'bf16' if vb == 2 else 'fp32'}" for a, vb in cols]
    lines = [f"Reduction against zero-value compression by accounting (drop {drop}; stash: every "
             f"activation; eligible: the sparsified tensors alone; total: stash and parameter "
             f"state at the baseline's largest batch in 16 GiB; paper {PAPER_RANGE[0]}-"
             f"{PAPER_RANGE[1]}x: * reaches {PAPER_RANGE[1]}x, in = within)", "",
             "| workload | batch | variant | " + " | ".join(heads) + " | measured quality cost |",
             "|" + "---|" * (len(heads) + 4)]
    for w in workloads:
        for v in VARIANTS[1:]:
            cells = []
            for a, vb in cols:
                r = reduction(w, v, drop, a, vb)
                cells.append("-" if r is None else f"{r:.2f}x" + _mark(r))
            cost = (quality or {}).get(v, "-")
            lines.append(f"| {w.name} | {baseline_batch(w)} | {v} | " + " | ".join(cells) + f" | {cost} |")
    return lines


def _mark(r: float) -> str:
    lo, hi = PAPER_RANGE
    return " *" if r >= hi else (" in" if r >= lo else "")


#: the training side's run records (benchmarks/wholestash.py), in the repository
RECORDS = Path(__file__).resolve().parent.parent / "docs" / "results" / "wholestash"


def quality_costs(folder=RECORDS) -> dict:
    """Per variant, its measured quality cost from the training side's JSON run records, per
    task over the seeds the ``zero_value`` run shares: the change in mean test accuracy (points;
    masked-token accuracy for ``mlm``, next-symbol for ``charlm``) and in mean test loss (%);
    ``{}`` when there are none.  Reads files only, never minidd."""
    runs: dict = {}
    for path in sorted(Path(folder).glob("*.json")):
        r = json.loads(path.read_text())
        runs[r["task"], r["variant"], r["seed"]] = r["metrics"]
    out: dict = {}
    for (task, variant, _), _m in sorted(runs.items()):
        if variant == "zero_value" or any(p.startswith(task + " ") for p in out.get(variant, [])):
            continue
        seeds = [sd for (t, v, sd) in runs if (t, v) == (task, variant) and (task, "zero_value", sd) in runs]
        if not seeds:
            continue
        mean = lambda v, k: sum(runs[task, v, sd][k] for sd in seeds) / len(seeds)  # noqa: E731
        acc = 100 * (mean(variant, "test_accuracy") - mean("zero_value", "test_accuracy"))
        loss = 100 * (mean(variant, "test_loss") / mean("zero_value", "test_loss") - 1)
        out.setdefault(variant, []).append(f"{task} {acc:+.1f} pt, loss {loss:+.0f}% (n={len(seeds)})")
    return {v: "; ".join(parts) for v, parts in out.items()}


def drop_table(workload: Workload, drops=(0.5, 0.75, 0.9), quality: dict | None = None) -> list[str]:
    """Markdown: deferred dropout on every stash by drop rate (bf16), under each accounting,
    with the measured quality cost of the trained ``dd_every@<drop>`` variant (``dd_every`` at
    0.9)."""
    lines = [f"Deferred dropout on every stash by drop rate ({workload.name}, bf16)", "",
             "| drop | stash | eligible | total | measured quality cost |", "|---|---|---|---|---|"]
    for d in drops:
        cells = [f"{reduction(workload, 'dd_every', d, a):.2f}x" + _mark(reduction(workload, 'dd_every', d, a))
                 for a in ACCOUNTINGS]
        cost = (quality or {}).get("dd_every" if d == 0.9 else f"dd_every@{d}", "-")
        lines.append(f"| {d} | " + " | ".join(cells) + f" | {cost} |")
    return lines


def accounting_section(folder=RECORDS, drop: float = 0.9) -> list[str]:
    """The ``reproduce`` section: BERT-base at sequence 128 and 512 under every accounting, and
    deferred dropout on every stash by drop rate, with the variants' measured quality costs
    from ``folder``."""
    from .workload import bert
    quality = quality_costs(folder)
    lines = ["## The whole stash by accounting (#20)", ""]
    lines += accounting_table([bert("base", 128), bert("base", 512)], drop, quality)
    return lines + [""] + drop_table(bert("base", 128), quality=quality) + [""]
