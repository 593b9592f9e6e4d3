import math

import numpy as np
import pytest

from minidd.nn import Parameter
from minidd.optim import SGD, Adam, AdamW, clip_grad_norm, warmup_cosine, warmup_linear


def _param(values, grad):
    p = Parameter(np.array(values, dtype=np.float64), dtype=np.float64)
    p.grad = np.array(grad, dtype=np.float64)
    return p


def test_sgd_momentum_nesterov_and_weight_decay_by_hand():
    p = _param([1.0], [0.5])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    opt.step()                       # g = 0.5 + 0.1 = 0.6; v = 0.6; step g + 0.9 v = 1.14
    assert p.data[0] == pytest.approx(1.0 - 0.1 * 1.14)
    p.grad = np.array([0.5])
    opt.step()                       # g = 0.5 + 0.1 * 0.886 = 0.5886; v = 0.54 + 0.5886
    g = 0.5 + 0.1 * 0.886
    v = 0.9 * 0.6 + g
    assert p.data[0] == pytest.approx(0.886 - 0.1 * (g + 0.9 * v))


def test_adam_and_adamw_match_the_reference_formulas():
    for cls, wd in ((Adam, 0.0), (AdamW, 0.1)):
        p = _param([1.0, -2.0], [0.3, -0.1])
        opt = cls([p], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd)
        x = p.data.copy()
        m = np.zeros(2)
        v = np.zeros(2)
        for t in range(1, 4):
            g = np.array([0.3, -0.1]) * t
            p.grad = g
            opt.step()
            m = 0.9 * m + 0.1 * g
            v = 0.99 * v + 0.01 * g * g
            x = x * (1 - 0.01 * wd)
            x = x - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.99 ** t)) + 1e-8)
        np.testing.assert_allclose(p.data, x, rtol=1e-6)


def test_clip_grad_norm_replaces_gradients():
    a, b = _param([0.0], [3.0]), _param([0.0], [4.0])
    shared = a.grad
    assert clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    assert math.hypot(a.grad[0], b.grad[0]) == pytest.approx(1.0, rel=1e-5)
    assert shared[0] == 3.0  # the old array was not written into


def test_schedules():
    f = warmup_cosine(10, 110)
    assert f(0) == pytest.approx(0.1) and f(9) == 1.0 and f(60) == pytest.approx(0.5) and f(110) == pytest.approx(0.0)
    g = warmup_linear(0, 100, final=0.1)
    assert g(0) == 1.0 and g(50) == pytest.approx(0.55) and g(500) == pytest.approx(0.1)
    p = _param([1.0], [1.0])
    opt = SGD([p], lr=1.0, lr_schedule=warmup_linear(2, 4))
    assert opt.current_lr == 0.5


@pytest.mark.parametrize("make, match", [
    (lambda p: SGD(p, lr=-1), "lr must be a positive number"),
    (lambda p: SGD(p, lr=0.1, momentum=1.5), r"momentum must be a number in \[0, 1\)"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be a number in \[0, 1\)"),
    (lambda p: SGD([], lr=0.1), "empty parameter list"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1), "weight_decay must be a number >= 0"),
])
def test_bad_optimizer_options(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make([_param([1.0], [1.0])])


def test_optimizer_state_roundtrip():
    p = _param([1.0, 2.0], [0.1, 0.2])
    opt = Adam([p], lr=0.1)
    opt.step()
    state = opt.state_dict()
    q = _param([1.0, 2.0], [0.1, 0.2])
    opt2 = Adam([q], lr=0.1)
    opt2.load_state_dict(state)
    assert opt2.step_count == 1 and np.array_equal(opt2.m[0], opt.m[0])


def test_sgd_updates_parameters_in_place_equal_to_the_plain_formula_and_bumps_the_version():
    from minidd.optim import _subtract_scaled
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        p = Parameter(rng.standard_normal((5, 7)), dtype=dtype)
        g = rng.standard_normal((5, 7)).astype(dtype)
        buffer, version, expected = p.data, p.version, p.data - dtype(0.05) * g
        _subtract_scaled(p, 0.05, g)
        assert p.data is buffer and p.version == version + 1
        np.testing.assert_allclose(p.data, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    p = Parameter(np.ones((4, 4), np.float32)[:, ::2])      # not contiguous: the plain formula
    _subtract_scaled(p, 0.5, np.ones((4, 2), np.float32))
    assert np.all(p.data == 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_round_exactly_as_the_numpy_expressions(dtype):
    """SGD's chunked in-place update and Adam's two-temporary one give the bits of the plain
    expressions, on a parameter spanning several chunks (and a partial last one)."""
    from minidd.optim import _CHUNK
    rng = np.random.default_rng(0)
    w = rng.standard_normal(2 * _CHUNK + 77).astype(dtype)
    g = rng.standard_normal(w.size).astype(dtype)
    p = Parameter(w.copy(), dtype=dtype)
    p.grad = g
    SGD([p], lr=0.037).step()
    assert p.data.dtype == dtype and np.array_equal(p.data, w - 0.037 * g)
    p = Parameter(w.copy(), dtype=dtype)
    p.grad = g
    Adam([p], lr=0.01).step()
    m, v = (1 - 0.9) * g, (1 - 0.999) * (g * g)
    step = 0.01 * math.sqrt(1 - 0.999) / (1 - 0.9)
    assert np.array_equal(p.data, w - step * m / (np.sqrt(v) + 1e-8))
