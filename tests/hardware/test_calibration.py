"""Calibration recovers known parameters from synthetic measurements; leave-one-out and the
printed table are computed from the model; the MLPerf figures convert as their logs say."""
import dataclasses

import pytest

from hardware import TPUV3, bert, resnet50
from hardware.calibration import (LAMB_BERT_LARGE, MEASUREMENTS, MLPERF_BERT_V3_32, MLPERF_BERT_V3_8192,
                                  MLPERF_RESNET50_V3_32, MLPERF_RESNET50_V3_8192, RESNET50_V3_512,
                                  Measurement, calibrate, calibration_report, leave_one_out, predict,
                                  relative_errors)
from hardware.distributed import DataParallel


def _synthetic(chip, phases_list):
    """Measurements that a chip with known parameters would produce."""
    out = []
    for i, phases in enumerate(phases_list):
        m = Measurement(f"synthetic{i}", "generated", phases, 1.0, "")
        out.append(dataclasses.replace(m, seconds=predict(chip, m)))
    return out


def test_recovers_known_parameters_from_synthetic_measurements():
    truth = dataclasses.replace(TPUV3, vector_efficiency=0.35, op_overhead_cycles=20000.0)
    small_bert, cnn = bert("base", 64), resnet50(image=64)
    ms = _synthetic(truth, [((small_bert, 4, 1.0),), ((cnn, 2, 1.0),), ((small_bert, 16, 1.0),)])
    cal = calibrate(TPUV3, ms, ("vector_efficiency", "op_overhead_cycles"))
    assert cal.fitted["vector_efficiency"] == pytest.approx(0.35, rel=1e-3)
    assert cal.fitted["op_overhead_cycles"] == pytest.approx(20000.0, rel=1e-3)
    assert all(abs(e) < 1e-6 for _, _, e in cal.errors.values())


def test_step_overhead_and_efficiency_are_identified_by_the_batch_range():
    # a fixed per-step cost and an MXU efficiency, seen at a small and a large per-core batch of
    # two models: recovered exactly, and every left-out point is predicted exactly
    truth = dataclasses.replace(TPUV3, step_overhead_cycles=3e6, mxu_efficiency=0.7)
    small_bert, cnn = bert("base", 64), resnet50(image=64)
    ms = _synthetic(truth, [((cnn, 1, 1.0),), ((cnn, 32, 1.0),), ((small_bert, 1, 1.0),), ((small_bert, 16, 1.0),)])
    params = ("step_overhead_cycles", "mxu_efficiency")
    cal = calibrate(TPUV3, ms, params)
    assert cal.fitted["step_overhead_cycles"] == pytest.approx(3e6, rel=1e-3)
    assert cal.fitted["mxu_efficiency"] == pytest.approx(0.7, rel=1e-3)
    assert all(abs(e) < 1e-4 for e in leave_one_out(TPUV3, ms, params).values())


def test_one_parameter_needs_one_measurement():
    with pytest.raises(ValueError, match="need at least as many measurements"):
        calibrate(TPUV3, [MLPERF_BERT_V3_32], ("vector_efficiency", "op_overhead_cycles"))
    with pytest.raises(ValueError, match="unknown parameter 'clock'"):
        calibrate(TPUV3, [MLPERF_BERT_V3_32], ("clock",))


def test_published_figures_convert_to_per_core_step_times():
    # LAMB Table 1 baseline: 81.4 h for 1,000k steps; ResNet-50: 64 images at 937.5 images/s
    assert LAMB_BERT_LARGE.seconds == pytest.approx(0.29304)
    assert RESNET50_V3_512.seconds == pytest.approx(64 / 937.5)
    # MLPerf v0.7: tpu-v3-32 is 16 chips (32 cores), tpu-v3-8192 4,096 chips
    per_core = {m.name: m.phases[0][1] for m in MEASUREMENTS}
    assert per_core == {MLPERF_RESNET50_V3_32.name: 4096 // 32, MLPERF_RESNET50_V3_8192.name: 65536 // 8192,
                        MLPERF_BERT_V3_32.name: 448 // 32, MLPERF_BERT_V3_8192.name: 8192 // 8192}
    assert MLPERF_BERT_V3_32.seconds == pytest.approx(514.4 / 1117, rel=1e-3)
    assert MLPERF_RESNET50_V3_32.seconds == pytest.approx(157.3 / (4 * 313), rel=1e-3)
    assert MLPERF_RESNET50_V3_8192.seconds == pytest.approx(1.097 / (4 * 20))  # ceil(1,281,167 / 65,536) = 20
    assert MLPERF_BERT_V3_8192.seconds == pytest.approx(2.852 / 62)
    assert {m.data_parallel.chips for m in MEASUREMENTS} == {16, 4096}


def test_sharded_update_divides_the_optimizer_over_the_cores():
    m = dataclasses.replace(MLPERF_BERT_V3_8192, data_parallel=DataParallel(chips=1))
    whole = predict(TPUV3, dataclasses.replace(m, sharded_update=False))
    # one chip, two cores: each updates half the weights
    from hardware.simulate import simulate_step
    from hardware.compression import Policy
    from hardware.calibration import _phases
    w = _phases(m)[0][0]
    opt = simulate_step(TPUV3, w, Policy("dense"), 1).optimizer_cycles / TPUV3.clock_hz
    assert whole - predict(TPUV3, m) == pytest.approx(opt / 2)


def test_printed_table_is_computed_from_the_model():
    cal, lines = calibration_report(TPUV3, alternatives=(), cross_checks=())
    loo = leave_one_out(TPUV3, MEASUREMENTS)
    rest = calibrate(TPUV3, MEASUREMENTS[1:], ("step_overhead_cycles", "mxu_efficiency"))
    first = MEASUREMENTS[0]
    assert loo[first.name] == pytest.approx(predict(rest.chip, first) / first.seconds - 1)
    for m in MEASUREMENTS:
        p, s, e = relative_errors(cal.chip, [m])[m.name]
        row = next(x for x in lines if x.startswith(f"| {m.name} |"))
        assert f"| {s * 1e3:.1f} |" in row and f"| {e:+.1%} | {loo[m.name]:+.1%} |" in row
    worst = max(abs(e) for e in loo.values())
    assert f"(worst {worst:.1%})" in "\n".join(lines)


def test_goal_verdict_is_computed():
    truth = dataclasses.replace(TPUV3, step_overhead_cycles=3e6, mxu_efficiency=0.7)
    exact = tuple(dataclasses.replace(m, seconds=predict(truth, m)) for m in MEASUREMENTS)
    _, lines = calibration_report(TPUV3, exact, alternatives=(), cross_checks=())
    assert "leave-one-out within the 15% goal (worst 0.0%)" in "\n".join(lines)
