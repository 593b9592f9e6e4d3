"""The house keeps its functions short: none in minidd/ is longer than 60 lines (def to last line,
docstring included)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 60


def long_functions(source: str, limit: int = LIMIT) -> list:
    """``(name, first line, length)`` of every function or method in ``source`` longer than ``limit``."""
    return [(n.name, n.lineno, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > limit]


def test_no_function_in_minidd_is_longer_than_60_lines():
    found = [f"{p.relative_to(ROOT)}:{line} {name} is {length} lines"
             for p in sorted((ROOT / "minidd").rglob("*.py"))
             for name, line, length in long_functions(p.read_text())]
    assert not found, f"functions over {LIMIT} lines (split them):\n" + "\n".join(found)


def test_the_length_check_sees_a_long_function_and_a_long_method():
    body = "".join(f"    x{i} = {i}\n" for i in range(LIMIT))
    source = f"def long():\n{body}\n\nclass C:\n    def short(self):\n        return 1\n\n" \
             f"    def method(self):\n" + "".join(f"    {line}" for line in body.splitlines(True))
    assert long_functions(source) == [("long", 1, LIMIT + 1), ("method", LIMIT + 8, LIMIT + 1)]
