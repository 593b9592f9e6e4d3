"""Draw the graph behind a tensor, with what the stash keeps for each op: Graphviz DOT text.

``print(minidd.to_dot(loss))`` and paste the text into any Graphviz viewer (``dot -Tsvg``): one
box per op (its name, the layer it ran in, and one line per saved entry: role, how it is stored,
bytes as the ledger counts them), one ellipse per leaf that requires grad, an arrow from each
input to the op that read it.  No dependency: the text is built here.
"""
from __future__ import annotations

from .autograd import Context, Tensor


def to_dot(tensor: Tensor) -> str:
    """Graphviz DOT text of the graph that produced ``tensor``, its saved entries on each op.

    Each saved entry is written ``e<k>: <role> <kind> <bytes> B`` (a parameter, kept by
    reference, is ``parameter parameter 0 B``); an entry shared by several
    ops (an input read by Q, K and V) keeps its ``e<k>`` so it is counted once.  The graph label
    totals the distinct entries' bytes: the stash this graph holds in the ledger.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    ids: dict[int, str] = {}
    entry_ids: dict[int, str] = {}
    nodes, edges = [], []
    total = 0

    def node_id(obj) -> str:
        return ids.setdefault(id(obj), f"n{len(ids)}")

    def leaf_node(t: Tensor) -> str:
        nid = node_id(t)
        kind = type(t).__name__
        nodes.append(f'  {nid} [shape=ellipse, label="{kind} {_shape(t.shape)} {t.dtype}"];')
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
                lines.append(f"output {_shape(tensor.shape)} {tensor.dtype}")
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


def _shape(shape) -> str:
    return str(tuple(shape))


def _escape(lines) -> str:
    return "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
