"""minidd.study.results: the run-result schema round-trips exactly and bad data names its source."""
import json
import math

import pytest

from minidd.study.results import ResultsFileError, RunResult, run_key

POLICY = {"policy": "deferred_dropout", "drop": 0.9}


def _ok(**over):
    kw = dict(key=run_key("mlp", "dd:0.9", 1), task="mlp", policy=POLICY, spec="dd:0.9", seed=1,
              settings={"epochs": 1}, metrics={"test_accuracy": 0.1 + 0.2, "test_loss": math.pi},
              fidelity=[{"name": "w", "cosine": 0.99}], stash={"stash_bytes": 10},
              hardware={"speedup_same_batch": 1.25}, timings={"train_seconds": 0.5},
              curves={"test_accuracy": [0.1, 0.3]})
    kw.update(over)
    return RunResult(**kw)


def test_json_round_trip_is_bit_identical():
    r = _ok()
    line = r.to_json()
    assert "\n" not in line
    back = RunResult.from_json(line)
    assert back == r and back.metrics["test_accuracy"] == 0.1 + 0.2
    assert json.loads(line)["schema"] == 1


def test_comparable_leaves_out_only_timings():
    a, b = _ok(), _ok(timings={"train_seconds": 9.0})
    assert a != b and a.comparable() == b.comparable()
    assert _ok(seed=2).comparable() != a.comparable()


def test_failed_run_records_its_error():
    r = RunResult.failed(run_key("cnn", "zero_value", 0), "cnn", {"policy": "zero_value"}, "zero_value", 0,
                         "ValueError: boom")
    assert not r.ok and r.status == "failed" and r.metrics == {}
    assert RunResult.from_json(r.to_json()) == r


@pytest.mark.parametrize("over, message", [
    ({"status": "done"}, "status"),
    ({"status": "failed"}, "error"),
    ({"error": "x"}, "ok run has no error"),
    ({"seed": True}, "seed"),
    ({"metrics": {"test_loss": 1.0}}, "test_accuracy"),
    ({"policy": {"drop": 0.9}}, "policy"),
])
def test_inconsistent_results_are_refused_naming_the_field(over, message):
    with pytest.raises(ValueError, match=message):
        _ok(**over)


@pytest.mark.parametrize("text, message", [
    ('{"key": ', "runs.jsonl line 7: not valid JSON"),
    ("[1, 2]", "runs.jsonl line 7: expected a JSON object"),
    ('{"schema": 99}', "runs.jsonl line 7: schema 99"),
    ('{"schema": 1, "key": "k"}', r"runs.jsonl line 7: not a run result: missing fields \['policy'"),
    ('{"schema": 1, "key": "k", "task": "t", "policy": {"policy": "dense"}, "spec": "dense", "seed": 0, '
     '"colour": 1}', r"unknown fields \['colour'\]"),
    ('{"schema": 1, "key": "k", "task": "t", "policy": {"policy": "dense"}, "spec": "dense", "seed": "0"}',
     "runs.jsonl line 7: field 'seed' must be of type int"),
])
def test_bad_lines_name_the_file_and_line(text, message):
    with pytest.raises(ResultsFileError, match=message):
        RunResult.from_json(text, source="runs.jsonl line 7")
