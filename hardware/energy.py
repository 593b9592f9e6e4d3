"""Energy of a modelled training step, from its counted work.

``E = PE-cycles x e_mac + HBM bytes x e_hbm + VMEM bytes x e_vmem + vector FLOPs x e_vec +
P_static x seconds``, per core:

* **PE-cycles**: every cycle an MXU streams, all of its ``R x C`` processing elements switch
  (idle columns of a narrow GEMM and padding too; skipped vectors of the co-designed array do
  not stream): the core's matrix-unit cycles (forward, dX, dW, recomputed forward) x MXUs x R x C;
* **HBM bytes**: every layer's counted traffic and the optimizer phase's (it is HBM-bound:
  its cycles x HBM bytes per cycle);
* **VMEM bytes**: everything from HBM is staged through VMEM (written, then read: 2x the HBM
  bytes) and every MXU cycle reads one streamed vector of ``R`` values and writes one of ``C``
  results;
* **vector FLOPs**: the layers' vector-unit cycles x the unit's FLOPs per cycle.

The per-operation energies are **assumptions** (:class:`EnergyModel`; none is published for
TPUv3): HBM2 at 3.9 pJ per bit (O'Connor et al., "Fine-Grained DRAM", MICRO 2017) = 31.2 pJ per
byte; a bf16 multiply with fp32 accumulate and its pipeline registers 1 pJ per PE-cycle at 16 nm
(Horowitz, ISSCC 2014, gives about 1.1 pJ for a 16-bit float multiply and 0.9 pJ for a 32-bit
float add at 45 nm; scaled down about 2x); 1.5 pJ per byte of a large SRAM; 1 pJ per vector
FLOP; 60 W of static and clock power per core.  The anchor is TPUv3's thermal design power,
450 W per chip = 225 W per core (Jouppi et al., "A Domain-Specific Supercomputer for Training
Deep Neural Networks", CACM 2020, Table 3; as we read it, not re-checked here):
:func:`average_watts` of a compute-bound step must stay below it (``reproduce`` prints it).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnergyModel:
    """Per-operation energies (assumptions, see the module docstring)."""

    pj_per_pe_cycle: float = 1.0
    pj_per_hbm_byte: float = 31.2
    pj_per_vmem_byte: float = 1.5
    pj_per_vector_flop: float = 1.0
    static_watts: float = 60.0   #: per core


DEFAULT_ENERGY = EnergyModel()
#: TPUv3 thermal design power per core: 450 W per chip of two cores (Jouppi et al. 2020)
TDP_WATTS_PER_CORE = 450.0 / 2


@dataclass(frozen=True)
class Energy:
    """Joules of one step by what spends them."""

    mxu: float
    hbm: float
    vmem: float
    vector: float
    static: float

    @property
    def total(self) -> float:
        return self.mxu + self.hbm + self.vmem + self.vector + self.static


def step_energy(report, chip, model: EnergyModel = DEFAULT_ENERGY, seconds: float | None = None) -> Energy:
    """The energy of ``report`` (a :class:`hardware.simulate.StepReport` on ``chip``);
    ``seconds``: the wall time to charge static power over (default the step's; a fallback
    that waits on a host link charges its whole time)."""
    mxu_cycles = sum(r.fwd_cycles + r.dx_cycles + r.dw_cycles + (r.fwd_cycles if r.recomputed else 0)
                     for r in report.layers)
    hbm = report.hbm_bytes + report.optimizer_cycles * chip.hbm_bytes_per_cycle
    vmem = 2 * hbm + mxu_cycles * chip.mxus * (chip.mxu_rows + chip.mxu_cols) * chip.act_bytes
    flops = sum(r.vector_cycles for r in report.layers) * chip.vector_flops_per_cycle
    pe = mxu_cycles * chip.mxus * chip.mxu_rows * chip.mxu_cols
    pj = 1e-12
    return Energy(pe * model.pj_per_pe_cycle * pj, hbm * model.pj_per_hbm_byte * pj,
                  vmem * model.pj_per_vmem_byte * pj, flops * model.pj_per_vector_flop * pj,
                  model.static_watts * (report.seconds if seconds is None else seconds))


def fitted_energy(fitted, chip, model: EnergyModel = DEFAULT_ENERGY) -> Energy:
    """The energy of a :class:`hardware.fallback.FittedStep`: its step's dynamic energy per
    sample times the batch (micro-batches each do their share), static power over its whole
    time."""
    e = step_energy(fitted.report, chip, model, seconds=0.0)
    scale = fitted.batch / fitted.report.batch
    return Energy(e.mxu * scale, e.hbm * scale, e.vmem * scale, e.vector * scale,
                  model.static_watts * fitted.seconds)


def average_watts(report, chip, model: EnergyModel = DEFAULT_ENERGY) -> float:
    """The step's modelled average power per core."""
    return step_energy(report, chip, model).total / report.seconds
