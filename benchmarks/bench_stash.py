"""What deferred dropout costs in step time, and what selection and sparse backward cost.

    python benchmarks/bench_stash.py [--runs 3] [--rounds 9] [--repeats 15] [--clock cpu|wall] [--only 1,2,3,4]

1. Step time (forward + backward) under ZeroValue and DeferredDropout(0.9) against Dense, for the
   MLP, the CNN and a transformer block (goal: each within 5% of Dense).  Every (model, policy)
   runs in its own process, one BLAS thread, on a rotation of 16 batches (the same batch every
   step lets the CPU's branch predictor learn the index extraction of the stash: np.flatnonzero
   of a 10%-dense mask took 70 us or 190 us for 131k elements depending on whether it had seen
   that mask before).  In each of ``--rounds`` interleaved rounds every process runs 2 steps
   while the others wait; the overhead of a run is the ratio of the medians.  ``--runs``
   independent runs (fresh processes each) give the median and the range printed.
   ``--clock cpu`` (the default) times process CPU time, which a machine shared with other
   jobs disturbs far less than wall time.
2. Where the stash's time goes in one step: pack (selection + encoding) and unpack, per policy.
3. Selection cost per million float32 elements: exact top-k against the sampled threshold, the
   whole pack (selection + bitmap + values) and unpack, and the structured selections.
4. dW = X_sparse^T dY: rebuilding X densely then BLAS, against scipy.sparse CSR, by density.
"""
from __future__ import annotations

import argparse
import collections
import math
import statistics
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread: the ratios the stash issue asks for

import numpy as np
import scipy.sparse as sp

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),  # _timing
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]  # this checkout's minidd
from _timing import ProcessPool, median_times  # noqa: E402

from minidd import Tensor, functional as F, nn, stash  # noqa: E402
from minidd.optim import SGD  # noqa: E402
from minidd.stash import entries  # noqa: E402
from minidd.stash.structures import topk_indices  # noqa: E402


def _step_fn(model, make_batch, loss_of, policy, batches=1):
    """One forward + backward under ``policy``; ``batches`` > 1 rotates through that many."""
    opt = SGD(model.parameters(), lr=1e-3)
    pool = [make_batch() for _ in range(batches)]
    turn = iter(range(1 << 62))

    def step():
        x, y = pool[next(turn) % batches]
        with stash.use(policy):
            loss = loss_of(model(x), y)
            opt.zero_grad()
            loss.backward()
    return step


def _cases():
    rng = np.random.default_rng(0)
    ce = F.cross_entropy
    return {
        "mlp 784-1024-1024-10 b128": (
            nn.MLP((784, 1024, 1024, 10), rng=rng),
            lambda: (Tensor(rng.standard_normal((128, 784)).astype(np.float32)), rng.integers(0, 10, 128)),
            ce),
        "cnn (32,64) b64": (
            nn.CNN(channels=(32, 64), rng=rng),
            lambda: (Tensor(rng.standard_normal((64, 1, 28, 28)).astype(np.float32)), rng.integers(0, 10, 64)),
            ce),
        "transformer block d256 b8x128": (
            nn.TransformerEncoderBlock(256, 4, 1024, rng=rng),
            lambda: (Tensor(rng.standard_normal((8, 128, 256)).astype(np.float32)), None),
            lambda out, _: out.sum()),
    }


def _policies():
    return (stash.Dense(), stash.ZeroValue(), stash.DeferredDropout(0.9))


ROTATION = 16  # batches a step rotates through in section 1


def make_steps(key):
    """A section-1 worker's one step: ``key`` is "case|policy" (module level: workers are spawned)."""
    case, policy = key.split("|")
    model, batch, loss_of = _cases()[case]
    policy = {p.name: p for p in _policies()}[policy]
    return {case: collections.namedtuple("Step", "step")(_step_fn(model, batch, loss_of, policy, ROTATION))}


def one_run(rounds, clock):
    """Median step time of every (case, policy), each in its own fresh process, interleaved."""
    cases, names = list(_cases()), [p.name for p in _policies()]
    pool = ProcessPool(make_steps, [f"{c}|{n}" for c in cases for n in names])
    try:
        medians = pool.interleaved_medians(cases, rounds, steps_per_round=2)
    finally:
        pool.close()
    return {(c, n): medians[(c, f"{c}|{n}")][clock == "cpu"] for c in cases for n in names}


def step_overheads(runs, rounds, clock):
    print(f"1) step time against Dense: {runs} runs, each every (model, policy) in its own process, "
          f"median of {rounds} interleaved rounds of 2 steps, {clock} time; load average "
          f"{os.getloadavg()[0]:.1f}")
    results = [one_run(rounds, clock) for _ in range(runs)]
    print(f"   (load average {os.getloadavg()[0]:.1f} at the end)")
    for case in _cases():
        dense = [r[(case, "dense")] for r in results]
        line = f"   {case:<30} dense {statistics.median(dense) * 1e3:6.2f} ms"
        for name in ("zero_value", "deferred_dropout"):
            over = sorted(r[(case, name)] / r[(case, "dense")] - 1 for r in results)
            line += (f"   {name} {statistics.median(over):+6.1%} (runs " + " ".join(f"{o:+.1%}" for o in over) + ")")
        print(line)


