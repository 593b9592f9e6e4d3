"""Draw the graph behind a tensor, with what the stash keeps for each op: Graphviz DOT text.

``print(minidd.to_dot(loss))`` and paste the text into any Graphviz viewer (``dot -Tsvg``): one
box per op (its name, the layer it ran in, and one line per saved entry: role, how it is stored,
bytes as the ledger counts them), one ellipse per leaf that requires grad, an arrow from each
input to the op that read it.  No dependency: the text is built here.
"""
from __future__ import annotations

import numpy as np

from .autograd import Context, Tensor
from .stash import store as _store


def to_dot(tensor: Tensor, values: bool = False, names=None) -> str:
    """Graphviz DOT text of the graph that produced ``tensor``, its saved entries on each op.

    Each saved entry is written ``e<k>: <role> <kind> <bytes> B`` (a parameter, kept by
    reference, is ``parameter parameter 0 B``); an entry shared by several
    ops (an input read by Q, K and V) keeps its ``e<k>`` so it is counted once.  The graph label
    totals the distinct entries' bytes: the stash this graph holds in the ledger.

    ``values=True`` also writes each leaf's value and gradient (small tensors in full, larger
    ones as min/mean/max) and the output's value.  ``names`` labels leaves: a module (its
    ``named_parameters()``) or a dict name -> tensor (``{"a": a, "b": b}``).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    label_of = _names(names)
    ids: dict[int, str] = {}
    entry_ids: dict[int, str] = {}
    nodes, edges = [], []
    total = 0

    def node_id(obj) -> str:
        return ids.setdefault(id(obj), f"n{len(ids)}")

    def leaf_node(t: Tensor) -> str:
        nid = node_id(t)
        lines = [f"{label_of.get(id(t), type(t).__name__)} {_shape(t.shape)} {t.dtype}"]
        if values:
            lines += [f"value {_value(t.data)}", f"grad {_value(t.grad)}"]
        nodes.append(f'  {nid} [shape=ellipse, label="{_escape(lines)}"];')
        return nid

    if tensor._node is None:
        leaf_node(tensor)
    else:
        stack, seen = [tensor._node], {id(tensor._node)}
        while stack:
            ctx = stack.pop()
            lines = [ctx.fn.name] + ([ctx.layer] if ctx.layer else [])
            if ctx._entries is None:
                lines.append("(saved arrays freed by backward)")
            else:
                for e in (e for e in ctx._entries if e is not None):  # None: a placeholder
                    if id(e) not in entry_ids:
                        entry_ids[id(e)] = f"e{len(entry_ids)}"
                        total += e.nbytes
                    lines.append(f"{entry_ids[id(e)]}: {e.role or e.kind} {e.kind} {e.nbytes:,} B")
            if ctx is tensor._node:
                lines.append(f"output {_shape(tensor.shape)} {tensor.dtype}"
                             + (f" = {_value(tensor.data)}" if values else ""))
            nodes.append(f'  {node_id(ctx)} [shape=box, label="{_escape(lines)}"];')
            for p in ctx.parents:
                if p is None:
                    continue
                if isinstance(p, Context):
                    if id(p) not in seen:
                        seen.add(id(p))
                        stack.append(p)
                    src = node_id(p)
                else:
                    src = ids.get(id(p)) or leaf_node(p)
                edges.append(f"  {src} -> {node_id(ctx)};")
    title = f"stash: {total:,} B in {len(entry_ids)} entries"
    return "\n".join(["digraph minidd {", f'  label="{title}";', "  rankdir=BT;",
                      '  node [fontname="Helvetica"];', *nodes, *edges, "}"]) + "\n"


def _names(names) -> dict:
    """id(tensor) -> name, from a module (``named_parameters``) or a dict name -> tensor."""
    if names is None:
        return {}
    pairs = names.named_parameters() if hasattr(names, "named_parameters") else None
    if pairs is None:
        if not isinstance(names, dict):
            raise TypeError(f"to_dot: names must be a module or a dict name -> Tensor, got "
                            f"{type(names).__name__}")
        pairs = names.items()
    return {id(t): str(n) for n, t in pairs if isinstance(t, Tensor)}


def _value(a) -> str:
    """A short text of an array: in full up to 6 elements, else its min, mean and max."""
    if a is None:
        return "None"
    a = np.asarray(a)
    if a.size <= 6:
        return np.array2string(a, precision=4, separator=", ").replace("\n", "")
    f = a.astype(np.float64)
    return f"min {f.min():.4g} mean {f.mean():.4g} max {f.max():.4g}"


def live_outputs() -> list:
    """The live tensors at the top of graphs that still hold saved arrays (what a missing
    ``backward()`` or ``del loss`` leaves): found by a scan of the garbage collector's objects,
    so only for error messages."""
    import gc
    held = [o for o in gc.get_objects() if isinstance(o, Tensor) and o._node is not None
            and o._node._entries]
    below = set()
    for t in held:
        stack = [p for p in t._node.parents if isinstance(p, Context)]
        while stack:
            node = stack.pop()
            if id(node) not in below:
                below.add(id(node))
                stack.extend(p for p in node.parents if isinstance(p, Context))
    return [t for t in held if id(t._node) not in below]


def _outputs_text() -> str:
    """'the output of linear in 'fc' (8, 4)' and the like: the live-graph refusal's subject."""
    outs = live_outputs()
    if not outs:
        return "a tensor no longer reachable from Python (a reference cycle)"
    desc = [f"{t._node.fn.name}" + (f" in '{t._node.layer}'" if t._node.layer else "")
            + f" {tuple(t.shape)}" for t in outs[:3]]
    more = f" and {len(outs) - 3} more" if len(outs) > 3 else ""
    return f"the output of {', '.join(desc)}{more}"


_store.describe_live_graph = _outputs_text


def _shape(shape) -> str:
    return str(tuple(shape))


def _escape(lines) -> str:
    return "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
