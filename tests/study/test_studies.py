"""Studies: arms in the one sweep machinery, paired statistics, the floor and a tiny study."""
import math
from dataclasses import replace

import numpy as np
import pytest

from minidd.stash import Dense
from minidd.study import mnist1d, recipes, studies, study_report
from minidd.study.paired import Criterion, paired, retained
from minidd.study.sweep import Arm, SweepConfig, run_sweep

TINY = {"steps": 6, "eval_every": 3, "probe_steps": [3], "probe_batches": 2}


def test_arms_are_runs_of_the_one_sweep_config():
    arms = [Arm("dense", "mnist1d_mlp", "dense"), Arm("floor", "mnist1d_mlp", "dense", {"freeze": "touched"}),
            Arm("dd", "mnist1d_mlp", "dd:0.9", {"weight_decay": 0.1}, floor="floor")]
    c = SweepConfig.of_arms(arms, (0, 1))
    assert c.runs()[:2] == [("mnist1d_mlp", "dense", 0), ("mnist1d_mlp", "dense", 1)] and len(c.runs()) == 6
    assert c.key("mnist1d_mlp", "dd", 1) == "mnist1d_mlp|dd|1"
    assert c.arm("mnist1d_mlp", "dd").spec == "deferred_dropout:0.9"        # canonical
    assert c.to_json()["arms"][2]["hp"] == {"weight_decay": 0.1}
    assert "arms" not in SweepConfig(("mlp",), ("dense",), (0,)).to_json()   # old sweeps: same record
    with pytest.raises(ValueError, match="used twice"):
        SweepConfig.of_arms(arms + [Arm("dd", "mnist1d_mlp", "dense")], (0,))
    with pytest.raises(ValueError, match="its floor 'nope'"):
        SweepConfig.of_arms([Arm("a", "mnist1d_mlp", "dense", floor="nope")], (0,))
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        Arm("a", "mnist1d_mlp", "dense", {"weight_decya": 0.1})
    with pytest.raises(ValueError, match="without '\\|'"):
        Arm("a|b", "mnist1d_mlp", "dense")


def test_paired_differences_interval_retained_fraction_and_criterion():
    p = paired({0: 0.9, 1: 0.8, 2: 0.7}, {0: 0.8, 1: 0.8, 2: 0.8, 3: 0.5})
    assert p.seeds == (0, 1, 2) and p.mean == pytest.approx(0.0) and p.std == pytest.approx(0.1)
    assert p.high == pytest.approx(4.302652729911275 * 0.1 / math.sqrt(3))   # t(0.975, 2)
    r = retained({0: 0.7, 1: 0.6}, {0: 0.8, 1: 0.8}, {0: 0.4, 1: 0.8})
    assert r == {0: pytest.approx(0.75)}                                   # seed 1: floor = dense
    crit = Criterion(0.95, 2)
    assert crit.verdict({0: 0.96, 1: 0.99}) == "pass" and crit.verdict({0: 0.96, 1: 0.9}) == "fail"
    assert crit.verdict({0: 1.0}) == "n/a" and "R >= 0.95 in every seed" in crit.describe()


def _train(freeze):
    hp = recipes.config("mnist1d_mlp", **TINY, freeze=freeze)
    net0 = mnist1d.build("mnist1d_mlp", hp, np.random.default_rng(0))
    out = recipes.train("mnist1d_mlp", hp, Dense(), 0, train_limit=200)
    return net0, out.model, out.history["frozen"]


def test_the_floor_freezes_weight_and_bias_and_the_drop1_limit_only_the_weight():
    net0, net, frozen = _train("touched")
    assert frozen == ["linear2"]
    assert np.array_equal(net.linear2.weight.data, net0.linear2.weight.data)
    assert np.array_equal(net.linear2.bias.data, net0.linear2.bias.data)
    assert not np.array_equal(net.linear1.weight.data, net0.linear1.weight.data)
    net0, net, _ = _train("touched_weights")
    assert np.array_equal(net.linear2.weight.data, net0.linear2.weight.data)
    assert not np.array_equal(net.linear2.bias.data, net0.linear2.bias.data)
    _, _, frozen = _train("all")
    assert frozen == ["linear1", "linear2", "linear3"]
    with pytest.raises(ValueError, match="freeze must be one of"):
        _train("some")


def test_a_tiny_study_tunes_on_validation_runs_resumably_and_reports(tmp_path):
    arms = (Arm("dense", "mnist1d_mlp", "dense"), Arm("floor", "mnist1d_mlp", "dense", {"freeze": "touched"}),
            Arm("dd element 0.9", "mnist1d_mlp", "deferred_dropout:0.9", floor="floor"))
    study = replace(studies.MNIST1D, arms=arms, seeds=(0, 1), criterion=Criterion(0.95, 2),
                    hp={**TINY, "steps": 12},
                    tuning={"mnist1d_mlp": studies.Tuning({"weight_decay": (0.1, 0.5)}, (100,), 200)})
    out = studies.run_study(study, tmp_path, jobs=2, progress=False)
    assert all(r.ok for r in out["tune"] + out["runs"]) and len(out["runs"]) == 8
    assert {r.metrics["split"] for r in out["tune"]} == {1} and {r.metrics["split"] for r in out["runs"]} == {0}
    tuned = [r for r in out["runs"] if r.settings["arm"] == "dense+weight_decay (tuned)"]
    assert len(tuned) == 2 and tuned[0].settings["hp"]["weight_decay"] in (0.1, 0.5)
    dd = next(r for r in out["runs"] if r.settings["arm"] == "dd element 0.9")
    assert dd.curves["gradient_noise"][0]["step"] == 3 and studies.cpu_seconds(out["runs"]) > 0
    lines = (tmp_path / "runs" / "runs.jsonl").read_text().splitlines()
    studies.run_study(study, tmp_path, jobs=1, progress=False)           # resumed: nothing to run
    assert (tmp_path / "runs" / "runs.jsonl").read_text().splitlines() == lines
    text = study_report.write_report(study, tmp_path).read_text()
    assert "| dd element 0.9 | `deferred_dropout:0.9`" in text and "R >= 0.95 in every seed" in text
    md = tmp_path / "results.md"
    study_report.update_results_md(study, tmp_path, md)
    study_report.update_results_md(study, tmp_path, md)                 # replaced, not appended twice
    assert md.read_text().count(study_report.BEGIN.format(name="mnist1d")) == 1
