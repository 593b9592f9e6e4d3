"""One training step of a workload on a chip under a stash policy, layer by layer.

The step runs in three phases: every layer's stash cost under the policy, then each layer's
time (one function per layer kind: :func:`_gemm_layer`, :func:`_bmm_layer`,
:func:`_vector_layer`), then the optimizer update as its own HBM-bound phase after backward.

Per layer: the forward GEMM, the input-gradient GEMM (skipped for a layer that reads the model
input), the weight-gradient GEMM (which reads the stash, :mod:`hardware.codesign`), vector-unit
work, HBM traffic and the compression engine.  A layer takes the longest of compute, HBM and
engine time (they overlap).  Compute is divided by the chip's calibrated efficiencies and pays a
fixed overhead per kernel (:mod:`hardware.calibration`).

HBM traffic counted per layer: forward reads of inputs and weights and the write of the output;
the stash write (only where the engine writes a compressed copy; an uncompressed stash stays
where the forward pass put it) and any re-read for an exact selection pass; backward reads of
the output gradient, the weights and the stash, writes of the input and weight gradients (with
gradient accumulation also a read of the running sum).  The optimizer phase reads the fp32
weight, gradient and two Adam moments and writes weight and moments (28 bytes per parameter;
30 with the bf16 copy of mixed precision).

``recompute`` leaves tagged stash items unstored and reruns their layers' forward work during
backward (:mod:`hardware.workload` tags; ``"block"``: full per-block checkpointing).

The footprint is the peak over the step's forward, backward and optimizer events
(:mod:`hardware.liveness`): weights, gradients and optimizer state, the stash kept so far, and
the live activations, activation gradients and recomputed tensors.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .codesign import dw_gemm, row_gather_bytes
from .compression import BASELINE, Policy, StashCost, engine_phases, stash_cost
from .config import ChipConfig
from .liveness import Footprint, memory_events
from .memory import bound, gemm_hbm_bytes
from .systolic import DATAFLOWS, TIMING_MODELS, core_gemm_cycles
from .workload import Layer, Workload

RECOMPUTE = ("attention", "pointwise", "block")
#: assumption: vector FLOPs of one Adam update per parameter (moments, bias correction, update)
ADAM_FLOPS_PER_PARAM = 12


PHASES = ("fwd", "dx", "dw", "recompute")


@dataclass(frozen=True)
class PhaseTime:
    """One phase of one layer: its own roofline ``max(compute, HBM, engine)``."""

    compute: float
    hbm: float           #: cycles of its HBM traffic
    engine: float
    cycles: float
    bound: str


@dataclass(frozen=True)
class LayerReport:
    name: str
    kind: str
    fwd_cycles: int          #: matrix-unit cycles of the forward GEMM
    dx_cycles: int           #: ... of the input-gradient GEMM(s)
    dw_cycles: int           #: ... of the weight-gradient GEMM
    vector_cycles: float     #: vector-unit cycles, every phase
    compute_cycles: float
    hbm_bytes: int
    stash_write_bytes: int
    stash_read_bytes: int
    hbm_cycles: float
    engine_cycles: float
    cycles: float            #: the sum of the phases' times
    bound: str               #: what bounds the layer's longest phase
    utilization: float       #: MAC utilisation of the matrix units over this layer's time
    stash_dense_bytes: int
    stash_bytes: int
    recomputed: bool         #: its forward runs again during backward
    phases: tuple = ()       #: PhaseTime per name in :data:`PHASES`
    mapping: str = ""        #: the mapper's split per GEMM phase, e.g. "fwd:m dx:n dw:n"


@dataclass(frozen=True)
class StepReport:
    chip: str
    workload: str
    policy: str
    batch: int
    timing_model: str
    dataflow: str
    layers: tuple
    optimizer_cycles: float  #: the update phase after backward
    cycles: float            #: layers plus the optimizer phase
    seconds: float
    footprint: Footprint
    fits: bool
    recompute: tuple = ()
    memory: tuple = ()       #: MemoryPoint per event (forward, backward, optimizer)

    @property
    def throughput(self) -> float:
        """Samples per second."""
        return self.batch / self.seconds

    @property
    def hbm_bytes(self) -> int:
        return sum(r.hbm_bytes for r in self.layers)

    @property
    def engine_cycles(self) -> float:
        return sum(r.engine_cycles for r in self.layers)

    @property
    def dw_cycles(self) -> int:
        return sum(r.dw_cycles for r in self.layers)


@dataclass(frozen=True)
class _Step:
    """What every layer function reads: the chip, the policy and how the step is run."""

    chip: ChipConfig
    policy: Policy
    batch: int
    timing: str
    dataflow: str
    recompute: frozenset
    accumulate: bool
    layers: dict          #: name -> Layer
    dw_inputs: dict       #: gemm name -> (stored bytes, StashCost or None if recomputed)

    def gemm(self, m, k, n, groups=1):
        c = self.chip
        return core_gemm_cycles(m, k, n, groups, c.mxus, c.mxu_rows, c.mxu_cols, self.dataflow,
                                self.timing)

    def reruns(self, layer: Layer) -> bool:
        return bool(layer.recompute and layer.recompute in self.recompute
                    or layer.block and "block" in self.recompute)

    def drops(self, layer: Layer, item) -> bool:
        return bool(item.recompute and item.recompute in self.recompute
                    or layer.block and "block" in self.recompute)


def _check(chip, workload, policy, batch, timing_model, dataflow, recompute):
    if not isinstance(chip, ChipConfig):
        raise TypeError(f"chip must be a ChipConfig, got {type(chip).__name__}")
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a hardware.Policy, got {type(policy).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if timing_model not in TIMING_MODELS:
        raise ValueError(f"timing_model must be one of {TIMING_MODELS}, got {timing_model!r}")
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    bad = [r for r in recompute if r not in RECOMPUTE]
    if bad:
        raise ValueError(f"recompute must name classes from {RECOMPUTE}, got {bad[0]!r}")


def _stash_costs(layer: Layer, step: _Step) -> list[tuple]:
    """(item, cost) for every item the layer stores under the step's policy and recomputation."""
    pol = step.policy
    dense = (layer.keep_dense and pol.keep_marked_dense) or layer.name in pol.dense_layers
    drop = pol.drop_for(layer.name)
    return [(item, stash_cost(item.elements * step.batch, item.role, item.natural_sparsity,
                              item.bits, pol, step.chip, dense, drop, item.row_elements))
            for item in layer.stash if not step.drops(layer, item)]


