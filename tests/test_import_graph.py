"""minidd's modules import each other without circles, except autograd <-> functional (Tensor's
operators call the ops, the ops build Tensors): the one circle the design allows."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "minidd"
ALLOWED = {"minidd.autograd", "minidd.functional"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _edges(mods) -> dict[str, set]:
    def owner(name):  # the module that defines ``name`` (a module or something in one)
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges = {m: set() for m in mods}
    for m, path in mods.items():
        package = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                found = [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else owner(target)
                         for a in node.names]
            elif isinstance(node, ast.Import):
                found = [owner(a.name) for a in node.names]
            else:
                continue
            edges[m].update(f for f in found if f and f != m)
    return edges


def _circles(edges) -> list[set]:
    """Strongly connected components with more than one module (Tarjan, iterative enough here)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v), on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_the_only_import_circle_is_autograd_and_functional():
    edges = _edges(_modules())
    assert "minidd.autograd" in edges["minidd.functional.linalg"]   # the reader sees imports
    assert "minidd.atomic" in edges["minidd.study.sweep"]
    circles = _circles(edges)
    for circle in circles:
        rest = {m for m in circle if not m.startswith("minidd.functional")} - ALLOWED
        assert not rest, f"import circle through {sorted(rest)}: {sorted(circle)}"
    assert len(circles) <= 1


def test_a_circle_is_found():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(edges) == [{"a", "b", "c"}]


ENTRY_POINTS = {"minidd.__main__"}   # ``python -m minidd`` runs the study's main job


def test_no_framework_module_imports_the_study():
    """``minidd.study`` is a leaf: the framework (engine, stash, nn, data, ...) never imports it."""
    edges = _edges(_modules())
    assert "minidd.study.recipes" in edges["minidd.study.measure"]   # the reader sees study imports
    framework = [m for m in edges if not m.startswith("minidd.study") and m not in ENTRY_POINTS]
    wrong = {m: sorted(e for e in edges[m] if e.startswith("minidd.study")) for m in framework}
    assert not {m: e for m, e in wrong.items() if e}, "framework modules import the study"


def test_the_leaf_check_sees_a_wrong_import():
    edges = {"minidd.nn": {"minidd.study.sweep"}, "minidd.study.sweep": {"minidd.nn"}}
    framework = [m for m in edges if not m.startswith("minidd.study")]
    assert [m for m in framework if any(e.startswith("minidd.study") for e in edges[m])] == ["minidd.nn"]
