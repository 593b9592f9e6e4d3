"""Every script in examples/ runs here at a small size, with and without matplotlib."""
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import minidd

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def run(name, *argv):
    """Load ``examples/<name>.py`` as a module and call its ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main([str(a) for a in argv])


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make ``import matplotlib`` fail, as on an install without the figures extra."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def _figure_made(path) -> bool:
    """With matplotlib: ``path`` is a PNG file.  Without it: no file was written."""
    if not HAVE_MATPLOTLIB:
        return path is None or not Path(path).exists()
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_neuron_gradients_match_finite_differences_and_the_chain_rule():
    out = run("01_neuron", "--values", 0.7, -1.3, 0.4)
    o = np.tanh(0.7 * -1.3 + 0.4)
    assert out["output"] == pytest.approx(o, rel=1e-12)
    for name, grad, fd, by_hand in out["rows"]:
        assert grad == pytest.approx(fd, rel=1e-7), name
        assert grad == pytest.approx(by_hand, rel=1e-12), name


def test_custom_op_passes_check_grad_and_the_wrong_one_is_caught(monkeypatch):
    monkeypatch.setattr(minidd.Function, "registry", dict(minidd.Function.registry))  # example ops leave
    out = run("02_custom_op", "--seed", 3)
    assert out["errors"] and all(e < 1e-5 for e in out["errors"].values())
    assert out["wrong_caught"] is not None and "input 0" in out["wrong_caught"]
    np.testing.assert_allclose(out["grad"], out["expected_grad"], rtol=1e-12)


def test_spirals_mlp_beats_chance_and_draws_its_boundary(tmp_path):
    out = run("03_spirals", "--n", 200, "--steps", 100, "--hidden", 24, "--out", tmp_path)
    assert out["accuracy"]["test"] > 0.8          # chance is 1/3; seeds 0-3 give 93-97%
    assert _figure_made(out["figure"])


def test_spirals_without_matplotlib_prints_how_to_get_figures(tmp_path, no_matplotlib, capsys):
    out = run("03_spirals", "--n", 60, "--steps", 5, "--hidden", 8, "--out", tmp_path)
    assert out["figure"] is None and not list(tmp_path.iterdir())
    assert 'pip install ".[figures]"' in capsys.readouterr().out


@pytest.mark.parametrize("model", ["bert", "mlp"])
def test_memory_table_deferred_dropout_shrinks_weight_grad_inputs(model, tmp_path):
    out = run("04_memory", "--model", model, "--batch", 4, "--size", 8, "--out", tmp_path)
    dense, zv, dd = out["dense"], out["zero_value"], out["dd:0.9"]
    assert sum(dense["layer"].values()) == dense["total"] == sum(dense["role"].values())
    assert dense["total"] > zv["total"] > dd["total"]
    assert dd["role"]["weight_grad_input"] < zv["role"]["weight_grad_input"] <= dense["role"]["weight_grad_input"]
    if model == "bert":   # GELU: no exact zeros for ZeroValue to remove in the linear inputs
        assert zv["role"]["weight_grad_input"] == dense["role"]["weight_grad_input"]
    assert _figure_made(tmp_path / f"memory_{model}.png")


def test_hardware_example_traces_the_trained_model(tmp_path):
    out = run("05_hardware", "--steps", 3, "--batch", 4, "--seq", 8, "--dim", 16, "--out", tmp_path)
    kinds = {layer["kind"] for layer in out["trace"]["layers"]}
    assert kinds == {"gemm", "vector"}
    assert out["ours"].stash_reduction > 1.0 and out["paper"].proposed_own.batch > out["paper"].baseline_own.batch
    assert _figure_made(tmp_path / "hardware_footprint.png")


ROOT = EXAMPLES.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
REFERENCE = re.compile(r"`([\w./]+\.py):(\d+)-(\d+)` \(`([^`]+)`\)")


def test_tutorial_line_references_point_at_what_they_name():
    """Each ``path:first-last`` (``anchor``) in the tutorial: ``anchor`` is on line ``first``."""
    refs = REFERENCE.findall(TUTORIAL.read_text())
    assert len(refs) >= 20
    for path, first, last, anchor in refs:
        lines = (ROOT / path).read_text().splitlines()
        first, last = int(first), int(last)
        assert 1 <= first <= last <= len(lines), f"{path}:{first}-{last} is outside the file"
        now = [i + 1 for i, line in enumerate(lines) if anchor in line]
        assert anchor in lines[first - 1], \
            f"docs/tutorial.md: {path}:{first}-{last} should start at {anchor!r}, now on line(s) {now}: " \
            "run `python docs/update_refs.py`"


def test_tutorial_names_existing_examples_and_figures():
    text = TUTORIAL.read_text()
    for name in set(re.findall(r"examples/(\w+)\.py", text)):
        assert (EXAMPLES / f"{name}.py").exists(), name
    figures = re.findall(r"\]\((figures/[\w.]+)\)", text)
    assert figures
    for fig in figures:
        assert (TUTORIAL.parent / fig).exists(), f"{fig}: run python docs/make_figures.py"


def _snippets():
    text = TUTORIAL.read_text()
    return re.findall(r'python -c "(.*?)"', text, re.S)


def test_tutorial_check_commands_run(capsys, monkeypatch):
    """Every ``python -c`` check in the tutorial runs; only the walk's third backward raises."""
    monkeypatch.setattr(minidd.Function, "registry", dict(minidd.Function.registry))  # ops defined there
    snippets = _snippets()
    assert len(snippets) >= 8
    for code in snippets:
        try:
            exec(compile(code, "<tutorial>", "exec"), {})
        except RuntimeError as e:
            assert "freed" in str(e) and "retain_graph" in code, code
        assert capsys.readouterr().out.strip(), f"no output from:\n{code}"


def test_update_refs_moves_a_stale_reference_to_its_anchor():
    import importlib.util
    spec = importlib.util.spec_from_file_location("update_refs", ROOT / "docs" / "update_refs.py")
    update_refs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(update_refs)
    lines = (ROOT / "minidd/autograd.py").read_text().splitlines()
    at = next(i + 1 for i, line in enumerate(lines) if "class Tensor:" in line)
    stale = f"see `minidd/autograd.py:{at + 7}-{at + 17}` (`class Tensor:`) and `minidd/autograd.py:1-3` (`no such anchor`)"
    new, said = update_refs.updated(stale)
    assert f"`minidd/autograd.py:{at}-{at + 10}` (`class Tensor:`)" in new
    assert any("not found" in s for s in said) and "`minidd/autograd.py:1-3`" in new