def _input_elements(layer: Layer, layers: dict) -> int:
    """Elements per sample a gemm reads: its declared input, else its stashed X, else m * k."""
    if layer.in_elements:
        return layer.in_elements[0]
    owner = layers.get(layer.shares_stash_with, layer)
    for item in owner.stash:
        if item.role == "weight_grad_input":
            return item.elements
    return layer.m * layer.k


@dataclass(frozen=True)
class _Phase:
    """The work of one phase: matrix-unit and vector cycles, HBM bytes, kernels launched."""

    mxu: int = 0
    vector: float = 0.0
    hbm: int = 0
    kernels: int = 0
    mapping: str = ""


def _gemm_layer(layer: Layer, step: _Step, stash_read: int) -> dict:
    """A layer with a weight: forward, input gradient, weight gradient (reading the stashed
    input, its own or the one it shares: ``stash_read`` is already in ``step.dw_inputs``)."""
    chip, act, batch = step.chip, step.chip.act_bytes, step.batch
    m, k, n, groups = layer.m * batch, layer.k, layer.n, layer.groups
    vmem = chip.vmem_bytes
    x_bytes = _input_elements(layer, step.layers) * batch * act  # a conv reads its input, not im2col
    w_bytes, out_bytes, grad_bytes = k * n * act, m * n * act, k * n * chip.param_bytes
    fwd = step.gemm(m, k, n, groups)
    work = {"fwd": _Phase(fwd.cycles, 0.0, gemm_hbm_bytes(m, n, groups, x_bytes, w_bytes, out_bytes,
                                                          vmem, act), 1, fwd.mapping)}
    if layer.input_grad:
        dx = step.gemm(m, n, k, groups)
        work["dx"] = _Phase(dx.cycles, 0.0, gemm_hbm_bytes(m, k, groups, out_bytes, w_bytes, x_bytes,
                                                           vmem, act), 1, dx.mapping)
    owner = layer.shares_stash_with or layer.name
    stored, cost = step.dw_inputs.get(owner, (x_bytes, None))
    if cost is None:  # recomputed or never stashed: the dW GEMM reads a dense input
        stored = x_bytes
        kept, structure = 1.0, "element"
    else:
        kept, structure = cost.kept_fraction, cost.structure
    dw = dw_gemm(m, k, n, groups, kept, structure, step.policy.block, chip, step.timing,
                 step.dataflow, layer.conv)
    hbm = gemm_hbm_bytes(k, n, groups, stored, out_bytes, grad_bytes, vmem, act)
    if structure == "row":
        hbm += row_gather_bytes(m, n, groups, kept, layer.conv, act)
    if step.accumulate:
        hbm += groups * grad_bytes  # read the running gradient sum before adding to it
    work["dw"] = _Phase(dw.cycles, 0.0, hbm, 1, dw.mapping)
    if step.reruns(layer):
        work["recompute"] = dataclasses.replace(work["fwd"], mapping="")
    return work


