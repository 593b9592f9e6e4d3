"""Calibration of the parameters that are not public against published TPUv3 training runs.

The model's non-public parameters (:class:`~hardware.config.ChipConfig`):

* ``step_overhead_cycles``: a fixed cost per training step, whatever the batch;
* ``mxu_efficiency``: achieved fraction of the arrays' modelled cycles;
* ``vector_efficiency``: fusion efficiency of vector layers (the fraction of the vector unit's
  peak, and of one-pass activation traffic, that compiled elementwise chains achieve);
* ``op_overhead_cycles``: fixed cycles per kernel (three per layer and step).

:func:`calibrate` fits any subset of them to measurements by least squares on the log of
predicted over measured step time; it needs at least as many measurements as parameters.
``python -m hardware reproduce`` fits a fixed per-step cost and the MXU efficiency
(:data:`PARAMETERS_FITTED`) on four Google MLPerf Training v0.7 runs of two model families at
per-core batches of 1 to 128 (:data:`MEASUREMENTS`): the per-step cost is identified by the
small per-core batches, the efficiency by the large ones.  It prints every point's fitted and
**leave-one-out** error (:func:`leave_one_out`: refit without the point, predict it) against
the 15% goal, the fit with ``vector_efficiency`` instead as a sensitivity, and cross-checks on
earlier figures (LAMB, a third-party ResNet-50 run) and the LAMB weak-scaling series.

Measurements, converted to one TPUv3 core's step time.  The model is one core; what a
multi-chip data-parallel run pays besides, and what the measured run's code does differently
from the model's defaults, is modelled per measurement from public figures (the
**mechanisms**, chosen before looking at the validation error; hardware/README.md lists what
was tried, in order):

* the gradient all-reduce over the ICI (:mod:`hardware.distributed`), after backward;
* the run's precision and optimizer state (``overrides``: chip fields the run's code sets);
* the workload the run actually trains (BERT pre-training heads, one-hot embedding GEMM).

Input pipeline and host work are assumed hidden (TPUEstimator's infeed runs ahead on the host).

``mlperf-v0.7-bert-v3-32`` (fit, attempt 5)
    Google's MLPerf Training v0.7 submission, closed division, "cloud" TPU v3-32 (16 chips, 32
    cores), TensorFlow 2 (mlcommons/training_results_v0.7, ``Google/results/tpu-v3-32-TF2.0/
    bert/result_*.txt``; command line in ``Google/benchmarks/bert/tpu-v3-32-TF2.0/
    run_and_time.sh``: ``--dtype=bf16 --optimizer_type=lamb --train_batch_size=448
    --max_seq_length=512 --max_predictions_per_seq=76 --steps_per_loop=1117``).  The log marks
    every host loop of 1,117 steps (``block_start`` / ``block_stop``; "epochs are steps" in its
    code), so the step time excludes initialisation and evaluation: median 460.5 ms per step
    over the 10 runs' blocks after the first.  448 / 32 = 14 sequences of 512 per core.
    Mechanisms: pre-training heads (76 masked positions in the run, 77 = ceil(0.15 s) in the
    model), the word embedding gathered (the TF2 ``OnDeviceEmbedding`` default), bf16
    activations, LAMB's two fp32 moments (the default 8 bytes), fp32 gradient all-reduce over 16
    chips.
``mlperf-v0.7-resnet50-v3-32`` (validation, attempt 5)
    The same submission's ResNet-50 (``.../resnet/result_*.txt``; ``--dtype=bf16
    --optimizer=LARS --batch_size=4096 --steps_per_loop=313 --epochs_between_evals=4``):
    ``block_start`` to ``eval_start`` spans 4 epochs of 313 steps; median 125.6 ms per step over
    the 5 runs' blocks after the first.  4,096 / 32 = 128 images per core.  Mechanisms: bf16,
    LARS (4 bytes of optimizer state per parameter), fp32 gradient all-reduce over 16 chips.

The pair used in attempts 1-3, now printed as cross-checks on the calibrated chip:

``lamb-bert-large`` (fit in attempts 1-3)
    You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
    ICLR 2020 (arXiv:1904.00962), Table 1, baseline row: BERT-Large, batch 512, 1,000k
    iterations, 16 TPUv3 chips, 81.4 h.  16 chips x 2 cores = 32 cores, 512 / 32 = 16
    sequences per core; 81.4 h x 3,600 s / 1,000,000 steps = 0.2930 s per step, of which 90% of
    the steps run at sequence 128 and 10% at 512 (the BERT recipe, Devlin et al. 2019, A.2).
    Mechanisms: the google-research/bert TPU code (``run_pretraining.py``) -- pre-training heads
    (masked LM on 20 / 77 positions, next sentence), the word embedding as a one-hot GEMM on TPU
    (``use_one_hot_embeddings=FLAGS.use_tpu``), **fp32 activations** (the code has no bfloat16
    casts; assumption: XLA runs the fp32 matmuls as single-pass bf16 on the MXU, TPU's default
    precision, so only memory traffic doubles), Adam's two fp32 moments; fp32 gradient
    all-reduce over 16 chips.  **Assumption**: the LAMB authors' baseline ran that code.
``resnet50-v3-512`` (validation in attempts 1-3)
    ResNet-50 v1.5 with Google's MLPerf v0.6 TPU code on a TPUv3-512 slice (256 chips, 512
    cores), batch 32,768, 480,000 images/s: a public third-party reproduction (S. Presser,
    Feb. 2020, https://threadreaderapp.com/thread/1223395022814339073.html), not an official
    Google figure.  32,768 / 512 = 64 images per core; 480,000 / 512 = 937.5 images/s per
    core; 64 / 937.5 = 0.06827 s per step.  Mechanisms: bf16 activations (the TPU ResNet code's
    ``precision=bfloat16``), LARS with one fp32 momentum (4 bytes of optimizer state per
    parameter), fp32 gradient all-reduce over 256 chips.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from .compression import Policy
from .config import ChipConfig
from .distributed import DataParallel, allreduce_seconds
from .simulate import simulate_step
from .workload import Workload, bert, paper_model

PARAMETERS = {"vector_efficiency": (1e-3, 1.0), "mxu_efficiency": (1e-3, 1.0),
              "op_overhead_cycles": (0.0, 1e7), "step_overhead_cycles": (0.0, 1e9)}
_SCALE = {"vector_efficiency": 1.0, "mxu_efficiency": 1.0, "op_overhead_cycles": 1e4,
          "step_overhead_cycles": 1e6}
PARAMETERS_FITTED = ("step_overhead_cycles", "mxu_efficiency")


@dataclass(frozen=True)
class Measurement:
    """A published training run as one core's step time.

    ``phases``: ``((model, batch per core, share of steps), ...)`` with models from
    :data:`hardware.workload.PAPER_MODELS` or :class:`Workload` objects; ``overrides``:
    ``((chip field, value), ...)`` that the measured run's code sets (activation precision,
    optimizer state); ``data_parallel``: the chips the batch was spread over (``None``: one
    core, no all-reduce); ``bert_options``: keyword arguments of :func:`hardware.workload.bert`
    for the BERT models named in ``phases`` (the workload the run's code trains)."""

    name: str
    source: str
    phases: tuple
    seconds: float
    arithmetic: str
    overrides: tuple = ()
    data_parallel: DataParallel | None = None
    bert_options: tuple = ()
    #: the optimizer update sharded across the replicas (each core updates 1 / cores of the
    #: weights; reduce-scatter + all-gather cost what the all-reduce costs)
    sharded_update: bool = False


LAMB_BERT_LARGE = Measurement(
    "lamb-bert-large", "You et al., ICLR 2020 (arXiv:1904.00962), Table 1, baseline",
    (("bert-large-128", 16, 0.9), ("bert-large-512", 16, 0.1)), 81.4 * 3600 / 1_000_000,
    "81.4 h x 3600 s / 1,000,000 steps; batch 512 over 16 chips x 2 cores = 16 per core; "
    "90% of steps at sequence 128, 10% at 512",
    overrides=(("act_bytes", 4),), data_parallel=DataParallel(chips=16),
    bert_options=(("pretraining", True), ("one_hot_embeddings", True)))
RESNET50_V3_512 = Measurement(
    "resnet50-v3-512", "S. Presser (2020), Google's MLPerf v0.6 ResNet-50 code on TPUv3-512, "
    "third-party reproduction", (("resnet50", 64, 1.0),), 64 / (480_000 / 512),
    "batch 32,768 / 512 cores = 64 per core; 480,000 img/s / 512 = 937.5 img/s per core; 64 / 937.5",
    overrides=(("optimizer_bytes_per_param", 4),), data_parallel=DataParallel(chips=256))
_V07 = "mlcommons/training_results_v0.7, Google/results/tpu-v3-32-TF2.0"
_V07_POD = "mlcommons/training_results_v0.7, Google/results/tpu-v3-8192-TF"
#: **Assumption** for the MLPerf v0.7 runs: the weight update is sharded across replicas, as
#: Xu et al. describe for data-parallel training on TPU in XLA ("Automatic Cross-Replica
#: Sharding of Weight Update in Data-Parallel Training", arXiv:2004.13336, 2020); the logs do
#: not say.  Without it every core would run BERT-large's whole LAMB update (336M parameters x
#: 30 bytes, 22 ms), more than the 1-sequence run's whole measured step leaves for it.
_SHARDED = dict(sharded_update=True)
MLPERF_BERT_V3_32 = Measurement(
    "mlperf-v0.7-bert-v3-32", f"{_V07}/bert/result_0..9.txt (Google, MLPerf Training v0.7, closed, cloud)",
    (("bert-large-512", 14, 1.0),), 0.4605,
    "global batch 448 over 16 chips x 2 cores = 14 per core, sequence 512; the log's block_start -> "
    "block_stop spans steps_per_loop = 1,117 training steps (epochs are steps in this log); median "
    "over the 10 runs' blocks after the first: 460.5 ms per step (460.3-460.7)",
    data_parallel=DataParallel(chips=16), bert_options=(("pretraining", True),), **_SHARDED)
MLPERF_BERT_V3_8192 = Measurement(
    "mlperf-v0.7-bert-v3-8192", f"{_V07_POD}/bert/result_0.txt (Google, MLPerf Training v0.7, closed, research)",
    (("bert-large-512", 1, 1.0),), 2.852 / 62,
    "global batch 8,192 over 4,096 chips x 2 cores = 1 per core, sequence 512; blocks of 62 steps "
    "(epoch_count 62; epochs are steps in this log), block_start -> block_stop before each eval; "
    "median of the 7 blocks after the first (2,832-2,911 ms): 2,852 ms / 62 = 46.0 ms per step",
    data_parallel=DataParallel(chips=4096), bert_options=(("pretraining", True),), **_SHARDED)
MLPERF_RESNET50_V3_32 = Measurement(
    "mlperf-v0.7-resnet50-v3-32", f"{_V07}/resnet/result_0..4.txt (Google, MLPerf Training v0.7, closed, cloud)",
    (("resnet50", 128, 1.0),), 0.1256,
    "global batch 4,096 over 16 chips x 2 cores = 128 per core; block_start -> eval_start spans 4 "
    "epochs of steps_per_loop = 313 steps (ceil(1,281,167 / 4,096)); median over the 5 runs' blocks "
    "after the first: 157.3 s / 1,252 = 125.6 ms per step (125.5-126.4)",
    overrides=(("optimizer_bytes_per_param", 4),), data_parallel=DataParallel(chips=16), **_SHARDED)
MLPERF_RESNET50_V3_8192 = Measurement(
    "mlperf-v0.7-resnet50-v3-8192", f"{_V07_POD}/resnet/result_0.txt (Google, MLPerf Training v0.7, closed, research)",
    (("resnet50", 8, 1.0),), 1.097 / 80,
    "global batch 65,536 over 4,096 chips x 2 cores = 8 per core; blocks of 4 epochs of "
    "ceil(1,281,167 / 65,536) = 20 steps; block_start -> block_stop (which includes one evaluation "
    "of 50,000 images, about 6 per core, not subtracted) median of the 13 blocks after the first "
    "(1,034-1,165 ms): 1,097 ms / 80 = 13.7 ms per step",
    overrides=(("optimizer_bytes_per_param", 4),), data_parallel=DataParallel(chips=4096), **_SHARDED)
MEASUREMENTS = (MLPERF_RESNET50_V3_32, MLPERF_RESNET50_V3_8192, MLPERF_BERT_V3_32, MLPERF_BERT_V3_8192)
#: earlier figures (a LAMB paper table, a third-party reproduction), reported as cross-checks
CROSS_CHECKS = (LAMB_BERT_LARGE, RESNET50_V3_512)

#: You et al. 2020, Table 1, the LAMB rows at 16 sequences per core (batch = 32 x chips):
#: ``(chips, batch, iterations, hours)``; iteration counts as printed (62k, 31k and 15.6k are
#: rounded: at most 1% off).  Weak scaling: the same work per core on 16 to 1,024 chips.
LAMB_WEAK_SCALING = ((16, 512, 1_000_000, 82.8), (32, 1024, 500_000, 43.2), (64, 2048, 250_000, 21.4),
                     (128, 4096, 125_000, 693.6 / 60), (256, 8192, 62_000, 390.5 / 60),
                     (512, 16384, 31_000, 200.0 / 60), (1024, 32768, 15_600, 101.2 / 60))


_WORKLOADS: dict = {}  #: (name, bert_options) -> Workload (immutable, built once)


def _workload(name: str, bert_options: tuple) -> Workload:
    """A paper model by name, BERT built with ``bert_options``."""
    key = (name, bert_options)
    if key not in _WORKLOADS:
        if bert_options and name.startswith("bert-"):
            _, size, seq = name.split("-")
            _WORKLOADS[key] = bert(size, int(seq), **dict(bert_options))
        else:
            _WORKLOADS[key] = paper_model(name)
    return _WORKLOADS[key]


def _phases(m: Measurement) -> list[tuple[Workload, int, float]]:
    """``m``'s phases with their workloads built."""
    return [(model if isinstance(model, Workload) else _workload(model, m.bert_options), batch, share)
            for model, batch, share in m.phases]


def predict(chip: ChipConfig, measurement: Measurement) -> float:
    """The model's step time for ``measurement`` (dense stash: what the measured runs store):
    one core's step with the run's ``overrides``, its optimizer phase divided over the cores
    if the update is sharded, plus the gradient all-reduce."""
    run_chip = dataclasses.replace(chip, **dict(measurement.overrides))
    dp = measurement.data_parallel
    total = 0.0
    for w, batch, share in _phases(measurement):
        r = simulate_step(run_chip, w, Policy("dense"), batch)
        step = r.seconds
        if dp is not None:
            if measurement.sharded_update:
                step -= r.optimizer_cycles * (1 - 1 / (2 * dp.chips)) / run_chip.clock_hz
            step += allreduce_seconds(w.params, dp)
        total += share * step
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

    def chip_at(x):
        return dataclasses.replace(chip, **{p: float(v * _SCALE[p]) for p, v in zip(params, x)})

    def residuals(x):
        c = chip_at(x)
        return np.array([math.log(predict(c, m) / m.seconds) for m in measurements])

    lo = [PARAMETERS[p][0] / _SCALE[p] for p in params]
    hi = [PARAMETERS[p][1] / _SCALE[p] for p in params]
    x0 = [min(max(getattr(chip, p) / _SCALE[p], a), b) for p, a, b in zip(params, lo, hi)]
    x0 = [v if a < v < b else (a + b) / 2 if b < 1e3 else a + 1.0 for v, a, b in zip(x0, lo, hi)]
    sol = least_squares(residuals, x0, bounds=(lo, hi), x_scale="jac", xtol=1e-12, ftol=1e-12)
    fitted = chip_at(sol.x)
    return Calibration(fitted, {p: getattr(fitted, p) for p in params},
                       relative_errors(fitted, measurements))


GOAL = 0.15  #: the leave-one-out error we aim for (issue #19)


def leave_one_out_fits(chip: ChipConfig, measurements, params=PARAMETERS_FITTED) -> dict:
    """``{name: Calibration}``: the fit to every measurement but the named one (memoised: the
    report and the sensitivity bands both read them)."""
    return dict(_loo_fits(chip, tuple(measurements), tuple(params)))


@functools.lru_cache(maxsize=8)
def _loo_fits(chip: ChipConfig, measurements: tuple, params: tuple) -> tuple:
    return tuple((m.name, calibrate(chip, measurements[:i] + measurements[i + 1:], params))
                 for i, m in enumerate(measurements))


def leave_one_out(chip: ChipConfig, measurements, params=PARAMETERS_FITTED) -> dict:
    """``{name: relative error}`` of each measurement predicted by a fit to all the others."""
    fits = leave_one_out_fits(chip, measurements, params)
    return {m.name: predict(fits[m.name].chip, m) / m.seconds - 1 for m in measurements}


def fitted_ranges(chip: ChipConfig, cal: Calibration, measurements=MEASUREMENTS,
                  params=PARAMETERS_FITTED) -> tuple:
    """``((field, low, high, what), ...)``: each fitted parameter's range over the
    leave-one-out fits (for :func:`hardware.sensitivity.sensitivity`)."""
    fits = leave_one_out_fits(chip, measurements, params)
    return tuple((p, min(f.fitted[p] for f in fits.values()), max(f.fitted[p] for f in fits.values()),
                  f"calibrated ({cal.fitted[p]:.4g}), range of the leave-one-out fits") for p in params)


def without_mechanisms(m: Measurement) -> Measurement:
    """``m`` as the bare one-core model sees it: no all-reduce, no overrides, and the plain
    workload (BERT with a classifier head and a gathered embedding)."""
    return dataclasses.replace(m, overrides=(), data_parallel=None, bert_options=(), sharded_update=False)


def mechanism_breakdown(chip: ChipConfig, m: Measurement) -> list[tuple[str, float]]:
    """What each modelled mechanism adds to ``m``'s predicted step, in ms, added one at a
    time in this order: the run's workload, its overrides, the all-reduce, the sharded update."""
    steps = [("workload (pre-training heads, embedding as the run looks it up)", {"bert_options": m.bert_options}),
             ("precision and optimizer state", {"overrides": m.overrides}),
             ("gradient all-reduce", {"data_parallel": m.data_parallel}),
             ("sharded weight update", {"sharded_update": m.sharded_update})]
    cur = without_mechanisms(m)
    prev, out = predict(chip, cur), []
    for what, change in steps:
        cur = dataclasses.replace(cur, **change)
        now = predict(chip, cur)
        out.append((what, (now - prev) * 1e3))
        prev = now
    return out


def weak_scaling_lines(chip: ChipConfig) -> list[str]:
    """The LAMB weak-scaling series (:data:`LAMB_WEAK_SCALING`) against the model (``chip``
    with the BERT run's mechanisms, the all-reduce over each row's chips): the measured step
    grows with the chip count; the ring all-reduce's ``2 (p - 1) / p`` barely does."""
    first = None
    cells = []
    for chips, batch, iters, hours in LAMB_WEAK_SCALING:
        m = dataclasses.replace(LAMB_BERT_LARGE, seconds=hours * 3600 / iters,
                                data_parallel=DataParallel(chips=chips))
        p = predict(chip, m)
        first = first or (m.seconds, p)
        cells.append(f"{chips} chips {m.seconds * 1e3:.0f} ms (model {p * 1e3:.0f})")
    last_s, last_p = m.seconds, p
    return ["  weak scaling, LAMB at 16 sequences per core (You et al. Table 1; measured per step, model "
            "on the calibrated chip): " + ", ".join(cells),
            f"    16 -> 1,024 chips: measured {last_s / first[0] - 1:+.0%}, model {last_p / first[1] - 1:+.1%}: "
            "a cost that grows with the chip count is missing from the model"]


def _fit_line(cal: Calibration) -> str:
    return ", ".join(f"{k} = {v:.4g}" + (f" ({v / cal.chip.clock_hz * 1e3:.2f} ms)" if k.endswith("_cycles") else "")
                     for k, v in cal.fitted.items())


def _slope_lines(chip: ChipConfig, measurements) -> list[str]:
    """Per model family measured at two per-core batches: the measured and modelled (uncalibrated)
    time per extra sample, the cost the one shared efficiency has to reconcile."""
    families: dict = {}
    for m in measurements:
        model, batch, _ = m.phases[0]
        families.setdefault(str(model).split("-")[0], []).append((batch, m))
    lines = []
    for family, runs in families.items():
        if len(runs) < 2:
            continue
        (b0, m0), (b1, m1) = min(runs, key=lambda r: r[0]), max(runs, key=lambda r: r[0])
        meas = (m1.seconds - m0.seconds) / (b1 - b0)
        model = (predict(chip, m1) - predict(chip, m0)) / (b1 - b0)
        lines.append(f"  per extra sample, {family} (per-core batch {b0} -> {b1}): measured {meas * 1e3:.3f} ms, "
                     f"model {model * 1e3:.3f} ms uncalibrated ({model / meas - 1:+.1%})")
    return lines


def calibration_report(chip: ChipConfig, measurements=MEASUREMENTS, params=PARAMETERS_FITTED,
                       alternatives=(("step_overhead_cycles", "vector_efficiency"),),
                       cross_checks=CROSS_CHECKS) -> tuple[Calibration, list[str]]:
    """Fit ``params`` on every measurement; the calibrated chip and printable lines: each
    point's measured, uncalibrated, fitted and leave-one-out figures with its source, the goal
    verdict on the worst leave-one-out error, ``alternatives`` (other parameter sets, their
    leave-one-out errors), ``cross_checks`` on the calibrated chip, the weak-scaling series."""
    cal = calibrate(chip, measurements, params)
    loo = leave_one_out(chip, measurements, params)
    before = relative_errors(chip, measurements)
    lines = ["Calibration (one core's step time, dense stash, with each run's modelled mechanisms; fit: "
             + _fit_line(cal) + "):",
             "| run | measured ms | model, uncalibrated | fitted | error, fitted | error, leave-one-out |",
             "|---|---|---|---|---|---|"]
    for m in measurements:
        p, s, e = cal.errors[m.name]
        lines.append(f"| {m.name} | {s * 1e3:.1f} | {before[m.name][0] * 1e3:.1f} | {p * 1e3:.1f} | "
                     f"{e:+.1%} | {loo[m.name]:+.1%} |")
    lines.append("")
    for m in measurements:
        lines.append(f"  {m.name}: {m.arithmetic}; {m.source}; mechanisms (uncalibrated): " + ", ".join(
            f"{what} {ms:+.1f} ms" for what, ms in mechanism_breakdown(chip, m)))
    lines += _slope_lines(chip, measurements)
    worst = max(abs(e) for e in loo.values())
    lines.append(f"  leave-one-out {'within' if worst <= GOAL else 'OUTSIDE'} the {GOAL:.0%} goal "
                 f"(worst {worst:.1%})")
    for alt in alternatives:
        c = calibrate(chip, measurements, alt)
        lines.append("  sensitivity, fit " + _fit_line(c) + " instead: leave-one-out " + ", ".join(
            f"{n} {e:+.1%}" for n, e in leave_one_out(chip, measurements, alt).items()))
    for m in cross_checks:
        p, s, e = relative_errors(cal.chip, [m])[m.name]
        lines.append(f"  cross-check {m.name}: measured {s * 1e3:.1f} ms ({m.source}); model {p * 1e3:.1f} ms "
                     f"calibrated ({before.get(m.name, relative_errors(chip, [m])[m.name])[0] * 1e3:.1f} ms "
                     f"uncalibrated): error {e:+.1%}")
    return cal, lines + weak_scaling_lines(cal.chip)
