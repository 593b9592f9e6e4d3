"""One training step of a workload on a chip under a stash policy, layer by layer.

Per layer: the forward GEMM, the input-gradient GEMM (skipped for a layer that reads the model
input), the weight-gradient GEMM (which reads the stash), vector-unit work, HBM traffic and the
compression engine.  A layer takes the longest of compute, HBM and engine time (they overlap).

HBM traffic counted per layer: forward reads of inputs and weights and the write of the output;
the stash write (only where the engine writes a compressed copy; an uncompressed stash stays
where the forward pass put it) and any re-read for an exact selection pass; backward reads of
the output gradient, the weights and the stash, writes of the input and weight gradients; the
optimizer update (fp32 weight, gradient and two Adam moments read, weight and moments written).

The footprint is taken at the forward/backward boundary: weights, gradients, optimizer state,
the stash of every layer and, as workspace, the largest dense layer output of the batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .compression import BASELINE, Policy, StashCost, engine_cycles, stash_cost
from .config import ChipConfig
from .memory import bound, gemm_hbm_bytes
from .systolic import DATAFLOWS, TIMING_MODELS, core_gemm_cycles
from .workload import Layer, Workload


@dataclass(frozen=True)
class LayerReport:
    name: str
    kind: str
    fwd_cycles: int
    dx_cycles: int
    dw_cycles: int
    vector_cycles: float
    compute_cycles: float
    hbm_bytes: int
    stash_write_bytes: int
    stash_read_bytes: int
    hbm_cycles: float
    engine_cycles: float
    cycles: float
    bound: str
    utilization: float       #: MAC utilisation of the matrix units over this layer's time
    stash_dense_bytes: int
    stash_bytes: int


@dataclass(frozen=True)
class Footprint:
    weights: int
    gradients: int
    optimizer: int
    stash: int
    workspace: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.stash + self.workspace


@dataclass(frozen=True)
class StepReport:
    chip: str
    workload: str
    policy: str
    batch: int
    timing_model: str
    dataflow: str
    layers: tuple
    cycles: float
    seconds: float
    footprint: Footprint
    fits: bool

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


def _check(chip, workload, policy, batch, timing_model, dataflow):
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


def _stash_costs(layer: Layer, batch, policy, chip) -> list[StashCost]:
    dense = layer.keep_dense or layer.name in policy.dense_layers
    return [stash_cost(item.elements * batch, item.role, item.natural_sparsity, item.bits,
                       policy, chip, dense) for item in layer.stash]


def _input_elements(layer: Layer, layers: dict) -> int:
    """Elements per sample a gemm reads: its declared input, else its stashed X, else m * k."""
    if layer.in_elements:
        return layer.in_elements[0]
    owner = layers.get(layer.shares_stash_with, layer)
    for item in owner.stash:
        if item.role == "weight_grad_input":
            return item.elements
    return layer.m * layer.k


def _layer(layer: Layer, costs, shared: dict, workload_layers: dict, batch, policy, chip, tm,
           df) -> LayerReport:
    a, p = chip.act_bytes, chip.param_bytes
    vmem, mx, rows, cols = chip.vmem_bytes, chip.mxus, chip.mxu_rows, chip.mxu_cols
    stash_write = sum(c.stored_bytes + c.extra_hbm_read for c in costs if c.encoded)
    stash_read = sum(c.stored_bytes for c in costs)
    eng = sum(engine_cycles(c, chip) for c in costs)
    fwd = dx = dw = 0
    vec = 0.0
    hbm = stash_write
    if layer.kind in ("gemm", "bmm"):
        m, k, n, g = layer.m * batch, layer.k, layer.n, layer.groups
        if layer.kind == "bmm":
            m, g = layer.m, layer.groups * batch
        fwd = core_gemm_cycles(m, k, n, g, mx, rows, cols, df, tm).cycles
        out_b = m * n * a  # one GEMM's result
        if layer.kind == "gemm":
            x_b = _input_elements(layer, workload_layers) * batch * a  # conv: before im2col
            w_b = k * n * a
            hbm += gemm_hbm_bytes(m, n, g, x_b, w_b, out_b, vmem, a)
            if layer.input_grad:
                dx = core_gemm_cycles(m, n, k, g, mx, rows, cols, df, tm).cycles
                hbm += gemm_hbm_bytes(m, k, g, out_b, w_b, x_b, vmem, a)
            density = 1.0
            if layer.shares_stash_with:
                stash_read, density = shared[layer.shares_stash_with]
            elif layer.name in shared:
                density = shared[layer.name][1]
            dw = core_gemm_cycles(k, m, n, g, mx, rows, cols, df, tm).cycles
            if policy.skip_zeros_in_dw and density < 1.0:  # what-if: skip stored zeros
                dw = math.ceil(dw * density) + rows + cols
            hbm += gemm_hbm_bytes(k, n, g, stash_read, out_b, k * n * p, vmem, a)
            hbm += layer.params * (3 * p + 2 * chip.optimizer_bytes_per_param)  # optimizer update
        else:
            in_a, in_b = (s * a // layer.groups for s in layer.in_elements)
            hbm += gemm_hbm_bytes(m, n, g, in_a, in_b, out_b, vmem, a)
            dx = 2 * core_gemm_cycles(m, n, k, g, mx, rows, cols, df, tm).cycles
            hbm += g * 2 * out_b + stash_read + g * (in_a + in_b)
    else:
        vec = layer.vector_flops * batch / chip.vector_flops_per_cycle
        ins = sum(layer.in_elements) * batch * a
        out_b = layer.out_elements * batch * a
        hbm += 2 * ins + 2 * out_b + stash_read  # forward: read, write; backward: read dY, stash, write dX
        hbm += layer.params * (3 * p + 2 * chip.optimizer_bytes_per_param)
    compute = fwd + dx + dw + vec
    hbm_cycles = hbm / chip.hbm_bytes_per_cycle
    cycles, what = bound(compute, hbm_cycles, eng)
    util = layer.macs * batch * 3 / (cycles * rows * cols * mx) if cycles and layer.kind != "vector" else 0.0
    return LayerReport(layer.name, layer.kind, fwd, dx, dw, vec, compute, hbm, stash_write,
                       stash_read, hbm_cycles, eng, cycles, what, min(util, 1.0),
                       sum(c.dense_bytes for c in costs), sum(c.stored_bytes for c in costs))


def footprint(chip: ChipConfig, workload: Workload, policy: Policy, batch: int) -> Footprint:
    """Bytes in HBM at the forward/backward boundary."""
    params = workload.params
    stash = sum(c.stored_bytes for layer in workload.layers
                for c in _stash_costs(layer, batch, policy, chip))
    work = max(layer.out_elements for layer in workload.layers) * batch * chip.act_bytes
    return Footprint(params * chip.param_bytes, params * chip.param_bytes,
                     params * chip.optimizer_bytes_per_param, stash, work)


def simulate_step(chip: ChipConfig, workload: Workload, policy: Policy = BASELINE, batch: int = 32,
                  timing_model: str = "tpu", dataflow: str = "ws") -> StepReport:
    """Model one training step; see the module docstring for what is counted."""
    _check(chip, workload, policy, batch, timing_model, dataflow)
    reports, shared = [], {}
    by_name = {layer.name: layer for layer in workload.layers}
    for layer in workload.layers:
        costs = _stash_costs(layer, batch, policy, chip)
        wgi = [(c, i) for c, i in zip(costs, layer.stash) if i.role == "weight_grad_input"]
        if wgi:
            shared[layer.name] = (sum(c.stored_bytes for c, _ in wgi),
                                  sum(c.kept for c, _ in wgi) / sum(i.elements * batch for _, i in wgi))
        reports.append(_layer(layer, costs, shared, by_name, batch, policy, chip, timing_model, dataflow))
    cycles = sum(r.cycles for r in reports)
    fp = footprint(chip, workload, policy, batch)
    return StepReport(chip.name, workload.name, policy.label, batch, timing_model, dataflow,
                      tuple(reports), cycles, cycles / chip.clock_hz, fp, fp.total <= chip.hbm_bytes)


def max_batch(chip: ChipConfig, workload: Workload, policy: Policy, limit: int = 1 << 16) -> int:
    """The largest batch whose footprint fits in HBM (0 if not even one sample fits)."""
    if footprint(chip, workload, policy, 1).total > chip.hbm_bytes:
        return 0
    lo, hi = 1, 2
    while hi <= limit and footprint(chip, workload, policy, hi).total <= chip.hbm_bytes:
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if footprint(chip, workload, policy, mid).total <= chip.hbm_bytes:
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
        return self.baseline.footprint.stash / self.proposed.footprint.stash

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
                      run(baseline, b_max), run(proposed, p_max))
