"""Peak HBM bytes over a whole training step, by liveness.

The step is a sequence of events: every layer's forward in order, every layer's backward in
reverse order, then the optimizer.  At each event HBM holds

* **persistent** bytes: fp32 weights, fp32 weight gradients and the optimizer state (the whole
  step; the gradient buffers are allocated once);
* the **stash kept so far**: the stored bytes of every layer whose forward has run and whose
  backward has not (in forward at layer ``i``: layers ``0..i``; in backward at layer ``i``: layers
  ``0..i``, layer ``i``'s being read); with per-block checkpointing a block's input is kept from
  the block's first forward to its last backward;
* **live tensors**: in forward, every activation that has been produced and still has a consumer
  to run (layer ``j``'s output is live at events ``j..last(j)``, ``last(j)`` its last consumer;
  the model input until its last consumer); in backward, the same set as activation gradients
  (``dY`` of layer ``j`` exists from the backward of ``last(j)`` until layer ``j``'s backward has
  consumed it; the model input has none), plus the dense tensors recomputed for backward: a
  recomputation group (a class and a block) is rerun when backward reaches its last layer, and
  each rerun tensor lives until its own layer's backward.

Activations and their gradients are ``act_bytes`` per element.  A layer without ``inputs`` (a
minidd trace) reads the previous layer's output.  An unencoded stash item is counted apart from
the activation it may alias while that activation is still live (at most one layer's inputs over
a short window: an upper bound).  The footprint is the event with the largest total.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Footprint:
    """HBM bytes at the step's peak event; ``stash_total`` is the whole stash at the
    forward/backward boundary (what a stash reduction compares)."""

    weights: int
    gradients: int
    optimizer: int
    stash: int          #: stash kept at the peak
    live: int           #: activations or their gradients, and recomputed tensors, at the peak
    stash_total: int = 0
    peak_at: str = ""   #: the peak event, e.g. "backward conv2"

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.stash + self.live


@dataclass(frozen=True)
class MemoryPoint:
    phase: str          #: forward, backward or optimizer
    layer: str
    stash: int
    live: int
    total: int


def last_uses(layers) -> tuple[list[int], dict]:
    """``last[j]``: the index of the last layer that reads layer ``j``'s output (``j`` itself if
    none does); and ``{"input": last index reading the model input}`` (empty if none)."""
    index = {layer.name: i for i, layer in enumerate(layers)}
    last = list(range(len(layers)))
    model_input = {}
    for i, layer in enumerate(layers):
        sources = layer.inputs or ((layers[i - 1].name,) if i else ())
        for src in sources:
            if src == "input":
                model_input["input"] = i
            else:
                last[index[src]] = max(last[index[src]], i)
    return last, model_input


def _live_activations(layers, batch: int, act: int) -> tuple[list[int], list[int]]:
    """Per event index: bytes of live activations (forward) and of live activation gradients
    (backward: the same set without the model input)."""
    n = len(layers)
    last, model_input = last_uses(layers)
    delta = [0] * (n + 1)
    for j, layer in enumerate(layers):
        size = layer.out_elements * batch * act
        delta[j] += size
        delta[last[j] + 1] -= size
    grads, running = [], 0
    for i in range(n):
        running += delta[i]
        grads.append(running)
    acts = list(grads)
    if model_input:
        first = layers[0]
        size = (first.in_elements[0] if first.in_elements else first.m * first.k) * batch * act
        for i in range(model_input["input"] + 1):
            acts[i] += size
    return acts, grads


def memory_events(layers, batch: int, act: int, persistent: int, stored: list[int],
                  recomputed: list[tuple[int, int]]) -> list[MemoryPoint]:
    """Every event of the step.  ``stored[i]``: layer ``i``'s kept stash bytes (with its block's
    checkpoint); ``recomputed[i]``: ``(dense bytes rerun for layer i's backward, index of the
    layer whose backward reruns them)``."""
    acts, grads = _live_activations(layers, batch, act)
    n = len(layers)
    start, end = [0] * n, [0] * n  # rerun bytes: alive at backward events trigger down to j
    for j, (size, trigger) in enumerate(recomputed):
        start[trigger] += size
        end[j] += size
    points, kept = [], 0
    for i, layer in enumerate(layers):
        kept += stored[i]
        points.append(MemoryPoint("forward", layer.name, kept, acts[i], persistent + kept + acts[i]))
    alive = 0
    for i in range(n - 1, -1, -1):
        alive += start[i]
        live = grads[i] + alive
        points.append(MemoryPoint("backward", layers[i].name, kept, live, persistent + kept + live))
        alive -= end[i]
        kept -= stored[i]
    points.append(MemoryPoint("optimizer", "", 0, 0, persistent))
    return points
