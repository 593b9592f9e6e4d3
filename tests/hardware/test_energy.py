"""Energy per step from the counted work, on a hand-derived case."""
import dataclasses

import pytest

from hardware import TPUV3, Layer, Policy, StashItem, Workload, simulate_step
from hardware.energy import TDP_WATTS_PER_CORE, EnergyModel, average_watts, fitted_energy, step_energy
from hardware.fallback import fit_step

# one 4x4 GEMM on the model input on one 4x4 array, batch 1, dense stash, HBM 11 bytes/cycle
# (the phase test in test_simulate): forward 10 + dW 10 matrix-unit cycles; 224 layer bytes
# and the optimizer's 16 parameters x 30 bytes = 480
CHIP = dataclasses.replace(TPUV3, mxus=1, mxu_rows=4, mxu_cols=4, clock_hz=1000.0, hbm_bytes_per_s=11_000.0)
ONE = Workload("one", [Layer("fc", "gemm", 4, 4, 4, params=16, in_elements=(16,), out_elements=16,
                             inputs=("input",), stash=(StashItem("weight_grad_input", 16),), input_grad=False)])


def test_step_energy_is_derived_by_hand():
    r = simulate_step(CHIP, ONE, Policy("dense"), batch=1)
    e = step_energy(r, CHIP, EnergyModel(static_watts=0.0))
    assert e.mxu == pytest.approx(20 * 16 * 1.0e-12)                  # 20 cycles x 16 PEs x 1 pJ
    assert e.hbm == pytest.approx((224 + 480) * 31.2e-12)
    assert e.vmem == pytest.approx((2 * 704 + 20 * (4 + 4) * 2) * 1.5e-12)  # staged + streamed vectors
    assert e.static == 0.0
    assert e.total == pytest.approx(24876.8e-12)
    assert step_energy(r, CHIP).static == pytest.approx(60.0 * r.seconds)


def test_fitted_energy_scales_dynamic_energy_with_the_batch_and_static_with_the_time():
    f = fit_step(CHIP, ONE, Policy("dense"), 2, ("none",))
    e, one = fitted_energy(f, CHIP), step_energy(f.report, CHIP, seconds=0.0)
    assert e.mxu == pytest.approx(one.mxu) and e.static == pytest.approx(60.0 * f.seconds)


def test_a_compute_bound_paper_step_stays_under_the_published_power():
    from hardware import BASELINE, bert, max_batch
    w = bert("base", 128)
    r = simulate_step(TPUV3, w, BASELINE, max_batch(TPUV3, w, BASELINE))
    assert 0 < average_watts(r, TPUV3) < TDP_WATTS_PER_CORE
