"""Every number docs/results.md publishes for a study comes from its committed run records."""
import re
from pathlib import Path

import pytest

from minidd.study import study_report
from minidd.study.studies import STUDIES

ROOT = Path(__file__).resolve().parents[2]
RESULTS_MD = ROOT / "docs" / "results.md"


def _published(text: str, name: str) -> str:
    begin, end = study_report.BEGIN.format(name=name), study_report.END.format(name=name)
    assert begin in text, f"{RESULTS_MD} has no generated {name} section"
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end + "\n"


@pytest.mark.parametrize("name", ["mnist1d"])
def test_the_results_page_section_is_what_the_stored_records_give(name):
    study, folder = STUDIES[name], ROOT / "docs" / "results" / name
    assert (folder / "runs" / "runs.jsonl").is_file(), f"no committed run records in {folder}"
    assert _published(RESULTS_MD.read_text(encoding="utf-8"), name) == study_report.results_section(study, folder), (
        f"{RESULTS_MD}'s {name} section differs from its run records; regenerate it: python -m "
        f"minidd.study.studies {name} --out docs/results/{name} --report-only --results-md docs/results.md")


def test_the_check_catches_one_changed_number():
    text = RESULTS_MD.read_text(encoding="utf-8")
    dense = re.search(r"- mnist1d_mlp: dense (\d+\.\d\d)", text)
    altered = text.replace(dense.group(0), dense.group(0).replace(dense.group(1), "99.99"), 1)
    assert altered != text
    assert _published(altered, "mnist1d") != study_report.results_section(
        STUDIES["mnist1d"], ROOT / "docs" / "results" / "mnist1d")


def test_the_readme_headline_is_what_the_stored_records_give():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _published(text, "headline") == study_report.readme_headline(
        STUDIES["mnist1d"], ROOT / "docs" / "results" / "mnist1d"), (
        "README.md's headline table differs from docs/results/mnist1d; regenerate it: python docs/update_results.py")