class _StashTimer:
    """Adds up the time spent in every policy's pack and every entry's unpack."""

    def __init__(self):
        self.total = collections.Counter()
        self._undo = []

    def __enter__(self):
        for label, classes, method in (("pack", (stash.Dense, stash.ZeroValue, stash.DeferredDropout), "pack"),
                                       ("unpack", (entries.DenseEntry, entries.SparseEntry,
                                                   entries.PackedMaskEntry), "unpack")):
            for cls in classes:
                original = cls.__dict__[method]
                self._undo.append((cls, method, original))
                setattr(cls, method, self._timed(label, original))
        return self

    def _timed(self, label, fn):
        def timed(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.total[label] += time.process_time() - t
        return timed

    def __exit__(self, *exc):
        for cls, method, original in self._undo:
            setattr(cls, method, original)


def stash_breakdown(repeats):
    print(f"2) stash time per step (CPU ms, mean of {repeats} steps): pack / unpack, and their share of a Dense step")
    for name, (model, batch, loss_of) in _cases().items():
        dense = median_times({"d": _step_fn(model, batch, loss_of, stash.Dense())}, repeats=repeats,
                             clock=time.process_time)["d"]
        parts = []
        for policy in _policies()[1:]:
            step = _step_fn(model, batch, loss_of, policy)
            step()
            with _StashTimer() as st:
                for _ in range(repeats):
                    step()
            pack, unpack = st.total["pack"] / repeats, st.total["unpack"] / repeats
            parts.append(f"{policy.name} {pack * 1e3:6.2f} / {unpack * 1e3:5.2f} ms "
                         f"({(pack + unpack) / dense:5.1%})")
        print(f"   {name:<32} " + "   ".join(parts))


def selection_costs(repeats):
    rng = np.random.default_rng(1)
    n = 1 << 20
    x = rng.standard_normal(n).astype(np.float32)
    relu = np.maximum(x, 0).reshape(1024, 1024)
    mag = np.abs(x)
    k = math.ceil(0.1 * n)
    info = stash.PackInfo(stash.WEIGHT_GRAD_INPUT, stash.Scope("bench"), "bench")

    def pack(policy, arr=x):
        row = stash.PackInfo(stash.WEIGHT_GRAD_INPUT, info.scope, "bench", arr.shape[-1])
        return lambda: policy.pack(arr, row)

    exact = stash.DeferredDropout(0.9)
    entry = exact.pack(x, info)
    zv_entry = stash.ZeroValue().pack(relu, info)
    fns = {
        "np.partition alone": lambda: np.partition(mag, n - k),
        "exact top-k indices": lambda: topk_indices(mag, k, "bench"),
        "pack, exact": pack(exact),
        "pack, exact, ReLU output": pack(exact, relu),
        "pack, sampled threshold": pack(stash.DeferredDropout(0.9, selection="sample")),
        "pack, rows": pack(stash.DeferredDropout(0.9, structure="row"), relu),
        "pack, blocks of 128": pack(stash.DeferredDropout(0.9, structure="block"), relu),
        "pack, 2:4": pack(stash.DeferredDropout(structure="nm"), relu),
        "unpack (bitmap + values)": entry.unpack,
        "pack, zero_value (no zeros: dense)": lambda: stash.ZeroValue().pack(x, info),
        "pack, zero_value, ReLU output": pack(stash.ZeroValue(), relu),
        "unpack, zero_value, ReLU output": zv_entry.unpack,
    }
    t = median_times(fns, repeats=repeats, clock=time.process_time)
    print("3) CPU cost per million float32 elements (1,048,576), drop 0.9")
    for name, v in t.items():
        print(f"   {name:<36} {v * 1e3 / (n / 1e6):7.2f} ms")


def sparse_backward_crossover(repeats):
    rng = np.random.default_rng(2)
    m, kdim, ndim = 1024, 1024, 1024
    g = rng.standard_normal((m, ndim)).astype(np.float32)
    print(f"4) dW = X_sparse^T dY, X {m}x{kdim}, dY {m}x{ndim}: CPU time relative to dense BLAS on X")
    for density in (0.5, 0.25, 0.1, 0.05, 0.01):
        x = rng.standard_normal((m, kdim)).astype(np.float32)
        x[rng.random(x.shape) >= density] = 0
        entry = stash.ZeroValue().pack(x, stash.PackInfo(stash.WEIGHT_GRAD_INPUT, stash.Scope("bench"), "bench"))
        idx = np.flatnonzero(x)
        vals = x.ravel()[idx]

        def dense_path():
            return entry.unpack().T @ g

        def csr_path():
            xs = sp.csr_matrix((vals, (idx // kdim, idx % kdim)), shape=(m, kdim))
            return (xs.T @ g)

        t = median_times({"dense": dense_path, "csr": csr_path, "blas only": lambda: x.T @ g},
                         repeats=repeats, clock=time.process_time)
        print(f"   density {density:5.2f}: rebuild+BLAS {t['dense'] / t['blas only']:5.2f}x   "
              f"scipy CSR {t['csr'] / t['blas only']:5.2f}x   (BLAS alone {t['blas only'] * 1e3:.2f} ms)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="independent runs of section 1 (fresh processes)")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds per run of section 1 (median)")
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats in sections 2-4 (median)")
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                    help="time process CPU time (default) or wall time in section 1")
    ap.add_argument("--only", default="1,2,3,4", help="comma-separated sections to run")
    args = ap.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",")}
    if "1" in sections:
        step_overheads(args.runs, args.rounds, args.clock)
    if "2" in sections:
        stash_breakdown(args.repeats)
    if "3" in sections:
        selection_costs(args.repeats)
    if "4" in sections:
        sparse_backward_crossover(args.repeats)


if __name__ == "__main__":
    main()
