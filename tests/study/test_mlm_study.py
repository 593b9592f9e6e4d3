"""The masked-LM study end to end on a tiny model, through run_sweep: tuning, paired comparison,
controls, report."""
import json

import pytest

from minidd.study import mlm_study
from minidd.study.report import write_mlm_study

# held-out loss every budget // 10 = 1 step
TINY = {**mlm_study.STUDY, "budgets": [8], "lrs": [1e-3, 3e-2], "warmup_fractions": [0.25], "seeds": [0, 1],
        "hp": {"dim": 8, "layers": 1, "heads": 2, "ff_dim": 16, "max_len": 16, "vocab_size": 100,
               "batch_size": 8}}


def _stored(folder) -> int:
    return sum(len((folder / s / "runs.jsonl").read_text().splitlines()) for s in ("tune", "flat", "compare"))


def test_tiny_study_tunes_dense_then_compares_every_arm_with_the_tuned_setting(tmp_path):
    runs = mlm_study.run_study(tmp_path, jobs=2, study=TINY, progress=False)
    stages = [r.settings["study"]["stage"] for r in runs]
    assert stages.count("tune") == 2 and stages.count("compare") == 5 * 2 and stages.count("flat") == 1
    tune = [r for r in runs if r.settings["study"]["stage"] == "tune"]
    best = min(tune, key=lambda r: r.metrics["val_loss"]).settings["hp"]   # tuned on validation
    for r in runs:
        study = r.settings["study"]
        if study["stage"] == "compare":
            hp = r.settings["hp"]
            assert (hp["lr"], hp["warmup_steps"], hp["steps"]) == (best["lr"], best["warmup_steps"], 8)
            assert hp["encoder_lr_scale"] == (0.3 if "lr x0.3" in study["arm"] else 1.0)
            assert hp["dim"] == 8 and [p["step"] for p in r.curves["curve"]] == list(range(1, 9))
    assert {r.policy["policy"] for r in runs} == {"dense", "deferred_dropout", "random_k"}
    assert _stored(tmp_path) == len(runs) == 13
    again = mlm_study.run_study(tmp_path, jobs=1, study=TINY, progress=False)   # resumes: nothing new
    assert len(again) == 13 and _stored(tmp_path) == 13
    write_mlm_study(runs, tmp_path, TINY, "cmd")
    text = (tmp_path / "REPORT.md").read_text()
    assert "## Budget 8 steps" in text and "random_k:0.9" in text and "## Has dense flattened?" in text
    dd = [line for line in text.splitlines() if line.startswith("| dd:0.9 |")][0]
    dense = {r.seed: r.metrics["test_loss"] for r in runs
             if r.settings["study"] == {"stage": "compare", "budget": 8, "arm": "dense"}}
    mine = {r.seed: r.metrics["test_loss"] for r in runs
            if r.settings["study"] == {"stage": "compare", "budget": 8, "arm": "dd:0.9"}}
    assert f"{mine[0] - dense[0]:+.4f}, {mine[1] - dense[1]:+.4f}" in dd   # paired, per seed
    # flatness: over the last 20% of 8 steps the loss is measured from step 6 (the last at or before 6.4)
    dense_runs = sorted((r for r in runs if r.settings["study"] == {"stage": "compare", "budget": 8, "arm": "dense"}),
                        key=lambda r: r.seed)
    drops = [r.curves["curve"][5]["mlm_loss"] - r.curves["curve"][-1]["mlm_loss"] for r in dense_runs]
    flat = [r for r in runs if r.settings["study"]["stage"] == "flat"][0]
    gain = dense[flat.seed] - flat.metrics["test_loss"]
    sd = abs(dense[0] - dense[1]) / 2 ** 0.5
    row = [line for line in text.splitlines() if line.startswith("| 8 | ")][0].split(" | ")
    assert row[2].startswith(f"{drops[0]:+.4f}, {drops[1]:+.4f}")
    assert row[3] == ("yes" if sum(drops) / 2 < sd else "no")
    assert row[4].startswith(f"{gain:+.4f}") and row[5] == ("yes |" if gain < sd else "no |")


def test_a_folder_of_another_study_is_refused(tmp_path):
    (tmp_path / "tune").mkdir()
    (tmp_path / "tune" / "config.json").write_text(json.dumps({"study": "other"}))
    with pytest.raises(ValueError, match="holds results of a different configuration"):
        mlm_study.run_study(tmp_path, study=TINY, progress=False)
