"""minidd._check: a wrong type is a TypeError, a wrong value a ValueError, each naming the argument;
and no module of minidd imports another module's private name."""
import ast
from pathlib import Path

import numpy as np
import pytest

from minidd import _check

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("call, error, message", [
    (lambda: _check.integer("3", "f: n", least=1), TypeError, "f: n must be an int >= 1, got '3'"),
    (lambda: _check.integer(2.0, "f: n", least=1), TypeError, "f: n must be an int >= 1, got 2.0"),
    (lambda: _check.integer(True, "f: n"), TypeError, "f: n must be an int, got True"),
    (lambda: _check.integer(0, "f: n", least=1), ValueError, "f: n must be an int >= 1, got 0"),
    (lambda: _check.integer(9, "f: k", 1, 8), ValueError, r"f: k must be an int in \[1, 8\], got 9"),
    (lambda: _check.positive_int(0, "f: steps"), ValueError, "f: steps must be a positive int, got 0"),
    (lambda: _check.number("0.1", "f: lr", 0, low_open=True), TypeError, "f: lr must be a positive number"),
    (lambda: _check.number(np.bool_(True), "f: lr"), TypeError, "f: lr must be a finite number, got "),
    (lambda: _check.number(float("nan"), "f: x"), ValueError, "f: x must be a finite number, got nan"),
    (lambda: _check.number(0.0, "f: lr", 0, low_open=True), ValueError, "f: lr must be a positive number"),
    (lambda: _check.fraction(1.0, "f: drop"), ValueError, r"f: drop must be a number in \[0, 1\), got 1.0"),
    (lambda: _check.number(2, "f: s", 0, 1), ValueError, r"f: s must be a number in \[0, 1\], got 2"),
    (lambda: _check.flag("yes", "f: resume"), TypeError, "f: resume must be True or False, got 'yes'"),
    (lambda: _check.choice("rwo", "f: mode", ("row", "tensor")), ValueError,
     r"f: mode must be one of \('row', 'tensor'\), got 'rwo' \(did you mean 'row'\?\)"),
    (lambda: _check.choice(3, "f: mode", ("row", "tensor")), TypeError, "f: mode must be one of"),
    (lambda: _check.rng(0, "f: rng"), TypeError, "f: rng must be a numpy.random.Generator, got int"),
])
def test_a_wrong_type_is_a_type_error_and_a_wrong_value_a_value_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_checks_return_the_value_normalised():
    assert _check.integer(np.int64(3), "n", least=1) == 3 and type(_check.integer(np.int64(3), "n")) is int
    assert type(_check.number(np.float32(0.5), "x")) is float and _check.fraction(0, "p") == 0.0
    assert _check.number(float("inf"), "x", finite=False) == float("inf")
    assert _check.flag(np.bool_(False), "b") is False and _check.choice("row", "m", ("row",)) == "row"


def _private_names(source: str, here: Path) -> list:
    """``(line, name)`` of every ``from X import _name`` in ``source`` (a module in folder ``here``)
    whose ``_name`` is not itself a module: minidd's package-private modules such as ``_check``
    may be imported; another module's private name may not."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                name = alias.name
                if name.startswith("_") and not name.startswith("__") and not any(
                        (folder / f"{name}.py").exists() for folder in (here, here.parent, ROOT / "minidd")):
                    found.append((node.lineno, name))
    return found


def test_no_module_imports_another_modules_private_name():
    found = [f"{p.relative_to(ROOT)}:{line} imports {name}"
             for p in sorted((ROOT / "minidd").rglob("*.py"))
             for line, name in _private_names(p.read_text(), p.parent)]
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_the_private_import_check_sees_one():
    here = ROOT / "minidd"
    assert _private_names("from .optim import Optimizer, _positive\n", here) == [(1, "_positive")]
    assert _private_names("from . import _check\nfrom .stash import guard as _guard\n", here) == []
