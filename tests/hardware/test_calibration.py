"""Calibration recovers known parameters from synthetic measurements, and its errors are computed."""
import dataclasses

import pytest

from hardware import TPUV3, bert, resnet50
from hardware.calibration import (FIT, LAMB_BERT_LARGE, RESNET50_V3_512, VALIDATION, Measurement, calibrate,
                                  calibration_report, predict, relative_errors)


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


def test_one_parameter_needs_one_measurement():
    with pytest.raises(ValueError, match="need at least as many measurements"):
        calibrate(TPUV3, [FIT], ("vector_efficiency", "op_overhead_cycles"))
    with pytest.raises(ValueError, match="unknown parameter 'clock'"):
        calibrate(TPUV3, [FIT], ("clock",))


def test_published_figures_convert_to_per_core_step_times():
    # LAMB Table 1 baseline: 81.4 h for 1,000k steps; ResNet-50: 64 images at 937.5 images/s
    assert LAMB_BERT_LARGE.seconds == pytest.approx(0.29304)
    assert RESNET50_V3_512.seconds == pytest.approx(64 / 937.5)
    assert [p[1] for p in LAMB_BERT_LARGE.phases] == [512 // 32] * 2
    # MLPerf v0.7, tpu-v3-32 (32 cores): BERT batch 448, 1,117 steps per logged block of about
    # 514.4 s; ResNet-50 batch 4,096, 4 epochs of 313 steps in about 157.3 s
    assert [p[1] for p in FIT.phases] == [448 // 32] and [p[1] for p in VALIDATION.phases] == [4096 // 32]
    assert FIT.seconds == pytest.approx(514.4 / 1117, rel=1e-3)
    assert VALIDATION.seconds == pytest.approx(157.3 / (4 * 313), rel=1e-3)


def test_cross_checks_are_computed_on_the_calibrated_chip():
    cal, lines = calibration_report(TPUV3, alternatives=())
    p, s, e = relative_errors(cal.chip, [LAMB_BERT_LARGE])[LAMB_BERT_LARGE.name]
    line = next(x for x in lines if x.startswith("  cross-check lamb-bert-large"))
    assert f"error {e:+.1%}" in line and f"model {p * 1e3:.1f} ms" in line
    _, none = calibration_report(TPUV3, alternatives=(), cross_checks=())
    assert not any("cross-check" in x for x in none)


def test_printed_errors_are_computed_from_the_model():
    cal, lines = calibration_report(TPUV3)
    text = "\n".join(lines)
    p, s, e = relative_errors(cal.chip, [VALIDATION])[VALIDATION.name]
    assert f"error {e:+.1%}" in text and e == pytest.approx(p / s - 1)
    # a different measured figure gives a different printed error
    moved = dataclasses.replace(VALIDATION, seconds=VALIDATION.seconds * 2)
    _, lines2 = calibration_report(TPUV3, validation=(moved,))
    assert lines2[2] != lines[2]
    assert f"error {p / moved.seconds - 1:+.1%}" in lines2[2]


def test_goal_verdict_is_computed():
    cal, lines = calibration_report(TPUV3)
    p = relative_errors(cal.chip, [VALIDATION])[VALIDATION.name][0]
    on_target = dataclasses.replace(VALIDATION, seconds=p * 1.1)
    _, lines2 = calibration_report(TPUV3, validation=(on_target,), alternatives=())
    assert "validation within the 25% goal (worst 9%)" in "\n".join(lines2)
    far = dataclasses.replace(VALIDATION, seconds=p / 2)
    _, lines3 = calibration_report(TPUV3, validation=(far,), alternatives=())
    assert "validation OUTSIDE the 25% goal (worst 100%)" in "\n".join(lines3)
