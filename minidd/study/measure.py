"""The measurement harness: train one recipe under one stash policy and measure the run.

``run("mlp", "deferred_dropout:0.9", seed=0)`` trains the task's model on its real data set
(:mod:`minidd.study.recipes` gives every hyperparameter) and measures what the study reports: the
learning curve, the stash footprint (ledger, per role, on a fixed probe batch), the
gradient-fidelity probe against ``Dense``, the step overhead against ``Dense`` and the hardware
model's footprint and speedup for the model's trace.  The result is plain data with the fields
of a run result (:class:`minidd.study.results.RunResult`).
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from .. import __version__, stash
from . import recipes
from ..nn import Dropout
from .results import RunResult, run_key
from ..trace import trace


def run(task: str, policy, seed: int, epochs: int | None = None, train_limit: int | None = None,
        progress: bool = False, hp: dict | None = None, measure_run: bool = True) -> RunResult:
    """Train ``task`` under ``policy`` (a spec or a policy) with ``seed`` and measure it.

    ``epochs`` (steps for ``mlm``) and ``hp`` (hyperparameter overrides, checked against the
    recipe) change the recipe; ``train_limit`` trains on the first N examples only.  With
    ``measure_run=False`` only the learning curve and final scores are recorded (the MLM study).
    Returns its :class:`~minidd.study.results.RunResult` (key ``task|spec|seed``).
    """
    hp = recipes.config(task, **(hp or {}))
    if epochs:
        hp["steps" if "steps" in hp else "epochs"] = epochs
    pol = stash.as_policy(policy)
    t0, cpu0 = time.perf_counter(), time.process_time()
    net, history, probe, batch, metrics = recipes.train(task, hp, pol, seed, train_limit, progress)
    train_seconds = time.perf_counter() - t0
    history = dict(history)
    epoch_seconds = history.pop("seconds")  # wall-clock lives in timings only
    timings = {"train_seconds": train_seconds, "epoch_seconds": epoch_seconds}
    measured = {"fidelity": [], "stash": {}, "hardware": {}}
    if measure_run and any(p.requires_grad for p in net.parameters()):  # (a fully frozen model has no step)
        t1 = time.perf_counter()
        measured = measure(net, probe, batch, pol)
        timings.update(measured.pop("step_times"), measure_seconds=time.perf_counter() - t1)
    timings["total_seconds"] = time.perf_counter() - t0
    timings["cpu_seconds"] = time.process_time() - cpu0   # this process's CPU time: what a run costs
    spec = stash.format_spec(pol)
    return RunResult(run_key(task, spec, seed), task, pol.config(), spec, seed, "ok", None,
                     {"hp": hp, "train_limit": train_limit, "version": __version__}, metrics,
                     curves=history, timings=timings, **measured)


def run_curves(task: str, policy, seed: int, epochs: int | None = None, train_limit: int | None = None,
               hp: dict | None = None) -> RunResult:
    """:func:`run` without the measurements (learning curve and final scores only): the runner
    of studies that compare training quality (``runner="minidd.study.measure:run_curves"``)."""
    return run(task, policy, seed, epochs, train_limit, hp=hp, measure_run=False)


def measure(net, loss_fn, batch: int, policy: stash.StashPolicy, repeats: int = 7) -> dict:
    """Stash footprint, gradient fidelity, step overhead against Dense and the hardware model's
    view of ``net`` on one fixed batch (``loss_fn(net)`` builds its loss) under ``policy``.

    Returns ``stash``, ``fidelity``, ``hardware`` and ``step_times`` (see :func:`step_overhead`).
    """
    import hardware
    net.train()
    dropouts = [m for m in net.modules() if isinstance(m, Dropout)]
    inner = loss_fn

    def loss_fn(m):  # the same dropout masks on every call: Dense and the policy see one batch
        for d in dropouts:
            d.rng = np.random.default_rng(0)
        return inner(m)

    with stash.use(policy):
        loss = loss_fn(net)
        led = stash.ledger()
        by_role = led.by("role")
        footprint = {"stash_bytes": led.current,
                     "stash_dense_bytes": sum(t["dense_nbytes"] for t in by_role.values()),
                     "by_role": by_role}
        net.zero_grad()
        loss.backward()
        del loss
    fidelity = [] if _is_dense(policy) else stash.gradient_fidelity(net, loss_fn, policy)
    times = step_overhead(net, loss_fn, policy, repeats)
    net.zero_grad()
    traced = trace(net, loss_fn, batch, name=type(net).__name__)
    workload = hardware.workload_from_dict(traced)
    # the TPU model's policies do not model the lossless reductions or the sparsified exact
    # stashes (hardware/accounting.py does): its figures are those of the policy without them
    storage = {k: v for k, v in policy.storage_config().items() if k not in ("lossless", "exact_ops")}
    cmp = hardware.compare(hardware.TPUV3, workload, hardware.policy_from_config(storage), batch=batch)
    return {
        "stash": footprint, "fidelity": fidelity, "step_times": times,
        "hardware": {"stash_reduction": cmp.stash_reduction,
                     "footprint_reduction": cmp.footprint_reduction,
                     "speedup_same_batch": cmp.speedup_same_batch,
                     "speedup_own_batch": cmp.speedup_own_batch,
                     "batch": batch, "max_batch_baseline": cmp.baseline_own.batch,
                     "max_batch_policy": cmp.proposed_own.batch,
                     "trace": traced},   # the report's hardware scenarios are modelled on it
    }


def _is_dense(policy) -> bool:
    return policy.config() == stash.Dense().config()


def step_overhead(net, loss_fn, policy: stash.StashPolicy, repeats: int = 7) -> dict:
    """Time a training step (forward + backward) under ``policy`` against one under ``Dense``.

    Both run in this process in interleaved rounds (policy, dense, dense, policy, ...: drift
    cancels); the overhead is the median over rounds of the ratio within a round, minus 1.  A
    policy equal to ``Dense`` is the same contender: it is timed once and reads 0 exactly.
    Returns ``step_seconds``, ``step_seconds_dense`` (medians) and ``step_overhead``.
    """
    def step(pol):
        t = time.perf_counter()
        with stash.use(pol):
            out = loss_fn(net)
            net.zero_grad()
            out.backward()
        return time.perf_counter() - t

    dense = stash.Dense()
    step(dense)  # warm-up: first-touch allocations
    if _is_dense(policy):
        t = statistics.median(step(dense) for _ in range(repeats))
        return {"step_seconds": t, "step_seconds_dense": t, "step_overhead": 0.0}
    step(policy)
    pol_t, dense_t = [], []
    for i in range(repeats):
        order = ((policy, pol_t), (dense, dense_t)) if i % 2 == 0 else ((dense, dense_t), (policy, pol_t))
        for pol, times in order:
            times.append(step(pol))
    return {"step_seconds": statistics.median(pol_t), "step_seconds_dense": statistics.median(dense_t),
            "step_overhead": statistics.median(p / d for p, d in zip(pol_t, dense_t)) - 1.0}
