"""The whole-stash run records (docs/results/wholestash, from benchmarks/wholestash.py) and the
tables docs/results.md prints from them."""
import importlib.util
from pathlib import Path

import pytest

from hardware.accounting import RECORDS, accounting_section

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("wholestash", ROOT / "benchmarks" / "wholestash.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RECORDS_LIST = _script().load(RECORDS)


def test_there_are_records_for_every_task():
    assert {r["task"] for r in RECORDS_LIST} >= {"mlm", "bert"}


@pytest.mark.parametrize("record", RECORDS_LIST, ids=lambda r: f"{r['task']}-{r['variant']}-{r['seed']}")
def test_the_ledger_equals_tracemalloc_within_5_percent(record):
    assert abs(record["tracemalloc_stash_bytes"] - record["ledger_bytes"]) <= 0.05 * record["ledger_bytes"]


def test_the_docs_print_the_tables_the_records_give():
    text = (ROOT / "docs" / "results.md").read_text()
    for line in _script().table(RECORDS_LIST) + accounting_section(RECORDS):
        assert line in text, line
