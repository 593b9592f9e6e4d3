"""What deferred dropout costs in step time, and what selection and sparse backward cost.

    python benchmarks/bench_stash.py [--repeats 9]

1. Step time of an SGD step under ZeroValue and DeferredDropout(0.9) against Dense, for the MLP,
   the CNN and a transformer block (goal: deferred dropout within 5% of Dense).
2. Selection cost per million float32 elements: exact top-k against the sampled threshold, and
   the whole pack (selection + bitmap + values) and unpack.
3. dW = X_sparse^T dY: rebuilding X densely then BLAS, against scipy.sparse CSR, by density.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import median_times  # noqa: E402

from minidd import Tensor, functional as F, nn, stash  # noqa: E402
from minidd.optim import SGD  # noqa: E402
from minidd.stash.structures import exact_topk_mask  # noqa: E402


def _step_fn(model, make_batch, loss_of, policy):
    opt = SGD(model.parameters(), lr=1e-3)
    x, y = make_batch()

    def step():
        with stash.use(policy):
            loss = loss_of(model(x), y)
            opt.zero_grad()
            loss.backward()
    return step


def step_overheads(repeats):
    rng = np.random.default_rng(0)
    ce = F.cross_entropy
    cases = {
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
    print(f"1) step time against Dense (median of {repeats} interleaved repeats)")
    for name, (model, batch, loss_of) in cases.items():
        fns = {p.name: _step_fn(model, batch, loss_of, p) for p in
               (stash.Dense(), stash.ZeroValue(), stash.DeferredDropout(0.9))}
        t = median_times(fns, repeats=repeats)
        d = t["dense"]
        print(f"   {name:<32} dense {d * 1e3:7.2f} ms   zero_value {t['zero_value'] / d - 1:+6.1%}"
              f"   deferred_dropout(0.9) {t['deferred_dropout'] / d - 1:+6.1%}")


def selection_costs(repeats):
    rng = np.random.default_rng(1)
    n = 1 << 20
    x = rng.standard_normal(n).astype(np.float32)
    mag = np.abs(x).reshape(1, n)
    k = math.ceil(0.1 * n)
    exact = stash.DeferredDropout(0.9)
    sample = stash.DeferredDropout(0.9, selection="sample")
    scope = stash.Scope("bench")

    def pack(policy):
        return lambda: policy.pack(x, stash.WEIGHT_GRAD_INPUT, scope, None)

    entry = exact.pack(x, stash.WEIGHT_GRAD_INPUT, scope, None)
    fns = {
        "exact top-k mask": lambda: exact_topk_mask(mag, k, "bench"),
        "np.partition alone": lambda: np.partition(mag, n - k, axis=1),
        "pack, exact": pack(exact),
        "pack, sampled threshold": pack(sample),
        "pack, zero_value": lambda: stash.ZeroValue().pack(x, stash.WEIGHT_GRAD_INPUT, scope, None),
        "unpack (bitmap + values)": entry.unpack,
    }
    t = median_times(fns, repeats=repeats)
    print("2) cost per million float32 elements (1,048,576), drop 0.9")
    for name, v in t.items():
        print(f"   {name:<28} {v * 1e3 / (n / 1e6):7.2f} ms")


def sparse_backward_crossover(repeats):
    rng = np.random.default_rng(2)
    m, kdim, ndim = 1024, 1024, 1024
    g = rng.standard_normal((m, ndim)).astype(np.float32)
    print(f"3) dW = X_sparse^T dY, X {m}x{kdim}, dY {m}x{ndim}: time relative to dense BLAS on X")
    for density in (0.5, 0.25, 0.1, 0.05, 0.01):
        x = rng.standard_normal((m, kdim)).astype(np.float32)
        x[rng.random(x.shape) >= density] = 0
        entry = stash.ZeroValue().pack(x, stash.WEIGHT_GRAD_INPUT, stash.Scope("bench"), None)
        idx = np.flatnonzero(x)
        vals = x.ravel()[idx]

        def dense_path():
            return entry.unpack().T @ g

        def csr_path():
            xs = sp.csr_matrix((vals, (idx // kdim, idx % kdim)), shape=(m, kdim))
            return (xs.T @ g)

        t = median_times({"dense": dense_path, "csr": csr_path, "blas only": lambda: x.T @ g},
                         repeats=repeats)
        print(f"   density {density:5.2f}: rebuild+BLAS {t['dense'] / t['blas only']:5.2f}x   "
              f"scipy CSR {t['csr'] / t['blas only']:5.2f}x   (BLAS alone {t['blas only'] * 1e3:.2f} ms)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9, help="timed repeats (median)")
    args = ap.parse_args(argv)
    step_overheads(args.repeats)
    selection_costs(args.repeats)
    sparse_backward_crossover(args.repeats)


if __name__ == "__main__":
    main()
