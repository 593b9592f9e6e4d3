"""Calibration of the parameters that are not public against published TPUv3 training runs.

The model's non-public parameters (:class:`~hardware.config.ChipConfig`):

* ``vector_efficiency``: fusion efficiency of vector layers (the fraction of the vector unit's
  peak, and of one-pass activation traffic, that compiled elementwise chains achieve);
* ``op_overhead_cycles``: fixed cycles per kernel (three per layer and step);
* ``mxu_efficiency``: achieved fraction of the arrays' modelled cycles.

:func:`calibrate` fits any subset of them to measurements by least squares on the log of
predicted over measured step time; it needs at least as many measurements as parameters.  With
one published measurement only one parameter is identifiable, so ``python -m hardware
reproduce`` fits ``vector_efficiency`` (chosen before looking at the validation figure: it is
what an analytical model knows least about, unfused elementwise work) and keeps the others at
their defaults (1 and 0), then validates on a second, different measurement.

Measurements, converted to one TPUv3 core's step time (the model is one core, data parallel;
all-reduce, input pipeline and host work are in the measurements and not in the model):

``lamb-bert-large`` (fit)
    You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
    ICLR 2020 (arXiv:1904.00962), Table 1, baseline row: BERT-Large, batch 512, 1,000k
    iterations, 16 TPUv3 chips, 81.4 h.  16 chips x 2 cores = 32 cores, 512 / 32 = 16
    sequences per core; 81.4 h x 3,600 s / 1,000,000 steps = 0.2930 s per step, of which 90% of
    the steps run at sequence 128 and 10% at 512 (the BERT recipe, Devlin et al. 2019, A.2).
``resnet50-v3-512`` (validation)
    ResNet-50 v1.5 with Google's MLPerf v0.6 TPU code on a TPUv3-512 slice (256 chips, 512
    cores), batch 32,768, 480,000 images/s: a public third-party reproduction (S. Presser,
    Feb. 2020, https://threadreaderapp.com/thread/1223395022814339073.html), not an official
    Google figure.  32,768 / 512 = 64 images per core; 480,000 / 512 = 937.5 images/s per
    core; 64 / 937.5 = 0.06827 s per step.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .compression import Policy
from .config import ChipConfig
from .simulate import simulate_step
from .workload import Workload, paper_model

PARAMETERS = {"vector_efficiency": (1e-3, 1.0), "mxu_efficiency": (1e-3, 1.0),
              "op_overhead_cycles": (0.0, 1e7)}
_SCALE = {"vector_efficiency": 1.0, "mxu_efficiency": 1.0, "op_overhead_cycles": 1e4}


@dataclass(frozen=True)
class Measurement:
    """A published training run as one core's step time.

    ``phases``: ``((model, batch per core, share of steps), ...)`` with models from
    :data:`hardware.workload.PAPER_MODELS` or :class:`Workload` objects."""

    name: str
    source: str
    phases: tuple
    seconds: float
    arithmetic: str


LAMB_BERT_LARGE = Measurement(
    "lamb-bert-large", "You et al., ICLR 2020 (arXiv:1904.00962), Table 1, baseline",
    (("bert-large-128", 16, 0.9), ("bert-large-512", 16, 0.1)), 81.4 * 3600 / 1_000_000,
    "81.4 h x 3600 s / 1,000,000 steps; batch 512 over 16 chips x 2 cores = 16 per core; "
    "90% of steps at sequence 128, 10% at 512")
RESNET50_V3_512 = Measurement(
    "resnet50-v3-512", "S. Presser (2020), Google's MLPerf v0.6 ResNet-50 code on TPUv3-512, "
    "third-party reproduction", (("resnet50", 64, 1.0),), 64 / (480_000 / 512),
    "batch 32,768 / 512 cores = 64 per core; 480,000 img/s / 512 = 937.5 img/s per core; 64 / 937.5")
FIT, VALIDATION = LAMB_BERT_LARGE, RESNET50_V3_512


def predict(chip: ChipConfig, measurement: Measurement, _cache: dict | None = None) -> float:
    """The model's step time for ``measurement`` (dense stash: what the measured runs store)."""
    total = 0.0
    for model, batch, share in measurement.phases:
        w = model if isinstance(model, Workload) else (_cache or {}).get(model) or paper_model(model)
        total += share * simulate_step(chip, w, Policy("dense"), batch).seconds
    return total


