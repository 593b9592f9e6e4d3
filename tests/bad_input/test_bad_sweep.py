"""Bad arguments, folders and results files for the main job (minidd.study.cli) and minidd.study.sweep: each a
clear error (type or exit status asserted) whose message names the argument or file, raised
before anything is written; nothing already written is lost."""
import json

import pytest

from minidd.study import cli
from minidd.study.results import ResultsFileError
from minidd.study.sweep import ResultsStore, SweepConfig, from_preset, run_sweep



def _main(argv, capsys):
    try:
        code = cli.main(argv + ["--no-progress"])
    except SystemExit as e:  # argparse
        code = e.code
    return code, capsys.readouterr().err


# -- command line: every option checked before the output folder exists ---------------------------

@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["--epochs", "-1"], "--epochs must be a positive integer, got -1"),
    (["--epochs", "two"], "--epochs must be a positive integer, got 'two'"),
    (["--train-limit", "0"], "--train-limit must be a positive integer, got 0"),
    (["--train-limit", "-100"], "--train-limit must be a positive integer, got -100"),
    (["--jobs", "0"], "--jobs must be a positive integer, got 0"),
    (["--seeds", "0,-1"], r"seeds must be non-negative, got \[-1\]"),
    (["--seeds", "0,x"], "seeds must be comma-separated ints, got '0,x'"),
    (["--seeds", "1,1"], r"seeds are listed twice: \[1, 1\]"),
    (["--drops", "1.5"], r"drop rates must be in \[0, 1\), got \[1.5\]"),
    (["--models", "resnet"], "unknown model 'resnet'; choose from mlp"),
    (["--models", "mlp,mlp"], "models are listed twice"),
    (["--policies", "dd:1.5"], "dd:1.5.*drop"),
    (["--policies", "dense", "sparse"], "unknown policy 'sparse'"),
    (["--policies", "dd:0.9,granularity=rows"], "granularity"),
    (["--policies", "dd:0.9", "deferred_dropout:0.9"], "'dd:0.9' and 'deferred_dropout:0.9' are the same policy"),
    (["--policies", "dense", "--drops", "0.9"], "give --policies or --drops, not both"),
    (["--executor", "dask"], "--executor dask needs --scheduler ADDRESS"),
    (["--scheduler", "tcp://localhost:8786"], "--scheduler is for --executor dask"),
    (["--executor", "dask", "--scheduler", "tcp://h:1", "--jobs", "2"], "--jobs is for the local executor"),
    (["--executor", "spark"], "invalid choice: 'spark'"),
    (["--models", ""], "models: give a comma-separated list"),
    (["--seeds", ""], "seeds must be comma-separated ints, got ''"),
    (["--drops", "nan"], r"drop rates must be in \[0, 1\), got \[nan\]"),
    (["--epochs", "1e3"], "--epochs must be a positive integer, got '1e3'"),
    (["--policies"], "--policies: expected at least one argument"),
    (["--preset", "hardware", "--models", "mlp"], "--preset hardware takes only --drops and --out"),
])
def test_bad_options_are_refused_before_anything_is_written(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _main(argv + ["--out", str(out)], capsys)
    assert code == 2
    import re
    assert re.search(message, err), err
    assert not out.exists()


def test_an_unreachable_dask_scheduler_is_named_before_anything_is_written(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("minidd.study.sweep.DASK_CONNECT_TIMEOUT", "1s")
    out = tmp_path / "out"
    code, err = _main(["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)], capsys)
    assert code == 2 and "cannot connect to the Dask scheduler 'tcp://127.0.0.1:9'" in err
    assert not out.exists()


# -- output folders -------------------------------------------------------------------------------

def test_out_at_someones_files_is_refused_and_they_are_untouched(tmp_path, capsys):
    (tmp_path / "REPORT.md").write_text("mine")
    (tmp_path / "summary.csv").write_text("mine too")
    code, err = _main(["--models", "mlp", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 2 and "holds files a sweep did not write (REPORT.md, summary.csv)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["REPORT.md", "summary.csv"]
    assert (tmp_path / "REPORT.md").read_text() == "mine"


def test_hardware_preset_also_refuses_someones_folder(tmp_path, capsys):
    (tmp_path / "REPORT.md").write_text("mine")
    code, err = _main(["--preset", "hardware", "--out", str(tmp_path)], capsys)
    assert code == 2 and "REPORT.md" in err and (tmp_path / "REPORT.md").read_text() == "mine"


def test_out_that_is_a_file_is_named(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    code, err = _main(["--models", "mlp", "--out", str(tmp_path / "f")], capsys)
    assert code == 2 and f"cannot use output folder {tmp_path / 'f'}" in err


def test_a_folder_in_use_exits_3_naming_it(tmp_path, capsys):
    cfg = from_preset("quick", models=["mlp"], drops=[0.9], epochs=1, train_limit=64)
    with ResultsStore(tmp_path, cfg):
        code, err = _main(["--models", "mlp", "--drops", "0.9", "--epochs", "1", "--train-limit", "64",
                           "--out", str(tmp_path)], capsys)
    assert code == 3 and f"{tmp_path} is in use by another sweep" in err


def test_an_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _main(["--out", ""], capsys)
    assert code == 2 and "--out must name a folder" in err and not list(tmp_path.iterdir())


def test_config_json_that_is_not_an_object_is_named(tmp_path):
    cfg = SweepConfig(("mlp",), ("dense",), (0,))
    (tmp_path / "config.json").write_text('[{"models": ["mlp"]}]')
    with pytest.raises(ResultsFileError, match=f"{tmp_path / 'config.json'}: expected a JSON object"):
        run_sweep(cfg, tmp_path, progress=False)


def test_numpy_integers_are_plain_ints_in_the_config():
    import numpy as np
    cfg = SweepConfig(("mlp",), ("dense",), (np.int64(3),), epochs={"mlp": np.int32(2)})
    assert cfg.seeds == (3,) and type(cfg.seeds[0]) is int and type(cfg.epochs["mlp"]) is int


def test_a_damaged_config_json_is_named(tmp_path):
    cfg = SweepConfig(("mlp",), ("dense",), (0,))
    (tmp_path / "config.json").write_text('{"models": ["mlp"')
    with pytest.raises(ResultsFileError, match=f"{tmp_path / 'config.json'}: cannot read"):
        run_sweep(cfg, tmp_path, progress=False)


def test_an_unreadable_runs_file_is_named(tmp_path):
    cfg = SweepConfig(("mlp",), ("dense",), (0,))
    with ResultsStore(tmp_path, cfg):
        pass
    (tmp_path / "runs.jsonl").mkdir()
    with pytest.raises(OSError, match=f"cannot read {tmp_path / 'runs.jsonl'}"):
        run_sweep(cfg, tmp_path, progress=False)


# -- the API ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"models": "mlp"}, TypeError, "models must be a list or tuple, got 'mlp'"),
    ({"models": ()}, ValueError, "at least one model"),
    ({"seeds": (True,)}, TypeError, "each seed must be a non-negative int, got True"),
    ({"seeds": (-1,)}, ValueError, "each seed must be a non-negative int, got -1"),
    ({"seeds": (0.5,)}, TypeError, "each seed must be a non-negative int, got 0.5"),
    ({"policies": (0.9,)}, TypeError, r"policies must be spec strings \(stash.format_spec.*got 0.9"),
    ({"epochs": {"mlp": 0}}, ValueError, r"epochs\['mlp'\] must be a positive int, got 0"),
    ({"train_limit": {"mlp": -100}}, ValueError, r"train_limit\['mlp'\] must be a positive int, got -100"),
    ({"epochs": {"cnn": 2}}, ValueError, "epochs names model 'cnn', which is not in the sweep"),
    ({"epochs": 3}, TypeError, "epochs must be a dict model -> int, got 3"),
])
def test_bad_sweep_configs_name_the_field(kwargs, error, message):
    base = {"models": ("mlp",), "policies": ("dense",), "seeds": (0,)}
    with pytest.raises(error, match=message):
        SweepConfig(**{**base, **kwargs})


@pytest.mark.parametrize("kwargs, message", [
    ({"jobs": 0}, "jobs must be a positive int, got 0"),
    ({"executor": "spark"}, "executor must be one of"),
    ({"executor": "dask"}, "executor 'dask' needs the scheduler's address"),
    ({"scheduler": "tcp://h:1"}, "a scheduler address is for executor 'dask'"),
    ({"max_runs": 0}, "max_runs must be a positive int, got 0"),
    ({"runner": "minidd.study.recipes.run"}, "runner must be 'module:function'"),
])
def test_bad_run_sweep_arguments_are_refused_before_the_folder_is_made(kwargs, message, tmp_path):
    cfg = SweepConfig(("mlp",), ("dense",), (0,))
    with pytest.raises(ValueError, match=message):
        run_sweep(cfg, tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_preset_override_of_zero_is_a_value_not_not_given():
    with pytest.raises(ValueError, match=r"epochs\['mlp'\] must be a positive int, got 0"):
        from_preset("quick", models=["mlp"], epochs=0)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        from_preset("huge")


def test_a_runner_that_returns_the_wrong_thing_is_a_failed_run_naming_it(tmp_path):
    cfg = SweepConfig(("mlp",), ("dense",), (0,))
    (tmp_path / "bad_runner.py").write_text("def run(*a, **k):\n    return 42\n")
    [r] = run_sweep(cfg, tmp_path / "out", progress=False, runner="bad_runner:run", runner_path=(tmp_path,))
    assert r.status == "failed" and "runner bad_runner:run returned int, expected a RunResult" in r.error
    assert json.loads((tmp_path / "out" / "runs.jsonl").read_text())["status"] == "failed"


def test_a_folder_that_is_not_a_path_is_named():
    with pytest.raises(TypeError, match="folder must be a path"):
        run_sweep(SweepConfig(("mlp",), ("dense",), (0,)), 5, progress=False)


def test_a_study_command_names_a_bad_option_without_a_traceback(tmp_path, capsys):
    from minidd.study import studies
    assert studies.main(["mnist1d", "--out", str(tmp_path / "s"), "--max-runs", "0"]) == 2
    err = capsys.readouterr().err
    assert "error: max_runs must be a positive int, got 0" in err and "Traceback" not in err
