"""Writing your own op: softplus as a ``Function`` subclass, checked with ``minidd.check_grad``.

An op is two static methods.  ``forward(ctx, x)`` gets ndarrays and returns one; whatever
backward will read goes through ``ctx.save(array, role=...)`` (the role tells the stash policy
what the array is for).  ``backward(ctx, grad)`` returns one gradient per input.  Then
``check_grad`` compares backward with central finite differences in float64: it passes for the
right derivative and raises for a wrong one, so a gradient test can fail.

    python -m examples.02_custom_op
"""
import argparse

import numpy as np

import minidd
from minidd import Function, Tensor
from minidd.stash import EXACT


class Softplus(Function):
    """``softplus(x) = log(1 + exp(x))``, whose derivative is ``sigmoid(x)``."""

    arg_names = ("x",)

    @staticmethod
    def forward(ctx, x):
        ctx.save(x, role=EXACT)                                 # backward needs x as it is
        return np.logaddexp(0.0, x).astype(x.dtype, copy=False)  # log(e^0 + e^x), no overflow

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad / (1.0 + np.exp(-x))                        # grad * sigmoid(x)


class WrongSoftplus(Softplus):
    """The same forward with a classic bug: the derivative of log(1 + e^x) taken as e^x."""

    name = "wrong_softplus"

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * np.exp(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    x = Tensor(np.linspace(-3, 3, 7), requires_grad=True)  # an ndarray keeps its dtype: float64
    y = Softplus.apply(x)
    y.sum().backward()
    print("x              ", np.round(x.data, 3))
    print("softplus(x)    ", np.round(y.data, 3))
    print("d/dx (backward)", np.round(x.grad, 3), " (= sigmoid(x))")

    errors = {}
    for shape in [(), (5,), (3, 4), (2, 3, 4)]:   # () is a 0-d tensor
        errors[shape] = minidd.check_grad(Softplus.apply, [rng.standard_normal(shape)], rng=rng)
        print(f"check_grad Softplus, input shape {shape}: largest relative error {errors[shape]:.1e}")
    try:
        minidd.check_grad(WrongSoftplus.apply, [rng.standard_normal((3, 4))], rng=rng)
        caught = None
        print("check_grad WrongSoftplus: passed (it should not have!)")
    except minidd.GradcheckError as e:
        caught = str(e)
        print(f"check_grad WrongSoftplus: GradcheckError: {caught}")
    return {"errors": errors, "wrong_caught": caught, "grad": x.grad,
            "expected_grad": 1 / (1 + np.exp(-x.data))}


if __name__ == "__main__":
    main()
