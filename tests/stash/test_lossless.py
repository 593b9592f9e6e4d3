"""The lossless reductions (``lossless=`` on every policy): gradient-checked in float64, equal to
the textbook ops in float32 within their stated tolerances, and smaller in the ledger."""
import numpy as np
import pytest

import minidd
from minidd import Tensor, functional as F, nn, stash
from minidd.functional import gelu_inverse
from minidd.stash import DeferredDropout, Dense, ZeroValue
from minidd.functional.normalization import LN_RATIO
from minidd.stash.policies import canonical_lossless

POLICIES = [Dense(lossless="all"), ZeroValue(lossless="all"),
            DeferredDropout(0.9, keep_marked_dense=False, lossless="all")]


def _grads(fn, arrays, policy):
    """Output and input gradients of ``sum(fn(*arrays) * r)`` under ``policy``."""
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    with stash.use(policy):
        out = fn(*leaves)
        r = np.random.default_rng(5).standard_normal(out.shape).astype(out.dtype)
        out.backward(r)
    return out.data, [t.grad for t in leaves]


def _ln_inputs(rng, dtype=np.float64):
    x = rng.standard_normal((3, 5, 8)).astype(dtype)
    gamma, beta = rng.standard_normal(8).astype(dtype), rng.standard_normal(8).astype(dtype)
    gamma[2] = 0.0                      # no information in y: the column is kept
    gamma[5], beta[5] = 1e-3, 1.0       # |beta| > LN_RATIO |gamma|: kept as well
    return [x, gamma, beta]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_layer_norm_from_its_output_passes_the_gradient_check(policy, rng):
    with stash.use(policy):
        assert minidd.check_grad(F.layer_norm, _ln_inputs(rng), rng=rng) < 1e-5


def test_layer_norm_from_its_output_equals_dense_in_float32(rng):
    arrays = _ln_inputs(rng, np.float32)
    arrays[1][0] = 1e-2  # recoverable (|beta| <= 64 |gamma| needs |beta| <= 0.64)
    arrays[2][0] = 0.5
    y0, g0 = _grads(F.layer_norm, arrays, Dense())
    y1, g1 = _grads(F.layer_norm, arrays, Dense(lossless="layer_norm"))
    assert np.array_equal(y0, y1)
    for a, b in zip(g0, g1):  # xhat within 2 (|xhat| + LN_RATIO) eps: a few 1e-5 at most
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=2 * (4 + LN_RATIO) * 1.2e-7 * np.abs(a).max())


def test_layer_norm_keeps_the_columns_it_cannot_recover(rng):
    x, gamma, beta = (Tensor(a.astype(np.float32), requires_grad=True) for a in _ln_inputs(rng))
    with stash.use(Dense(lossless="layer_norm")):
        y = F.layer_norm(x, gamma, beta)
        shapes = sorted(r.shape for r in stash.ledger().rows())
        y.sum().backward()
    # y, rstd, the two bad feature indices and their xhat columns: no full xhat
    assert shapes == sorted([(2,), (3, 5, 1), (3, 5, 2), (3, 5, 8)])


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_from_its_output_passes_the_gradient_check(approximate, rng):
    with stash.use(Dense(lossless="gelu")):
        err = minidd.check_grad(lambda a: F.gelu(a, approximate=approximate),
                                [rng.standard_normal((4, 6)) * 3], rng=rng)
    assert err < 1e-5


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_inversion_is_exact_to_rounding_but_near_the_minimum(approximate):
    x = np.concatenate([np.linspace(-12, 12, 20001), gelu_inverse.X_MIN[approximate]
                        + np.linspace(-1e-3, 1e-3, 2001)]).astype(np.float32)
    _, (g_dense,) = _grads(lambda a: F.gelu(a, approximate), [x], Dense())
    _, (g_out,) = _grads(lambda a: F.gelu(a, approximate), [x], Dense(lossless="gelu"))
    r = np.random.default_rng(5).standard_normal(x.shape).astype(np.float32)
    err = np.abs(g_out - g_dense) / np.abs(r)
    near = np.abs(x - gelu_inverse.X_MIN[approximate]) < 0.05
    assert err[~near].max() < 5e-6        # float32 rounding of the derivative (dense's own ~1e-6)
    assert 1e-6 < err[near].max() < 3e-4  # sqrt(2 gelu''(x*) ulp(y*)/2): the stated 2e-4 bound


