"""The main job end to end on a tiny configuration: report, resume, parallel runs, bad input."""
import json

import pytest

import minidd
import run_experiments
from minidd.study.sweep import ResultsStore, SweepConfig, run_sweep

TINY = ["--models", "mlp", "--drops", "0.9", "--epochs", "1", "--train-limit", "160", "--no-progress"]

def test_tiny_configuration_end_to_end(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert run_experiments.main(TINY + ["--out", str(out)]) == 0
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["spec"] for r in runs) == sorted(["dense", "zero_value", "deferred_dropout:0.9"])
    assert all(r["status"] == "ok" for r in runs)
    report = (out / "REPORT.md").read_text()
    for heading in ("Accuracy against drop rate", "Measured stash footprint",
                    "Hardware model on these models' traces", "paper (ICCAD 2021)"):
        assert heading in report
    assert (out / "summary.csv").read_text().startswith("task,policy,drop,seeds")
    assert "3 runs in" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["minidd_version"] == minidd.__version__ and set(config["recipes"]) == {"mlp"}


def test_interrupted_sweep_resumes_with_every_run_once(tmp_path):
    cfg = SweepConfig(("mlp",), ("dense", "zero_value", "deferred_dropout:0.9"), (0, 1),
                      epochs={"mlp": 1}, train_limit={"mlp": 96})
    folder = tmp_path / "sweep"
    first = run_sweep(cfg, folder, progress=False, max_runs=2)   # "killed" after two runs
    assert len(first) == 2
    with open(folder / "runs.jsonl", "ab") as f:
        f.write(b'{"key": "mlp|dense|1", "policy": "den')             # and a torn last line
    runs = run_sweep(cfg, folder, progress=False)
    keys = [(r.task, r.spec, r.seed) for r in runs]
    assert sorted(keys) == sorted(cfg.runs()) and len(set(keys)) == len(keys) == 6
    lines = (folder / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line) for line in lines)


def test_jobs_2_gives_the_same_numbers_as_jobs_1(tmp_path):
    cfg = SweepConfig(("mlp",), ("zero_value", "deferred_dropout:0.9"), (0, 1),
                      epochs={"mlp": 1}, train_limit={"mlp": 96})
    one = {r.key: r.comparable() for r in run_sweep(cfg, tmp_path / "a", jobs=1, progress=False)}
    two = {r.key: r.comparable() for r in run_sweep(cfg, tmp_path / "b", jobs=2, progress=False)}
    assert one == two and len(one) == 4 and all(r["status"] == "ok" for r in one.values())


def test_a_folder_of_another_configuration_is_refused(tmp_path):
    cfg = SweepConfig(("mlp",), ("dense",), (0,), epochs={"mlp": 1}, train_limit={"mlp": 64})
    with ResultsStore(tmp_path, cfg):
        pass
    other = SweepConfig(("mlp",), ("dense",), (1,), epochs={"mlp": 1}, train_limit={"mlp": 64})
    with pytest.raises(ValueError, match=r"holds results of a different configuration \(differs in: seeds"):
        with ResultsStore(tmp_path, other):
            pass


@pytest.mark.parametrize("argv, message", [
    (["--models", "resnet"], "unknown model 'resnet'"),
    (["--drops", "1.5"], r"drop rates must be in \[0, 1\)"),
    (["--preset", "huge"], "invalid choice: 'huge'"),
])
def test_bad_arguments_are_refused_clearly(argv, message, tmp_path, capsys):
    try:
        code = run_experiments.main(argv + ["--out", str(tmp_path / "x"), "--no-progress"])
    except SystemExit as e:  # argparse
        code = e.code
    assert code == 2
    import re
    assert re.search(message, capsys.readouterr().err)


def test_hardware_preset_writes_the_paper_table(tmp_path):
    assert run_experiments.main(["--preset", "hardware", "--drops", "0.9", "--out", str(tmp_path)]) == 0
    assert "| vgg16 | 0.9 |" in (tmp_path / "REPORT.md").read_text()


def test_lossless_policies_have_exact_gradients_even_with_dropout():
    from minidd.study.measure import run
    r = run("bert", "zero_value", seed=0, epochs=1, train_limit=64)
    assert r.fidelity and all(f["rel_error"] == 0 for f in r.fidelity)
