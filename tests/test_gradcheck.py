import numpy as np
import pytest

import minidd
from minidd import Tensor, functional as F


class WrongGrad(minidd.Function):
    """exp with a backward that is off by 1%: the checker must catch it."""

    name = "wrong_grad_test_op"

    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save(y, role="exact")
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g * y * 1.01


del minidd.Function.registry["wrong_grad_test_op"]  # a test fixture, not an op of the library


def test_checker_catches_a_wrong_backward(rng):
    with pytest.raises(minidd.GradcheckError, match="input 0"):
        minidd.check_grad(lambda x: WrongGrad.apply(x), [rng.standard_normal(5)], rng=rng)


def test_checker_passes_a_right_backward(rng):
    assert minidd.check_grad(F.exp, [rng.standard_normal(5)], rng=rng) < 1e-6


def test_checker_steps_off_a_kink(rng):
    x = np.array([0.0, 1.0, -1.0, 0.0])  # relu's kink at exactly 0
    assert minidd.check_grad(F.relu, [x], rng=rng) < 1e-5


def test_checker_wants_float64_output(rng):
    def float32_exp(x):
        return F.exp(Tensor(x.data.astype(np.float32), requires_grad=True))

    with pytest.raises(minidd.GradcheckError, match="float64"):
        minidd.check_grad(float32_exp, [rng.standard_normal(3)], rng=rng)