def test_gelu_left_tail_and_extremes_invert():
    x = np.array([-40.0, -20.0, -9.0, -3.0, -0.76, -0.74, 0.0, 1e-30, 3.0, 30.0])
    y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    xr = gelu_inverse.invert(y, gelu_inverse.left_of_minimum(x, "tanh"), "tanh")
    tail = (y == 0) & (x < 0)  # underflowed: any x that far left has gelu' == 0 too
    np.testing.assert_allclose(xr[~tail], x[~tail], rtol=1e-9, atol=1e-12)
    assert np.all(xr[tail] <= -20)


@pytest.mark.parametrize("p", [0.0, 0.25])
@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_is_bit_identical_to_the_chain(p, causal, rng):
    s = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    v = rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
    keep = np.tri(6, dtype=bool)[None, None] if causal else None
    chain = lambda a, b: F.matmul(F.dropout(F.softmax(a, mask=keep), p, np.random.default_rng(3)), b)
    fused = lambda a, b: F.attention_context(a, b, p, np.random.default_rng(3), mask=keep)
    y0, g0 = _grads(chain, [s, v], Dense())
    y1, g1 = _grads(fused, [s, v], Dense())
    assert np.array_equal(y0, y1) and all(np.array_equal(a, b) for a, b in zip(g0, g1))


def _block_stash(policy, dropout=0.1):
    rng = np.random.default_rng(0)
    block = nn.TransformerEncoderBlock(32, 4, 128, rng=rng, dropout=dropout)
    x = Tensor(rng.standard_normal((2, 16, 32)).astype(np.float32), requires_grad=True)
    with stash.use(policy):
        loss = block(x).sum()
        rows = {(r.layer, r.kind, r.shape): r.nbytes for r in stash.ledger().rows()}
        total = stash.ledger().current
        loss.backward()
    return total, rows, x.grad


def test_block_under_every_reduction_matches_dense_and_stashes_less():
    dense, _, g0 = _block_stash(Dense())
    each = {}
    for op in ("layer_norm", "gelu", "attention", "all"):
        each[op], _, g1 = _block_stash(Dense(lossless=op))
        np.testing.assert_allclose(g1, g0, rtol=1e-3, atol=1e-4 * np.abs(g0).max())
    # hand count: ln1 keeps y (shared with ff1) instead of xhat: B T D floats saved (ln2's y is
    # the block's output: only a next block would share it); GELU keeps y and
    # 1 bit instead of x: B T 4D floats minus bits; attention drops a B H T T float and a mask
    # byte per element for T T / 8 bits
    b, t, d, h = 2, 16, 32, 4
    assert dense - each["layer_norm"] == pytest.approx(b * t * d * 4, abs=100)
    assert dense - each["gelu"] == pytest.approx(b * t * 4 * d * (4 - 1 / 8), abs=100)
    assert dense - each["attention"] == pytest.approx(b * h * t * t * (4 + 1 - 1 / 8), abs=100)
    assert dense - each["all"] == pytest.approx(sum(dense - v for k, v in each.items() if k != "all"), abs=300)


def test_lossless_is_an_option_of_every_policy_and_round_trips():
    for spec in ("dense,lossless=all", "zero_value,lossless=layer_norm+gelu",
                 "dd:0.9,lossless=attention+layer_norm"):
        policy = stash.parse_spec(spec)
        assert stash.parse_spec(stash.format_spec(policy)) == policy
        assert stash.from_config(policy.config()) == policy
    assert stash.format_spec("dd:0.9,lossless=attention+layer_norm") == \
        "deferred_dropout:0.9,lossless=layer_norm+attention"
    assert Dense(lossless=True) == Dense(lossless="layer_norm+gelu+attention")
    assert stash.format_spec(Dense(lossless=False)) == "dense"


@pytest.mark.parametrize("value, error", [("gelux", ValueError), ("all+x", ValueError),
                                           (3, TypeError)])
def test_bad_lossless_values_are_refused_by_name(value, error):
    with pytest.raises(error, match="lossless"):
        Dense(lossless=value)
    with pytest.raises(error, match="lossless"):
        canonical_lossless(value)
