"""Sweep reliability: failures recorded and retried, lost processes, lock, damaged lines, kill -9.

Runs here are stand-ins (``tests/study/sweep_fakes.py``) that take no training time; every run still
goes through its own process, as a real one does.
"""
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from minidd.study import sweep
from minidd.study.sweep import ResultsStore, SweepConfig, SweepLocked, run_sweep

HERE = Path(__file__).resolve().parent
CFG = SweepConfig(("mlp",), ("dense", "zero_value"), (0, 1))


def _sweep(folder, **kw):
    kw.setdefault("progress", False)
    return run_sweep(CFG, folder, runner="sweep_fakes:run", runner_path=(HERE,), **kw)


def _lines(folder):
    return [json.loads(line) for line in (Path(folder) / "runs.jsonl").read_text().splitlines()]


def _ok_keys(folder):
    return sorted(r["key"] for r in _lines(folder) if r["status"] == "ok")


ALL_KEYS = sorted(CFG.key(*run) for run in CFG.runs())


def test_a_failing_run_is_recorded_and_every_other_run_lands_then_resume_retries_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "1")
    runs = _sweep(tmp_path, jobs=2)
    failed = [r for r in runs if not r.ok]
    assert len(runs) == 4 and len(failed) == 2 and {r.seed for r in failed} == {1}
    assert all("RuntimeError: fake failure of" in r.error for r in failed)
    assert all(r.key == CFG.key(r.task, r.spec, r.seed) for r in failed)
    monkeypatch.delenv("FAKE_FAIL")
    runs = _sweep(tmp_path, jobs=2)
    assert all(r.ok for r in runs) and sorted(r.key for r in runs) == ALL_KEYS
    assert _ok_keys(tmp_path) == ALL_KEYS                       # each run ok exactly once
    assert sum(r["status"] == "failed" for r in _lines(tmp_path)) == 2  # the failures stay on record


def test_a_lost_process_costs_only_its_own_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_DIE", "0")
    runs = _sweep(tmp_path, jobs=2)
    lost = [r for r in runs if not r.ok]
    assert {r.seed for r in lost} == {0} and len(lost) == 2
    assert all("killed by SIGKILL" in r.error for r in lost)
    assert sorted(r.key for r in runs if r.ok) == sorted(k for k in ALL_KEYS if k.endswith("|1"))


def test_one_log_line_per_finished_run(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="minidd"):
        _sweep(tmp_path, jobs=2)
    finished = [r.getMessage() for r in caplog.records if ": ok, test accuracy" in r.getMessage()]
    assert len(finished) == 4 and any(m.startswith("mlp zero_value seed 1: ok") for m in finished)


def test_a_folder_of_files_the_sweep_did_not_write_is_refused_untouched(tmp_path):
    (tmp_path / "REPORT.md").write_text("someone's report")
    (tmp_path / "summary.csv").write_text("a,b")
    with pytest.raises(ValueError, match=r"did not write \(REPORT.md, summary.csv\)"):
        _sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["REPORT.md", "summary.csv"]
    assert (tmp_path / "REPORT.md").read_text() == "someone's report"


def test_a_folder_in_use_is_refused(tmp_path):
    with ResultsStore(tmp_path, CFG):
        with pytest.raises(SweepLocked, match=f"{tmp_path} is in use by another sweep \\(pid {os.getpid()}"):
            _sweep(tmp_path)
    assert len(_sweep(tmp_path)) == 4   # released when the first one ends


def test_a_changed_recipe_is_a_different_configuration(tmp_path, monkeypatch):
    _sweep(tmp_path, max_runs=1)
    (tmp_path / ".REPORT.md.x1.tmp").write_text("a killed write")
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.setattr(sweep, "recipe_hyperparameters", lambda model: {"lr": 0.1})
    with pytest.raises(ValueError, match="different configuration .*differs in: recipes"):
        _sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before     # nothing touched


def test_someones_folder_with_a_config_json_is_refused_untouched(tmp_path):
    (tmp_path / "config.json").write_text('{"learning_rate": 0.1}')
    (tmp_path / ".notes.tmp").write_text("mine")
    with pytest.raises(ValueError, match="different configuration"):
        _sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmp", "config.json"]


