"""The scenario table and the paper-scale summary: golden file, hand-checked relations, the API
that run_experiments' REPORT.md calls."""
import dataclasses
import os

import pytest

from hardware import TPUV3, Policy, bert
from hardware.fallback import fit_step
from hardware.report import (PAPER_SPEEDUP_RANGE, markdown_table, reproduction, scenario_lines,
                             scenario_table, scenarios)

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "summary.md")


def test_summary_matches_the_golden_file():
    """Regenerate after an intended model change with HW_REGEN_GOLDEN=1 (and say why in the
    commit); a drift of a few percent in a headline number fails here."""
    text = markdown_table(reproduction(TPUV3, ["bert-base-128", "vgg16"], [0.9])) + "\n"
    if os.environ.get("HW_REGEN_GOLDEN"):
        with open(GOLDEN, "w") as f:
            f.write(text)
    with open(GOLDEN) as f:
        assert text == f.read()


@pytest.fixture(scope="module")
def bert_scenarios():
    return scenarios(TPUV3, bert("base", 128), [Policy("deferred_dropout", 0.9),
                                               Policy("deferred_dropout", 0.9, structure="block")])


def test_scenarios_cover_a_to_e_with_the_baseline_first(bert_scenarios):
    assert [s.key for s in bert_scenarios] == ["a", "b", "c", "d", "e", "e"]
    for s in bert_scenarios:
        assert s.rows[0].policy == "zero_value" and s.rows[0].speedup == 1.0
    b = bert_scenarios[1]
    # at the fixed batch the baseline does not fit as it is: it falls back
    assert b.rows[0].step.method != "none" and b.rows[0].step.batch > 316
    # host offload: deferred dropout moves a smaller stash over the same link
    c = bert_scenarios[2]
    assert c.rows[0].step.method == "host_offload" and c.rows[1].speedup > 1


def test_offload_sentence_names_what_dominates_and_the_link_sensitivity(bert_scenarios):
    c = bert_scenarios[2]
    base = c.rows[0].step
    share = 1 - base.report.seconds / base.seconds
    assert share > 0.5  # the baseline moves 6 GiB over a 2 GB/s link: the link dominates
    assert f"zero_value: exposed host-link time is {share:.0%} of its step" in c.verdict
    fast = dataclasses.replace(TPUV3, host_link_bytes_per_s=2 * TPUV3.host_link_bytes_per_s)
    fit = lambda pol: fit_step(fast, bert("base", 128), pol, base.batch, ("none", "host_offload"))  # noqa: E731
    speedup = fit(Policy("deferred_dropout", 0.9)).throughput / fit(Policy("zero_value")).throughput
    assert f"2x the link (3.94 GB/s per core): {speedup:.2f}x /" in c.verdict
    assert "0.5x the link (0.98 GB/s per core)" in c.verdict


def test_block_selection_on_the_codesigned_array(bert_scenarios):
    d = bert_scenarios[3]
    elem, block = d.rows[1], d.rows[2]
    assert elem.dw_removed == 0.0 and elem.speedup == pytest.approx(1.0, abs=1e-3)
    assert block.dw_removed > 0.85 and block.speedup > 1.1


def test_verdicts_are_computed_from_the_rows(bert_scenarios):
    lo, hi = PAPER_SPEEDUP_RANGE
    for s in bert_scenarios:
        for r in s.rows[1:]:
            where = "inside" if lo <= r.speedup <= hi else "below" if r.speedup < lo else "above"
            assert f"{r.policy}: speedup {r.speedup:.3f}x is {where}" in s.verdict


def test_scenario_table_api_for_report_md():
    trace = {"name": "tiny-bert", "layers": [l.__dict__ | {"stash": [i.__dict__ for i in l.stash],
                                                          "inputs": list(l.inputs),
                                                          "in_elements": list(l.in_elements)}
                                            for l in bert("base", 32).layers[:20]],
             "batch": 8, "policy": {"policy": "zero_value"}, "measured": {}}
    configs = [{"policy": "zero_value"}, {"policy": "deferred_dropout", "drop": 0.9, "structure": "block",
                                          "block": 128, "selection": "exact"}]
    lines = scenario_table(trace, configs, accuracy_rows=["91.0%", "90.2%"])
    assert lines[0] == "Scenarios for tiny-bert:"
    assert any("deferred_dropout(0.9, exact, block 128)" in ln and ln.endswith("| 90.2% |") for ln in lines)
    with pytest.raises(ValueError, match="accuracy_rows has 1 entries for 2 policies"):
        scenario_table(trace, configs, accuracy_rows=["x"])
    assert "| scenario |" in scenario_lines(scenarios(TPUV3, bert("base", 32),
                                                      [Policy("deferred_dropout", 0.5)]))[0]
