"""Check an op's backward against central finite differences (in float64).

For each differentiable input ``i`` and a random direction ``v``, the directional derivative
``<grad_i, v>`` from backward must match ``(f(x_i + eps v) - f(x_i - eps v)) / (2 eps)`` where
``f`` projects the output on a fixed random cotangent ``r``.  When an input sits within ``eps``
of a kink (ReLU at 0, ties in max), the one-sided differences disagree; the check then moves the
inputs by a small random shift and tries again.
"""
from __future__ import annotations

import numpy as np

from .autograd import Tensor, no_grad


class GradcheckError(AssertionError):
    """Backward disagrees with finite differences."""


def check_grad(fn, inputs, *, rng: np.random.Generator, eps: float = 1e-6, rtol: float = 1e-5,
               atol: float = 1e-10, directions: int = 2, retries: int = 5) -> float:
    """Raise :class:`GradcheckError` unless ``fn``'s gradients match finite differences.

    ``fn(*tensors)`` returns a Tensor; ``inputs`` are float64 arrays, each made a leaf that
    requires grad (close over anything non-differentiable).  ``rng`` draws the cotangent,
    the directions and the shifts.  Returns the largest relative error seen.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"check_grad: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    xs = [np.array(a, dtype=np.float64) for a in inputs]
    last = None
    for _ in range(retries + 1):
        try:
            return _check_once(fn, xs, rng, eps, rtol, atol, directions)
        except _Kink as k:
            last = k
            xs = [np.asarray(x + rng.standard_normal(x.shape) * 1e-3) for x in xs]
    raise GradcheckError(f"check_grad: every attempt landed on a kink ({last})")


class _Kink(Exception):
    pass


def _check_once(fn, xs, rng, eps, rtol, atol, directions):
    leaves = [Tensor(x.copy(), requires_grad=True) for x in xs]
    out = fn(*leaves)
    if out.dtype != np.float64:
        raise GradcheckError(f"check_grad: output dtype is {out.dtype}, expected float64")
    r = rng.standard_normal(out.shape)
    out.backward(r)

    def f(i, x_i):
        args = [Tensor(x) for x in xs]
        args[i] = Tensor(x_i)
        with no_grad():
            return float(np.sum(fn(*args).data * r))

    worst = 0.0
    for i, x in enumerate(xs):
        grad = leaves[i].grad
        if grad is None:
            grad = np.zeros_like(x)
        if grad.shape != x.shape:
            raise GradcheckError(f"input {i}: gradient shape {grad.shape} != input shape {x.shape}")
        f0 = f(i, x)
        for _ in range(directions):
            v = rng.standard_normal(x.shape)
            fp, fm = f(i, x + eps * v), f(i, x - eps * v)
            numeric = (fp - fm) / (2 * eps)
            one_sided_gap = abs((fp - f0) - (f0 - fm)) / eps
            analytic = float(np.sum(grad * v))
            scale = max(abs(numeric), abs(analytic), 1e-3)
            err = abs(numeric - analytic) / scale
            if err > rtol and abs(numeric - analytic) > atol:
                if one_sided_gap > 1e-4 * scale:
                    raise _Kink(f"input {i}: one-sided slopes differ by {one_sided_gap:.3g}")
                raise GradcheckError(f"input {i}: analytic directional derivative {analytic:.10g} "
                                     f"!= numeric {numeric:.10g} (relative error {err:.3g} > {rtol})")
            worst = max(worst, err)
    return worst