@dataclass(frozen=True)
class Calibration:
    chip: ChipConfig            #: the input chip with the fitted parameters
    fitted: dict                #: parameter -> value
    errors: dict                #: measurement name -> (predicted s, measured s, relative error)


def relative_errors(chip: ChipConfig, measurements) -> dict:
    """``{name: (predicted, measured, predicted / measured - 1)}``."""
    out = {}
    for m in measurements:
        p = predict(chip, m)
        out[m.name] = (p, m.seconds, p / m.seconds - 1)
    return out


def calibrate(chip: ChipConfig, measurements, params=("vector_efficiency",)) -> Calibration:
    """Fit ``params`` (names from :data:`PARAMETERS`) so the model matches ``measurements``."""
    measurements = tuple(measurements)
    params = tuple(params)
    bad = [p for p in params if p not in PARAMETERS]
    if bad:
        raise ValueError(f"calibrate: unknown parameter {bad[0]!r}; choose from {tuple(PARAMETERS)}")
    if not params or len(measurements) < len(params):
        raise ValueError(f"calibrate: {len(params)} parameter(s) need at least as many measurements, "
                         f"got {len(measurements)}")
    cache = {model: paper_model(model) for m in measurements for model, _, _ in m.phases
             if not isinstance(model, Workload)}

    def chip_at(x):
        return dataclasses.replace(chip, **{p: float(v * _SCALE[p]) for p, v in zip(params, x)})

    def residuals(x):
        c = chip_at(x)
        return np.array([math.log(predict(c, m, cache) / m.seconds) for m in measurements])

    lo = [PARAMETERS[p][0] / _SCALE[p] for p in params]
    hi = [PARAMETERS[p][1] / _SCALE[p] for p in params]
    x0 = [min(max(getattr(chip, p) / _SCALE[p], a), b) for p, a, b in zip(params, lo, hi)]
    x0 = [v if a < v < b else (a + b) / 2 if b < 1e3 else a + 1.0 for v, a, b in zip(x0, lo, hi)]
    sol = least_squares(residuals, x0, bounds=(lo, hi), x_scale="jac", xtol=1e-12, ftol=1e-12)
    fitted = chip_at(sol.x)
    return Calibration(fitted, {p: getattr(fitted, p) for p in params},
                       relative_errors(fitted, measurements))


def calibration_report(chip: ChipConfig, fit=(FIT,), validation=(VALIDATION,),
                       params=("vector_efficiency",)) -> tuple[Calibration, list[str]]:
    """Fit on ``fit``, validate on ``validation``; the calibrated chip and printable lines."""
    cal = calibrate(chip, fit, params)
    val = relative_errors(cal.chip, validation)
    before = relative_errors(chip, tuple(fit) + tuple(validation))
    lines = ["Calibration (one core's step time, dense stash):"]
    for kind, errs, ms in (("fit", cal.errors, fit), ("validation", val, validation)):
        for m in ms:
            p, s, e = errs[m.name]
            lines.append(f"  {kind:<10} {m.name}: measured {s * 1e3:.1f} ms ({m.arithmetic}; {m.source}); "
                         f"model {before[m.name][0] * 1e3:.1f} ms uncalibrated, {p * 1e3:.1f} ms "
                         f"calibrated: error {e:+.1%}")
    lines.append("  fitted: " + ", ".join(f"{k} = {v:.4g}" for k, v in cal.fitted.items()))
    return cal, lines