def _bmm_layer(layer: Layer, step: _Step, stash_read: int) -> dict:
    """A product of two activations (attention scores, context): no weight, two gradients."""
    act, batch = step.chip.act_bytes, step.batch
    m, k, n, groups = layer.m, layer.k, layer.n, layer.groups * batch
    a_bytes, b_bytes = (size * act // layer.groups for size in layer.in_elements)
    out_bytes = m * n * act
    fwd = step.gemm(m, k, n, groups)
    fwd_hbm = gemm_hbm_bytes(m, n, groups, a_bytes, b_bytes, out_bytes, step.chip.vmem_bytes, act)
    dx = step.gemm(m, n, k, groups)  # the gradients of both operands, two GEMMs
    work = {"fwd": _Phase(fwd.cycles, 0.0, fwd_hbm, 1, fwd.mapping),
            "dx": _Phase(2 * dx.cycles, 0.0, groups * (2 * out_bytes + a_bytes + b_bytes) + stash_read,
                         2, dx.mapping)}
    if step.reruns(layer):
        work["recompute"] = dataclasses.replace(work["fwd"], mapping="")
    return work


def _vector_layer(layer: Layer, step: _Step, stash_read: int) -> dict:
    """Elementwise and normalisation work on the vector unit: ``vector_flops`` covers forward
    and backward, a third forward (**assumption**), two thirds backward (in the dX phase); a
    rerun is the forward again.  Forward reads the inputs and writes the output; backward reads
    dY and the stash and writes dX.  The chip's ``vector_efficiency`` (the fusion efficiency)
    divides both the vector cycles (in :func:`_layer_report`) and the activation traffic:
    unfused elementwise chains move their operands more than once (calibrated)."""
    act, batch = step.chip.act_bytes, step.batch
    vector = layer.vector_flops * batch / step.chip.vector_flops_per_cycle
    traffic = round((sum(layer.in_elements) + layer.out_elements) * batch * act / step.chip.vector_efficiency)
    work = {"fwd": _Phase(0, vector / 3, traffic, 1), "dx": _Phase(0, 2 * vector / 3, traffic + stash_read, 1)}
    if step.reruns(layer):
        work["recompute"] = work["fwd"]
    return work


_KIND = {"gemm": _gemm_layer, "bmm": _bmm_layer, "vector": _vector_layer}


_NO_WORK = _Phase()
_IDLE = PhaseTime(0.0, 0.0, 0.0, 0.0, "compute")  #: the time of a phase with no work


def _phase_time(work: _Phase, chip: ChipConfig, engine: float) -> PhaseTime:
    compute = (work.mxu / chip.mxu_efficiency + work.vector / chip.vector_efficiency
               + work.kernels * chip.op_overhead_cycles)
    hbm = work.hbm / chip.hbm_bytes_per_cycle
    cycles, what = bound(compute, hbm, engine)
    return PhaseTime(compute, hbm, engine, cycles, what)


def _layer_report(layer: Layer, step: _Step, costs: list[tuple]) -> LayerReport:
    """Each phase's roofline (the stash written in forward; the engine encodes in forward and
    decodes in the phase that reads the stash: dW for a GEMM, dX otherwise); the layer is
    their sum."""
    chip = step.chip
    stash_write = sum(c.stored_bytes + c.extra_hbm_read for _, c in costs if c.encoded)
    stash_read = sum(c.stored_bytes for _, c in costs)
    work = _KIND[layer.kind](layer, step, stash_read)
    work["fwd"] = dataclasses.replace(work["fwd"], hbm=work["fwd"].hbm + stash_write)
    coded = [engine_phases(c, chip) for _, c in costs]
    engine = {"fwd": sum(e for e, _ in coded), "dw" if layer.kind == "gemm" else "dx": sum(d for _, d in coded)}
    times = {p: _phase_time(work.get(p, _NO_WORK), chip, engine.get(p, 0.0)) if p in work or engine.get(p)
             else _IDLE for p in PHASES}
    cycles = sum(t.cycles for t in times.values())
    macs = layer.macs * step.batch * 3
    util = macs / (cycles * chip.mxu_rows * chip.mxu_cols * chip.mxus) if cycles and macs else 0.0
    mxu = {p: work[p].mxu if p in work else 0 for p in PHASES}
    return LayerReport(layer.name, layer.kind, mxu["fwd"], mxu["dx"], mxu["dw"],
                       sum(w.vector for w in work.values()), sum(t.compute for t in times.values()),
                       sum(w.hbm for w in work.values()), stash_write, stash_read,
                       sum(t.hbm for t in times.values()), sum(engine.values()), cycles,
                       max(times.values(), key=lambda t: t.cycles).bound, min(util, 1.0),
                       sum(c.dense_bytes for _, c in costs), sum(c.stored_bytes for _, c in costs),
                       step.reruns(layer), tuple(times[p] for p in PHASES),
                       " ".join(f"{p}:{w.mapping}" for p, w in work.items() if w.mapping))


def optimizer_cycles(chip: ChipConfig, params: int) -> float:
    """The Adam update after backward: 28 HBM bytes per parameter against the vector unit; with
    activations narrower than the master weights (bf16 against fp32) the update also writes the
    low-precision copy the next step's GEMMs read (2 bytes more per parameter: mixed precision
    as TensorFlow's bf16 policy keeps it, fp32 variables cast once per step)."""
    cast = chip.act_bytes if chip.act_bytes < chip.param_bytes else 0
    hbm = params * (3 * chip.param_bytes + 2 * chip.optimizer_bytes_per_param + cast) / chip.hbm_bytes_per_cycle
    vector = params * ADAM_FLOPS_PER_PARAM / (chip.vector_flops_per_cycle * chip.vector_efficiency)
    return max(hbm, vector) + chip.op_overhead_cycles


def _make_step(chip, workload, policy, batch, timing, dataflow, recompute, accumulate) -> _Step:
    return _Step(chip, policy, batch, timing, dataflow, frozenset(recompute), accumulate,
                 {layer.name: layer for layer in workload.layers}, {})


def _all_costs(workload: Workload, step: _Step) -> dict:
    """Phase 1: each layer's stored stash, and each dW input's stored form.  A ReLU mask
    (``zero_mask``) is not stored when a consumer keeps the layer's output as a zero-value
    bitmap (the mask is that bitmap); under deferred dropout's selection it is."""
    costs = {}
    for layer in workload.layers:
        costs[layer.name] = _stash_costs(layer, step)
        for item, cost in costs[layer.name]:
            if item.role == "weight_grad_input":
                step.dw_inputs[layer.name] = (cost.stored_bytes, cost)
    bitmaps = _bitmap_sources(workload, costs)
    for layer in workload.layers:
        if layer.name in bitmaps:
            costs[layer.name] = [(item, c) for item, c in costs[layer.name] if not item.zero_mask]
    return costs


def _bitmap_sources(workload: Workload, costs: dict) -> set:
    """Layers whose output some reader stashes as a zero-value bitmap (a layer without
    ``inputs`` reads the previous one)."""
    out = set()
    for j, x in enumerate(workload.layers):
        if any(item.role == "weight_grad_input" and c.zero_bitmap for item, c in costs[x.name]):
            out.update(x.inputs or ((workload.layers[j - 1].name,) if j else ()))
    return out


def footprint(chip: ChipConfig, workload: Workload, policy: Policy, batch: int,
              recompute=()) -> Footprint:
    """Bytes in HBM at the step's peak (:mod:`hardware.liveness`)."""
    step = _make_step(chip, workload, policy, batch, "tpu", "ws", recompute, False)
    return _memory(workload, step, _all_costs(workload, step))[0]


def _memory(workload: Workload, step: _Step, costs: dict) -> tuple[Footprint, list]:
    """The step's memory events (:mod:`hardware.liveness`) and the footprint at the peak."""
    chip, params, layers = step.chip, workload.params, workload.layers
    stored = [sum(c.stored_bytes for _, c in costs[layer.name]) for layer in layers]
    total_stash = sum(stored)
    if "block" in step.recompute:  # each block keeps its input from its first layer on
        first = {}
        for i, layer in enumerate(layers):
            if layer.block and layer.block not in first:
                first[layer.block] = i
                stored[i] += (layer.in_elements[0] if layer.in_elements else layer.m * layer.k) \
                    * step.batch * chip.act_bytes
        total_stash = sum(stored)
    persistent = params * (2 * chip.param_bytes + chip.optimizer_bytes_per_param)
    events = memory_events(layers, step.batch, chip.act_bytes, persistent, stored,
                           _recomputed(layers, step))
    peak = max(events, key=lambda p: p.total)
    return Footprint(params * chip.param_bytes, params * chip.param_bytes,
                     params * chip.optimizer_bytes_per_param, peak.stash, peak.live, total_stash,
                     f"{peak.phase} {peak.layer}".strip()), events


def _recomputed(layers, step: _Step) -> list[tuple[int, int]]:
    """Per layer: (dense bytes of its stash items rerun for backward, index of the layer whose
    backward reruns them: the last layer of their group, a recomputation class in a block)."""
    items, trigger = [], {}
    for i, layer in enumerate(layers):
        size, group = 0, None
        for item in layer.stash:
            if step.drops(layer, item):
                cls = item.recompute if item.recompute in step.recompute else "block"
                group = (cls, layer.block)
                trigger[group] = i
                size += (-(-item.elements * step.batch * item.bits // 8) if item.bits
                         else item.elements * step.batch * step.chip.act_bytes)
        items.append((size, group))
    return [(size, trigger[group] if group else i) for i, (size, group) in enumerate(items)]


def simulate_step(chip: ChipConfig, workload: Workload, policy: Policy = BASELINE, batch: int = 32,
                  timing_model: str = "tpu", dataflow: str = "ws", recompute=(),
                  accumulate: bool = False) -> StepReport:
    """Model one training step; see the module docstring for what is counted.

    ``recompute``: classes from :data:`RECOMPUTE`; ``accumulate``: this step adds its weight
    gradients to a running sum (a micro-batch after the first)."""
    _check(chip, workload, policy, batch, timing_model, dataflow, recompute)
    step = _make_step(chip, workload, policy, batch, timing_model, dataflow, recompute, accumulate)
    costs = _all_costs(workload, step)
    reports = tuple(_layer_report(layer, step, costs[layer.name]) for layer in workload.layers)
    opt = optimizer_cycles(chip, workload.params)
    cycles = sum(r.cycles for r in reports) + opt + chip.step_overhead_cycles
    fp, events = _memory(workload, step, costs)
    return StepReport(chip.name, workload.name, policy.label, batch, timing_model, dataflow,
                      reports, opt, cycles, cycles / chip.clock_hz, fp, fp.total <= chip.hbm_bytes,
                      tuple(sorted(step.recompute)), tuple(events))


def max_batch(chip: ChipConfig, workload: Workload, policy: Policy, limit: int = 1 << 26,
              recompute=()) -> int:
    """The largest batch whose footprint fits in HBM (0 if not even one sample fits)."""
    fits = lambda b: footprint(chip, workload, policy, b, recompute).total <= chip.hbm_bytes  # noqa: E731
    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Comparison:
    """Baseline against a proposed policy on one workload.

    ``same_batch`` runs both at the baseline's largest batch; ``own_batch`` runs each at its own
    largest batch (what a memory-bound user would do).  The gains are separated:
    ``footprint_reduction`` (total bytes at the same batch), ``stash_reduction``,
    ``speedup_same_batch`` (fewer HBM bytes against the engine's extra passes) and
    ``speedup_own_batch`` (throughput, adding the larger batch that fits).
    """

    workload: str
    baseline: StepReport
    proposed: StepReport
    baseline_own: StepReport
    proposed_own: StepReport

    @property
    def footprint_reduction(self) -> float:
        return self.baseline.footprint.total / self.proposed.footprint.total

    @property
    def stash_reduction(self) -> float:
        return self.baseline.footprint.stash_total / self.proposed.footprint.stash_total

    @property
    def speedup_same_batch(self) -> float:
        return self.baseline.seconds / self.proposed.seconds

    @property
    def speedup_own_batch(self) -> float:
        return self.proposed_own.throughput / self.baseline_own.throughput

    @property
    def batch_gain(self) -> float:
        return self.proposed_own.batch / self.baseline_own.batch

    @property
    def hbm_bytes_saved(self) -> int:
        return self.baseline.hbm_bytes - self.proposed.hbm_bytes

    @property
    def engine_cycles_added(self) -> float:
        return self.proposed.engine_cycles - self.baseline.engine_cycles


def compare(chip: ChipConfig, workload: Workload, proposed: Policy, baseline: Policy = BASELINE,
            batch: int | None = None, timing_model: str = "tpu", dataflow: str = "ws") -> Comparison:
    """Compare ``proposed`` with ``baseline``; ``batch`` defaults to the baseline's largest."""
    b_max = max_batch(chip, workload, baseline)
    p_max = max_batch(chip, workload, proposed)
    if b_max == 0:
        raise ValueError(f"compare: not one sample of {workload.name} fits in {chip.hbm_bytes} bytes of HBM")
    batch = batch or b_max
    run = lambda pol, b: simulate_step(chip, workload, pol, b, timing_model, dataflow)  # noqa: E731
    return Comparison(workload.name, run(baseline, batch), run(proposed, batch),
                      run(baseline, b_max), run(proposed, max(p_max, 1)))
