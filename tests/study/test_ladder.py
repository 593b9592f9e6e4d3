"""The budget ladder's section from stored runs: the window, the convergence check, the headline."""
from minidd.study.ladder import Ladder, ladder_section
from minidd.study.paired import Criterion
from minidd.study.results import RunResult
from minidd.study.studies import Study
from minidd.study.sweep import Arm, ResultsStore, SweepConfig

# test and validation bits/char per (budget, arm, seed)
SCORES = {(100, "dense"): [3.0, 3.1, 3.2], (100, "floor"): [4.0, 4.1, 4.2], (100, "dd"): [3.05, 3.2, 3.25],
          (200, "dense"): [2.9, 2.95, 3.0], (200, "floor"): [3.9, 4.0, 4.1], (200, "dd"): [2.9, 2.96, 3.0]}


def _study(budget):
    hp = {"steps": budget}
    arms = (Arm("dense", "charlm", "dense", hp), Arm("floor", "charlm", "dense", {**hp, "freeze": "touched"}),
            Arm("dd", "charlm", "deferred_dropout:0.9", hp, floor="floor"))
    return Study(f"lm_{budget}", "tiny", arms, (0, 1, 2), criterion=Criterion(0.95, 3),
                 metric="test_bits_per_char", higher_is_better=False)


def _store(study, folder):
    config = study.main_config()
    with ResultsStore(folder / study.name / "runs", config) as store:
        for task, name, seed in config.runs():
            budget = study.arms[0].hp["steps"]
            v = SCORES[(budget, name)][seed]
            store.append(RunResult(config.key(task, name, seed), task, {"policy": "dense"}, "dense", seed,
                                   settings={"arm": name},
                                   metrics={"test_bits_per_char": v, "val_bits_per_char": v + 0.1,
                                            "test_accuracy": 0.5, "test_loss": v}))


def test_ladder_section_reads_the_window_convergence_and_verdicts(tmp_path):
    studies = (_study(100), _study(200))
    for s in studies:
        _store(s, tmp_path)
    ladder = Ladder("lm", "a tiny ladder", studies, (100, 200), converged_within=0.05,
                    validation_metric="val_bits_per_char", min_gap=0.5)
    text = ladder_section(ladder, tmp_path)
    lines = text.splitlines()
    assert "| 100 | 3.100 ± 0.100 | 4.100 ± 0.100 | +1.000 ± 0.000 | yes |" in lines
    # dense gains 0.1, 0.15, 0.2 bits/char from 100 to 200 steps: not converged at 100
    assert "| 100 | 200 | +0.150 ± 0.050 | no |" in lines
    dd = next(line for line in lines if line.startswith("| dd |"))
    # 100 steps: diffs +0.05 +0.1 +0.05 -> R 0.95, 0.9, 0.95: fails; 200 steps: R 1.0, 0.99, 1.0: passes
    assert "+0.067 ± 0.029; R 0.933 (0.900); fail" in dd and "; R 0.997 (0.990); pass" in dd
    assert "- 100 steps: the floor is 1.000 behind dense (smallest seed 1.000): the window is wide enough" in text
    assert "- Dense at 100 steps has not converged" in text
    assert "- 100 steps: 0 of 1 arms judged preserve quality." in text and "- 200 steps: 1 of 1 arms" in text
    assert "- Run at every budget: none keep their verdict; dd change it with the budget." in text
