"""The whole-stash accountings against hand-derived figures (Korthikanti et al.'s inventory)."""
import json

import pytest

from hardware import accounting as A
from hardware.workload import bert

S, H, HEADS = 128, 768, 12


def _block_bytes(variant, drop=0.9, value_bytes=2, block=1):
    w = bert("base", S)
    items = [i for i in A.inventory(w, variant.endswith("lossless")) if i.layer.startswith(f"block{block}.")]
    return sum(A.item_bytes(i, variant, drop, value_bytes) for i in items)


def test_zero_value_block_is_korthikanti_with_one_bit_masks():
    # 34 s h + 5 a s^2 bytes with 1-byte masks (s h, s h and a s^2 of them): 1-bit masks give
    # 32 s h + s h / 4 + 4.125 a s^2
    assert _block_bytes("zero_value") == 32 * S * H + S * H // 4 + 4.125 * HEADS * S * S


def test_lossless_block_by_hand():
    # LayerNorms share their outputs with ff1 and the next block's Q/K/V input (-2 s h each),
    # GELU keeps 1 bit instead of its 4h input (-8 s h + s h / 2), attention drops the dropout
    # output (-2 a s^2)
    assert _block_bytes("lossless") == (32.25 - 4 - 8 + 0.5) * S * H + 2.125 * HEADS * S * S


@pytest.mark.parametrize("drop, value_bytes, expected", [(0.9, 2, 6.15), (0.75, 2, 3.2),
                                                         (0.9, 4, 7.62), (0.75, 4, 3.56)])
def test_eligible_tensor_reduction_is_bitmap_plus_kept_values(drop, value_bytes, expected):
    # value_bytes / (1/8 + (1 - drop) value_bytes): the 6.15x, 3.2x and 3.56x
    r = A.reduction(bert("base", S), "dd_wgi", drop, "eligible", value_bytes)
    assert r == pytest.approx(value_bytes / (0.125 + (1 - drop) * value_bytes), rel=1e-3)
    assert r == pytest.approx(expected, abs=0.01)


def test_weight_gradient_inputs_cap_the_stash_reduction():
    # the weight-gradient inputs (7 s h elements a block) shrink to 1/8 + 0.1 * 2 bytes an
    # element at drop 0.9; nothing else moves, so no drop rate passes total / (total - wgi)
    w = bert("base", S)
    total = A.stash_bytes(w, "zero_value", 0.0, 2)
    wgi = sum(A.item_bytes(i, "zero_value", 0.0, 2) for i in A.inventory(w)
              if i.role == "weight_grad_input" and not i.keep_dense)
    assert A.reduction(w, "dd_wgi", 0.9, "stash") == pytest.approx(total / (total - wgi + wgi * 0.325 / 2))
    assert A.reduction(w, "dd_wgi", 0.999, "stash") < total / (total - wgi) < 1.55
    assert A.reduction(w, "dd_every", 0.9, "stash") > 5


def test_total_counts_parameter_state_at_the_baseline_batch():
    w = bert("base", S)
    b = A.baseline_batch(w)
    assert A.stash_bytes(w, "zero_value", 0, 2, b) + 16 * w.params <= A.HBM_BYTES
    assert A.stash_bytes(w, "zero_value", 0, 2, b + 1) + 16 * w.params > A.HBM_BYTES
    base = A.stash_bytes(w, "zero_value", 0.9, 2, b) + 16 * w.params
    ours = A.stash_bytes(w, "dd_every", 0.9, 2, b) + 16 * w.params
    assert A.reduction(w, "dd_every", 0.9, "total") == pytest.approx(base / ours)


def test_lossless_keeps_weight_gradient_inputs_it_shares_exact():
    w = bert("base", S)
    shared = {i.layer for i in A.inventory(w, lossless=True) if i.role == "exact"
              and i.layer.endswith((".ff1", ".ff2"))}
    assert "block0.ff1" in shared and "block0.ff2" in shared
    assert A.reduction(w, "dd_wgi+lossless", 0.9, "stash") > A.reduction(w, "dd_wgi", 0.9, "stash")


def test_table_marks_the_paper_range_and_reads_quality_records(tmp_path):
    runs = (("zero_value", 0, 0.80, 2.0), ("dd_every", 0, 0.70, 3.0), ("zero_value", 1, 0.90, 1.0),
            ("dd_every", 2, 0.10, 9.0))  # seed 2 has no baseline: left out of the pairing
    for variant, seed, acc, loss in runs:
        (tmp_path / f"bert-{variant}-{seed}.json").write_text(json.dumps(
            {"task": "bert", "variant": variant, "seed": seed,
             "metrics": {"test_accuracy": acc, "test_loss": loss}}))
    costs = A.quality_costs(tmp_path)
    assert costs == {"dd_every": "bert -10.0 pt, loss +50% (n=1)"}
    text = "\n".join(A.accounting_table([bert("base", S)], 0.9, costs))
    assert "| bert-base-seq128 | 321 | dd_every | 5.67x * |" in text and "bert -10.0 pt" in text


def test_bad_accounting_is_refused():
    with pytest.raises(ValueError, match="accounting"):
        A.reduction(bert("base", S), "dd_wgi", 0.9, "both")
    with pytest.raises(ValueError, match="variant"):
        A.stash_bytes(bert("base", S), "dd_some", 0.9, 2)


def test_drop_table_rows_follow_the_bitmap_formula():
    w = bert("base", S)
    lines = A.drop_table(w, (0.75,), {"dd_every@0.75": "mlm -1.0 pt"})
    eligible = 2 / (0.125 + 0.25 * 2)   # 3.2x: the same per-tensor figure as above
    assert lines[-1].startswith("| 0.75 | ") and f"{eligible:.2f}x in" in lines[-1]
    assert lines[-1].endswith("| mlm -1.0 pt |")
