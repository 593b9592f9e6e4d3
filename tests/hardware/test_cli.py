import json

from hardware import vgg16
from hardware.__main__ import main


def test_step_writes_csv(tmp_path, capsys):
    out = tmp_path / "layers.csv"
    assert main(["step", "--model", "bert-base-128", "--policy", "deferred_dropout", "--drop", "0.9",
                 "--batch", "4", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "deferred_dropout(0.9, exact)" in text and "footprint" in text
    rows = out.read_text().splitlines()
    assert rows[0].startswith("name,kind,fwd_cycles") and len(rows) == 1 + 2 + 12 * 15 + 1


def test_reproduce_prints_calibration_scenarios_summary_and_memory_curves(capsys, tmp_path):
    assert main(["reproduce", "--models", "vgg16", "--drops", "0.9", "--scenario-models", "vgg16",
                 "--figures", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| mlperf-v0.7-resnet50-v3-8192 |" in out and "error, leave-one-out" in out
    assert "cross-check lamb-bert-large" in out and "fit: step_overhead_cycles" in out
    assert "## Scenarios: vgg16" in out and "(e) co-designed array" in out
    assert out.count("| vgg16 | 0.9 |") == 2  # uncalibrated and calibrated summaries
    rows = (tmp_path / "memory_vgg16.csv").read_text().splitlines()
    assert rows[0].startswith("scenario,policy,batch,event,phase")
    layers = len(vgg16().layers)
    assert len(rows) == 1 + 6 * 4 * (2 * layers + 1)  # 6 scenarios x 4 rows x events


def test_step_on_the_codesigned_array_with_structure(capsys):
    assert main(["step", "--policy", "deferred_dropout", "--structure", "block", "--codesign",
                 "--batch", "4", "--recompute", "attention"]) == 0
    assert "deferred_dropout(0.9, exact, block 128)" in capsys.readouterr().out


def test_bad_config_is_reported_not_raised(tmp_path, capsys):
    p = tmp_path / "chip.json"
    p.write_text(json.dumps({"mxus": 2}))
    assert main(["step", "--config", str(p)]) == 2
    assert "missing field" in capsys.readouterr().err
