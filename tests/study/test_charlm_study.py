"""The committed character-LM study: the published section and the recipe agree with the stored runs."""
from pathlib import Path

from minidd.study import charlm_study, recipes
from minidd.study.study_report import BEGIN, END

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "docs" / "results" / "charlm"


def test_the_recipe_learning_rate_is_the_stored_tuning_winner():
    assert charlm_study.tuned_lr(FOLDER) == recipes.config("charlm")["lr"]


def test_published_charlm_section_is_generated_from_the_stored_runs():
    name = charlm_study.LADDER.name
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    begin, end = BEGIN.format(name=name), END.format(name=name)
    published = begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
    assert published == charlm_study.ladder_section(charlm_study.LADDER, FOLDER)
    report = (FOLDER / "REPORT.md").read_text(encoding="utf-8")
    assert published in report
