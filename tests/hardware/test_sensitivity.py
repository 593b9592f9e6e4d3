"""The headline ratios and their assumption bands are computed from the model."""
import dataclasses

import pytest

from hardware import BASELINE, TPUV3, Policy, bert, footprint, max_batch
from hardware.sensitivity import ASSUMPTIONS, bands, headline, sensitivity, sensitivity_lines


@pytest.fixture(scope="module")
def bert_sens():
    return sensitivity(TPUV3, ["bert-base-128"])


def test_headline_footprint_is_the_peak_ratio_at_the_baseline_batch():
    h = headline(TPUV3, "bert-base-128")
    w = bert("base", 128)
    b = max_batch(TPUV3, w, BASELINE)
    assert h["footprint"] == pytest.approx(footprint(TPUV3, w, BASELINE, b).total
                                           / footprint(TPUV3, w, Policy("deferred_dropout", 0.9), b).total)
    assert h["co-design"] > 1.1 and h["row"] > 1.1 and 0.98 < h["own batch"] < 1.05


def test_each_assumption_end_is_a_row_and_moves_what_it_should(bert_sens):
    central, rows = bert_sens
    assert [(f, v) for f, v, _, _ in rows] == [(f, v) for f, lo, hi, _ in ASSUMPTIONS for v in (lo, hi)]
    slow_engine = next(r for r in rows if r[0] == "engine_bytes_per_cycle" and r[1] == 256)[3]["bert-base-128"]
    assert slow_engine["co-design"] < central["bert-base-128"]["co-design"]  # more engine-bound phases
    assert slow_engine["footprint"] == central["bert-base-128"]["footprint"]  # bytes do not move
    # the band holds the central value and every end
    lo, hi = bands(central, rows)["co-design", "bert-base-128"]
    assert lo == min([central["bert-base-128"]["co-design"]] + [r[3]["bert-base-128"]["co-design"] for r in rows])
    assert lo <= central["bert-base-128"]["co-design"] <= hi


def test_lines_print_every_ratio_with_its_band(bert_sens):
    central, rows = bert_sens
    text = "\n".join(sensitivity_lines(central, rows))
    lo, hi = bands(central, rows)["row", "bert-base-128"]
    assert f"bert-base-128 {central['bert-base-128']['row']:.3f}x ({lo:.3f}-{hi:.3f})" in text
    custom = sensitivity(TPUV3, ["bert-base-128"], (("mxu_efficiency", 0.5, 1.0, "test range"),))[1]
    assert any(r[0] == "mxu_efficiency" and r[1] == 0.5 for r in custom)
    slow = dataclasses.replace(TPUV3, mxu_efficiency=0.5)
    assert next(r for r in custom if r[0] == "mxu_efficiency" and r[1] == 0.5)[3]["bert-base-128"] == \
        headline(slow, "bert-base-128")


def test_headline_matches_the_golden_file(bert_sens):
    """Regenerate with HW_REGEN_GOLDEN=1 after an intended model change (say why in the commit)."""
    import os
    path = os.path.join(os.path.dirname(__file__), "golden", "headline.md")
    text = "\n".join(sensitivity_lines(*bert_sens)) + "\n"
    if os.environ.get("HW_REGEN_GOLDEN"):
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read()
