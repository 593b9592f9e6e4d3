"""The sweep report: labels from the policy config, paired differences, failed runs, time per task."""
from types import SimpleNamespace

import pytest

from minidd import stash
from minidd.study.report import report_markdown, summarize, summary_csv, write_report


def _run(task, policy, seed, loss, acc=0.5, status="ok", steps=None, seconds=10.0, measured=True):
    cfg = policy.config()
    label = f"{cfg['policy']}:{cfg['drop']:g}" if "drop" in cfg else cfg["policy"]
    stash_ = {"stash_bytes": 50.0, "stash_dense_bytes": 100.0,
              "by_role": {"weight_grad_input": {"nbytes": 10, "dense_nbytes": 40}}} if measured else {}
    return SimpleNamespace(
        key=f"{task}|{label}|{seed}", task=task, policy=cfg, spec=label, seed=seed, status=status,
        error=None if status == "ok" else "Traceback ...\nFloatingPointError: loss is nan at step 3",
        settings={"hp": {"steps": steps} if steps else {}},
        metrics={"test_loss": loss, "test_accuracy": acc} if status == "ok" else {},
        fidelity=[{"name": "w", "cosine": 0.9, "rel_error": 0.1}] if measured and "drop" in cfg else [],
        stash=stash_ if status == "ok" else {},
        hardware={"stash_reduction": 2.0, "footprint_reduction": 1.5, "speedup_same_batch": 1.0,
                  "speedup_own_batch": 1.1} if measured and status == "ok" else {},
        timings={"total_seconds": seconds, "step_overhead": 0.0 if cfg["policy"] == "dense" else 0.05},
        curves={})


RUNS = [_run("mlp", stash.Dense(), s, 1.0 + s) for s in (0, 1)] + \
       [_run("mlp", stash.DeferredDropout(0.9), s, 1.1 + s + 0.02 * s) for s in (0, 1)] + \
       [_run("mlp", stash.ZeroValue(), 0, 1.0), _run("mlp", stash.DeferredDropout(0.5), 0, 0, status="failed")]
CONFIG = {"models": ["mlp"], "policies": ["dense"], "seeds": [0, 1], "epochs": {}, "train_limit": {}}


def test_rows_are_labelled_from_the_config_and_differences_are_paired():
    rows = {r["policy"]: r for r in summarize(RUNS)}
    assert list(rows) == ["dense", "zero_value", "deferred_dropout:0.9"]    # failed run left out
    dd = rows["deferred_dropout:0.9"]
    assert dd["drop"] == 0.9 and dd["seeds"] == 2
    assert dd["loss_vs_dense_mean"] == pytest.approx((0.1 + 0.12) / 2)
    assert dd["loss_vs_dense_std"] == pytest.approx(0.0141421, rel=1e-4)
    assert dd["loss_std"] > 0.7                     # unpaired spread is much larger
    assert rows["dense"]["step_overhead"] == 0.0 and dd["step_overhead"] == 0.05
    assert summary_csv(list(rows.values())).splitlines()[0].startswith("task,policy,drop,seeds")


def test_report_lists_failed_runs_and_the_time_per_task():
    rows = summarize(RUNS)
    text = report_markdown(RUNS, rows, CONFIG, "(paper table)", [], "(no figures)", "cmd")
    assert "## Failed runs" in text and "| mlp | deferred_dropout:0.5 | 0 | FloatingPointError: loss is nan at step 3 |" in text
    assert "| mlp | 6 | 1.0 | 10 |" in text           # 6 runs x 10 s, in minutes
    assert "not evidence" not in text


def test_a_short_mlm_run_is_flagged_as_unable_to_tell_policies_apart():
    runs = [_run("mlm", stash.Dense(), 0, 5.0, steps=100), _run("mlm", stash.DeferredDropout(0.9), 0, 4.9, steps=100)]
    text = report_markdown(runs, summarize(runs), CONFIG, "", [], "", "cmd")
    assert "train only 100 step(s)" in text and "not evidence" in text


def test_write_report_writes_every_file(tmp_path):
    write_report(RUNS, tmp_path, CONFIG, "(paper table)", "cmd")
    assert (tmp_path / "REPORT.md").read_text().startswith("# minidd")
    assert len((tmp_path / "summary.csv").read_text().splitlines()) == 4
    assert not list(tmp_path.glob("*.tmp"))


def test_when_every_run_failed_no_figure_is_drawn_and_nothing_warns(tmp_path):
    pytest.importorskip("matplotlib")
    import warnings

    from minidd.study.report import NO_FIGURE_NOTE, write_figures
    runs = [_run("mlp", stash.Dense(), 0, 0, status="failed"), _run("mlp", stash.ZeroValue(), 0, 0, status="failed")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # matplotlib's "No artists with labels" among them
        assert write_figures(summarize(runs), runs, tmp_path) == ([], NO_FIGURE_NOTE)
    assert list(tmp_path.iterdir()) == []
    ok = [_run("mlp", stash.ZeroValue(), 0, 1.0)]      # only a zero-value line: no labelled artist
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths, note = write_figures(summarize(ok), ok, tmp_path)
    assert len(paths) == 3 and note == ""