def test_a_damaged_line_is_set_aside_and_its_run_redone(tmp_path, caplog):
    _sweep(tmp_path)
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    lines[2] = lines[2][:40] + "#" + lines[2][41:]                 # one byte flipped mid-file
    (tmp_path / "runs.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:30])  # and a torn tail
    with caplog.at_level(logging.WARNING, logger="minidd"):
        runs = _sweep(tmp_path)
    assert sorted(r.key for r in runs) == ALL_KEYS and _ok_keys(tmp_path) == ALL_KEYS
    damaged = (tmp_path / "runs.damaged.txt").read_text().splitlines()
    assert damaged == [lines[2], lines[0][:30]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("runs.jsonl line 3: not valid JSON" in w and "runs.damaged.txt" in w for w in warnings)
    assert any("torn last line" in w for w in warnings)


def test_a_foreign_result_line_is_set_aside(tmp_path):
    _sweep(tmp_path, max_runs=2)
    other = json.loads((tmp_path / "runs.jsonl").read_text().splitlines()[0])
    other["key"] = "bert|dense|7"
    with open(tmp_path / "runs.jsonl", "a") as f:
        f.write(json.dumps(other) + "\n")
    assert len(_sweep(tmp_path)) == 4
    assert "bert|dense|7" in (tmp_path / "runs.damaged.txt").read_text()


def test_stale_temporary_files_are_removed(tmp_path):
    _sweep(tmp_path, max_runs=1)
    (tmp_path / ".runs.jsonl.abc123.tmp").write_text("half")
    _sweep(tmp_path, max_runs=1)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _survivors(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker``: every process a test's sweep started,
    even one killed before it ran any code of ours."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes().split(b"\0") and _alive(int(proc.name)):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


SCRIPT = textwrap.dedent("""
    import sys
    from minidd.study.sweep import SweepConfig, run_sweep
    cfg = SweepConfig(("mlp", "cnn"), ("dense", "zero_value"), (0, 1, 2))
    run_sweep(cfg, sys.argv[1], jobs=2, progress=False, runner="sweep_fakes:run", runner_path=(sys.argv[2],))
""")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to see which processes live")
def test_kill_9_at_any_moment_then_the_same_command_every_run_once_no_process_left(tmp_path):
    folder, pids = tmp_path / "sweep", tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "FAKE_SLEEP": "0.4", "FAKE_PIDS": str(pids),
           "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", SCRIPT, str(folder), str(HERE)]
    for delay in (0.3, 1.6, 2.4):            # before any run ends, mid-sweep, later
        # seed-2 runs take a minute: when the sweep dies, some of them are running
        parent = subprocess.Popen(command, env={**env, "FAKE_LONG": "2"}, start_new_session=True)
        time.sleep(delay)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while _survivors(f"FAKE_PIDS={pids}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _survivors(f"FAKE_PIDS={pids}"), "a process outlived the sweep"
    assert len(list(pids.iterdir())) > 0
    assert subprocess.run(command, env=env, timeout=120).returncode == 0
    keys = sorted(r["key"] for r in _lines(folder))
    assert keys == sorted(f"{m}|{p}|{s}" for m in ("mlp", "cnn") for p in ("dense", "zero_value")
                          for s in (0, 1, 2))          # every run exactly once, none failed
    assert not _survivors(f"FAKE_PIDS={pids}")


CLI_SCRIPT = textwrap.dedent("""
    import functools, sys
    import minidd.study.sweep
    minidd.study.sweep.run_sweep = functools.partial(minidd.study.sweep.run_sweep, runner="sweep_fakes:run",
                                               runner_path=(sys.argv[2],))
    from minidd.study.cli import main
    sys.exit(main(["--models", "mlp", "--drops", "0.9", "--seeds", "0,1", "--jobs", "2",
                   "--no-progress", "--out", sys.argv[1]]))
""")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to see which processes live")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_cleanly_with_one_line(tmp_path, sig):
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "FAKE_SLEEP": "30", "FAKE_PIDS": str(pids),
           "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", CLI_SCRIPT, str(tmp_path / "out"), str(HERE)], env=env,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:   # both runs started
        time.sleep(0.05)
    os.killpg(proc.pid, sig)           # what a terminal's Ctrl-C does: the foreground group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"interrupted: finished runs are kept in {tmp_path / 'out'}; "
                                            "run the same command again to resume")
    time.sleep(0.2)
    assert len(list(pids.iterdir())) == 2 and not _survivors(f"FAKE_PIDS={pids}")
    assert not (tmp_path / "out" / "runs.jsonl").exists()   # interrupted runs are not recorded as failed


def test_the_main_job_lists_failed_runs_in_its_report_and_exits_1(tmp_path, monkeypatch, capsys):
    import functools

    from minidd.study import cli
    monkeypatch.setattr(sweep, "run_sweep", functools.partial(run_sweep, runner="sweep_fakes:run",
                                                              runner_path=(HERE,)))
    monkeypatch.setenv("FAKE_FAIL", "0")
    argv = ["--models", "mlp", "--policies", "dense", "--seeds", "0", "--no-progress", "--out", str(tmp_path)]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "0 runs in" in out and "1 FAILED" in out and "FAILED mlp dense seed 0: RuntimeError: fake failure" in out
    report = (tmp_path / "REPORT.md").read_text()
    assert "## Failed runs" in report and "| mlp | dense | 0 | RuntimeError: fake failure of mlp dense seed 0 |" in report
