"""to_dot: the graph as Graphviz DOT text, with the stash entries of every op."""
import re

import numpy as np
import pytest

import minidd
from minidd import Tensor, functional as F, nn, stash

NODE = re.compile(r'^  (n\d+) \[shape=(box|ellipse), label="(.*)"\];$')
EDGE = re.compile(r"^  (n\d+) -> (n\d+);$")
ENTRY = re.compile(r"(e\d+): (\w+) (\w+) ([\d,]+) B")


def _parse(dot):
    lines = dot.splitlines()
    assert lines[0] == "digraph minidd {" and lines[-1] == "}"
    nodes = {m.group(1): (m.group(2), m.group(3)) for m in map(NODE.match, lines) if m}
    edges = [m.groups() for m in map(EDGE.match, lines) if m]
    body = [ln for ln in lines[1:-1] if not NODE.match(ln) and not EDGE.match(ln)]
    assert len(body) == 3, body           # the graph label, rankdir and the node defaults
    return nodes, edges


def test_dot_has_one_node_per_op_and_leaf_and_one_edge_per_input(rng):
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = nn.Parameter(rng.standard_normal((2, 3)))
    loss = F.tanh(F.linear(x, w)).sum()
    nodes, edges = _parse(minidd.to_dot(loss))
    ops = sorted(label.split("\\n")[0] for shape, label in nodes.values() if shape == "box")
    leaves = sorted(label for shape, label in nodes.values() if shape == "ellipse")
    assert ops == ["linear", "sum", "tanh"]
    assert leaves == ["Parameter (2, 3) float32", "Tensor (4, 3) float64"]
    assert len(edges) == 4 and all(a in nodes and b in nodes for a, b in edges)
    by_op = {label.split("\\n")[0]: n for n, (_, label) in nodes.items()}
    assert (by_op["linear"], by_op["tanh"]) in edges and (by_op["tanh"], by_op["sum"]) in edges
    assert "output () float64" in nodes[by_op["sum"]][1]
    loss.backward()
    assert "freed by backward" in minidd.to_dot(loss)


@pytest.mark.parametrize("policy", [stash.Dense(), stash.ZeroValue(), stash.DeferredDropout(drop=0.5)])
def test_entries_on_the_graph_are_the_ledgers(policy, rng):
    model = nn.MiniBERT(20, dim=8, heads=2, layers=1, ff_dim=16, dropout=0.0, rng=rng)
    with stash.use(policy):
        loss = F.cross_entropy(model(rng.integers(0, 20, (2, 5))), np.array([0, 1]))
        dot = minidd.to_dot(loss)
        rows = stash.ledger().rows()
        entries = {}
        for m in ENTRY.finditer(dot):
            entries[m.group(1)] = (m.group(2), m.group(3), int(m.group(4).replace(",", "")))
        # Parameters are kept by reference and are not ledger entries (0 bytes)
        drawn = sorted(e for e in entries.values() if e[0] != "parameter")
        assert drawn == sorted((r.role, r.kind, r.nbytes) for r in rows)
        total = sum(e[2] for e in entries.values())
        assert total == stash.ledger().current
        assert f'label="stash: {total:,} B in {len(entries)} entries"' in dot
        loss.backward()


def test_a_leaf_alone_and_bad_input():
    nodes, edges = _parse(minidd.to_dot(Tensor([1.0, 2.0], requires_grad=True)))
    assert list(nodes.values()) == [("ellipse", "Tensor (2,) float32")] and edges == []
    with pytest.raises(TypeError, match="to_dot: expected a Tensor, got ndarray"):
        minidd.to_dot(np.ones(2))


def test_values_label_leaves_with_names_values_and_gradients():
    a, b = Tensor(2.0, requires_grad=True), Tensor(-3.0, requires_grad=True)
    y = (a * b).tanh()
    before = minidd.to_dot(y, values=True, names={"a": a, "b": b})
    assert 'label="a () float32\\nvalue 2.\\ngrad None"' in before
    y.backward()
    dot = minidd.to_dot(y, values=True, names={"a": a, "b": b})
    assert f"grad {b.grad.item():.4e}"[:12] in dot and "output () float32 = -1." in dot
    assert "value" not in minidd.to_dot(y)


def test_values_name_a_models_parameters_and_summarise_large_ones(rng):
    from minidd import nn
    model = nn.MLP((4, 8, 2), rng=rng)
    loss = model(Tensor(np.ones((3, 4), np.float32))).sum()
    loss.backward()
    dot = minidd.to_dot(loss, values=True, names=model)
    w = model.layers[0].weight
    assert (f"layers.0.weight (8, 4) float32\\nvalue min {w.data.min():.4g} mean "
            f"{w.data.astype(np.float64).mean():.4g}") in dot
    assert "layers.2.bias (2,) float32\\nvalue [" in dot
    with pytest.raises(TypeError, match="to_dot: names must be a module or a dict"):
        minidd.to_dot(loss, names=["w"])
