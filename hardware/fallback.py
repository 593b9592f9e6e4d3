"""Ways to fit a batch that does not fit in HBM, each charged what it costs.

At a fixed batch a policy whose footprint exceeds HBM uses the cheapest way to fit that real
frameworks offer (any policy may use them):

``none``
    It fits as it is.
``selective_attention``
    Recompute the attention core (scores, softmax, attention dropout) during backward instead
    of stashing its ``a s^2`` tensors (Korthikanti et al., MLSys 2023).  Cost: the core's
    forward work again.
``selective``
    The attention core plus GELU and LayerNorm outputs (the inputs of the feed-forward and Q/K/V
    projections), recomputed from the GELU and LayerNorm inputs that are stashed anyway
    (Tempo, Andoorveedu et al., NeurIPS 2022).  Those projections' weight gradients then read a
    dense recomputed input, whatever the policy would have stored.
``full_checkpoint``
    Keep only each block's input; rerun the whole block's forward during backward (plus one
    block's stash alive while it is recomputed).
``micro_batch``
    Gradient accumulation: ``u = ceil(batch / b)`` micro-batches of the largest ``b`` that fits;
    every micro-batch after the first reads the running gradient sum; the optimizer runs once.
    Cost: smaller GEMMs (weight loads and fills amortised over fewer rows) and weights re-read
    per micro-batch.
``host_offload``
    Move the part of the stash that does not fit to host memory over the host link
    (``ChipConfig.host_link_bytes_per_s``, an assumption) during forward and back during
    backward, overlapped with compute as vDNN does (Rhu et al., MICRO 2016), double-buffered
    per layer: layer i's stash goes out while layer i + 1 runs its forward and must be out
    before layer i + 2 starts; it comes back while layer i + 1 runs its backward.  A layer's
    exposed transfer is ``max(0, transfer - the next layer's forward (or backward) time)``.
    The offloaded bytes are placed where they hide best: first into every layer's forward
    window, then its backward window (twice as long), then anywhere; with ``L`` the link rate,
    ``E`` the excess bytes, ``s_i`` layer i's stash and ``f_i`` / ``b_i`` the next layer's
    forward / backward time (its forward phase; its dX, dW and recomputation phases), the exposed
    time is ``max(0, E/L - sum_i min(s_i/L, f_i))`` in forward plus
    ``max(0, E/L - sum_i min(s_i/L, b_i))`` in backward.  A compressed stash moves
    fewer bytes (cDMA's argument, Rhu et al., HPCA 2018).

Each is modelled by :func:`hardware.simulate.simulate_step` on the changed step, never as a
constant.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .compression import Policy
from .config import ChipConfig
from .simulate import StepReport, max_batch, simulate_step
from .workload import Workload

FALLBACKS = ("none", "selective_attention", "selective", "full_checkpoint", "micro_batch", "host_offload")
_RECOMPUTE = {"none": (), "selective_attention": ("attention",),
              "selective": ("attention", "pointwise"), "full_checkpoint": ("block",)}


@dataclass(frozen=True)
class FittedStep:
    """One policy at one batch, made to fit by ``method``."""

    policy: str
    batch: int
    method: str
    seconds: float
    footprint_bytes: int     #: peak HBM bytes with the method applied
    detail: str              #: what the method did (micro-batches, offloaded bytes, ...)
    report: StepReport       #: the underlying step (for micro-batching: one full micro-batch)

    @property
    def throughput(self) -> float:
        return self.batch / self.seconds


def _recompute(chip, workload, policy, batch, method, timing, dataflow):
    r = simulate_step(chip, workload, policy, batch, timing, dataflow, recompute=_RECOMPUTE[method])
    if not r.fits:
        return None
    what = "" if method == "none" else f"recomputes {', '.join(r.recompute)}; " \
        f"{sum(x.recomputed for x in r.layers)} layers rerun"
    return FittedStep(policy.label, batch, method, r.seconds, r.footprint.total, what, r)


def _micro_batch(chip, workload, policy, batch, timing, dataflow):
    b = min(max_batch(chip, workload, policy), batch)
    if b == 0:
        return None
    u = math.ceil(batch / b)
    if u == 1:  # it fits as it is: not a fallback
        return None
    sizes = [b] * (u - 1) + [batch - b * (u - 1)]
    steps = [simulate_step(chip, workload, policy, size, timing, dataflow, accumulate=i > 0)
             for i, size in enumerate(sizes)]
    once = steps[0].optimizer_cycles + chip.step_overhead_cycles  # one update, one step
    cycles = sum(s.cycles for s in steps) - (u - 1) * once
    return FittedStep(policy.label, batch, "micro_batch", cycles / chip.clock_hz,
                      steps[0].footprint.total, f"{u} micro-batches of up to {b}", steps[0])


def _host_offload(chip, workload, policy, batch, timing, dataflow):
    r = simulate_step(chip, workload, policy, batch, timing, dataflow)
    excess = r.footprint.total - chip.hbm_bytes
    if excess <= 0 or excess > r.footprint.stash:
        return None
    link = excess / chip.host_link_bytes_per_cycle
    stash = [x.stash_bytes / chip.host_link_bytes_per_cycle for x in r.layers]
    fwd_next = [x.phases[0].cycles for x in r.layers[1:]] + [0.0]  # the last layer has no next one
    back_next = [x.cycles - x.phases[0].cycles for x in r.layers[1:]] + [0.0]
    out = max(0.0, link - sum(min(s, f) for s, f in zip(stash, fwd_next)))
    back = max(0.0, link - sum(min(s, b) for s, b in zip(stash, back_next)))
    cycles = r.cycles + out + back
    return FittedStep(policy.label, batch, "host_offload", cycles / chip.clock_hz, chip.hbm_bytes,
                      f"{excess / 2**30:.2f} GiB of stash to host and back, "
                      f"{link / chip.clock_hz * 1e3:.0f} ms each way, "
                      f"{(out + back) / chip.clock_hz * 1e3:.0f} ms exposed", r)


def fallback_step(chip: ChipConfig, workload: Workload, policy: Policy, batch: int, method: str,
                  timing_model: str = "tpu", dataflow: str = "ws") -> FittedStep | None:
    """``policy`` at ``batch`` made to fit by ``method`` (one of :data:`FALLBACKS`), or None
    when that method does not make it fit (or, for ``host_offload``, is not needed)."""
    if method not in FALLBACKS:
        raise ValueError(f"fallback_step: method must be one of {FALLBACKS}, got {method!r}")
    if method in _RECOMPUTE:
        return _recompute(chip, workload, policy, batch, method, timing_model, dataflow)
    if method == "micro_batch":
        return _micro_batch(chip, workload, policy, batch, timing_model, dataflow)
    return _host_offload(chip, workload, policy, batch, timing_model, dataflow)


def fit_step(chip: ChipConfig, workload: Workload, policy: Policy, batch: int,
             methods=FALLBACKS, timing_model: str = "tpu", dataflow: str = "ws") -> FittedStep:
    """The cheapest of ``methods`` that makes ``policy`` fit at ``batch``."""
    options = [f for f in (fallback_step(chip, workload, policy, batch, m, timing_model, dataflow)
                           for m in methods) if f is not None]
    if not options:
        raise ValueError(f"fit_step: {policy.label} at batch {batch} fits by none of {tuple(methods)}")
    return min(options, key=lambda f: f.seconds)
