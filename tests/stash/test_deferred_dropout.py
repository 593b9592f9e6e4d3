"""DeferredDropout: selection, storage, gradients and its bad-input errors."""
import gc
import math
import weakref
from types import SimpleNamespace

import numpy as np
import pytest

from minidd import Tensor, functional as F, nn, stash
from minidd.optim import SGD
from minidd.stash import WEIGHT_GRAD_INPUT, DeferredDropout, Dense, ZeroValue


def _pack(policy, arr, row_size=None):
    """Pack ``arr`` as a weight-gradient input; return what the entry held and what it unpacks to."""
    with stash.use(policy):
        entry = stash.save(arr, WEIGHT_GRAD_INPUT, "test", row_size)
        info = SimpleNamespace(kind=entry.kind, kept=entry.kept, target_kept=entry.target_kept,
                               nbytes=entry.nbytes,
                               positions_dtype=getattr(entry, "positions", np.empty(0)).dtype,
                               value_itemsize=getattr(entry, "values", np.empty(0)).itemsize)
        back = entry.unpack().copy()
        stash.release(entry)
    return info, back


@pytest.mark.parametrize("drop", [0.5, 0.75, 0.9, 0.95, 0.999])
def test_exact_mode_keeps_the_k_largest_magnitudes(drop, rng):
    x = rng.standard_normal((64, 96)).astype(np.float32)
    entry, back = _pack(DeferredDropout(drop), x)
    k = math.ceil((1 - drop) * x.size)
    kept = back != 0
    assert kept.sum() == k == entry.kept
    assert np.array_equal(back[kept], x[kept])  # kept values are exact
    assert np.abs(x[kept]).min() >= np.abs(x[~kept]).max()


def test_ties_are_broken_by_lowest_index():
    x = np.array([1.0, 3.0, 2.0, 2.0, -2.0, 0.5, 2.0], np.float32)  # k=3 of 7 at drop 4/7
    _, back = _pack(DeferredDropout(1 - 3 / 7), x)
    assert np.array_equal(back, [0, 3, 2, 2, 0, 0, 0])


def test_per_row_granularity_keeps_k_in_every_row(rng):
    x = rng.standard_normal((10, 40)).astype(np.float32)
    x[3] *= 100  # a loud row: per-tensor selection would keep mostly this row
    _, back = _pack(DeferredDropout(0.75, granularity="row"), x, row_size=40)
    assert ((back != 0).sum(axis=1) == 10).all()
    _, back_t = _pack(DeferredDropout(0.75), x)
    assert (back_t[3] != 0).sum() == 40


def test_zeros_are_never_kept_and_never_larger_than_zero_value(rng):
    relu = np.maximum(rng.standard_normal((128, 128)).astype(np.float32), 0)
    for drop in (0.1, 0.3, 0.6, 0.9):
        dd, back = _pack(DeferredDropout(drop), relu)
        zv, _ = _pack(ZeroValue(), relu)
        assert dd.kept == min(math.ceil((1 - drop) * relu.size), np.count_nonzero(relu))
        assert dd.nbytes <= zv.nbytes
        assert np.all(back[relu == 0] == 0)


def test_format_is_the_smaller_of_bitmap_and_index(rng):
    x = rng.standard_normal(4096).astype(np.float32)
    dense_ish, _ = _pack(DeferredDropout(0.5), x)
    assert dense_ish.kind == "bitmap"
    very_sparse, back = _pack(DeferredDropout(0.999), x)
    assert very_sparse.kind == "index" and very_sparse.positions_dtype == np.uint16
    assert np.count_nonzero(back) == 5


@pytest.mark.parametrize("value_dtype, tol", [("float16", 1e-3), ("bfloat16", 8e-3)])
def test_narrow_value_precision(value_dtype, tol, rng):
    x = rng.standard_normal((32, 32)).astype(np.float32)
    entry, back = _pack(DeferredDropout(0.5, value_dtype=value_dtype), x)
    kept = back != 0
    assert entry.value_itemsize == 2
    np.testing.assert_allclose(back[kept], x[kept], rtol=tol)


def test_bfloat16_rounds_to_nearest_even():
    bits = np.array([0x3F808000, 0x3F818000, 0x3F80C000, 0x3F807FFF], np.uint32)
    rounded = stash.to_bfloat16(bits.view(np.float32))
    assert rounded.tolist() == [0x3F80, 0x3F82, 0x3F81, 0x3F80]
    nan = stash.to_bfloat16(np.array([np.nan], np.float32))
    assert np.isnan(stash.from_bfloat16(nan, np.float32)).all()


def test_sample_selection_reports_what_it_kept_and_is_seeded(rng):
    x = rng.standard_normal((256, 512)).astype(np.float32)
    a, back_a = _pack(DeferredDropout(0.9, selection="sample", seed=5), x)
    b, back_b = _pack(DeferredDropout(0.9, selection="sample", seed=5), x)
    assert np.array_equal(back_a, back_b)
    assert a.target_kept == math.ceil(0.1 * x.size)
    assert abs(a.kept / a.target_kept - 1) < 0.1 and a.kept != a.target_kept


def _two_layer(policy, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    x = Tensor(rng.standard_normal((16, 12)), requires_grad=True)
    w1 = Tensor(rng.standard_normal((20, 12)), requires_grad=True)
    w2 = Tensor(rng.standard_normal((5, 20)), requires_grad=True)
    with stash.use(policy):
        h = F.gelu(F.linear(x, w1))
        out = F.linear(h, w2)
        grad = rng.standard_normal(out.shape)
        out.backward(grad)
    return x.grad, w1.grad, w2.grad, h.data, grad


def test_dx_is_bit_identical_to_dense_and_dw_uses_the_sparse_stash():
    gx_d, gw1_d, gw2_d, h, g = _two_layer(Dense())
    gx, gw1, gw2, _, _ = _two_layer(DeferredDropout(0.8))
    assert np.array_equal(gx, gx_d)       # dX never reads a dropped stash
    k = math.ceil(0.2 * h.size)
    thr = np.sort(np.abs(h).ravel())[-k]
    h_sparse = np.where(np.abs(h) >= thr, h, 0)
    np.testing.assert_allclose(gw2, g.T @ h_sparse, rtol=1e-12)   # dW = dY^T X_sparse
    assert not np.allclose(gw2, gw2_d)


def test_drop_zero_gives_parameters_bit_identical_to_dense_after_10_sgd_steps():
    def train(policy):
        rng = np.random.default_rng(11)
        model = nn.MLP((20, 32, 32, 4), rng=rng)
        opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
        with stash.use(policy):
            for _ in range(10):
                x = Tensor(rng.standard_normal((16, 20)).astype(np.float32))
                loss = F.cross_entropy(model(x), rng.integers(0, 4, 16))
                opt.zero_grad()
                loss.backward()
                opt.step()
        return [p.data.copy() for p in model.parameters()]

    for a, b in zip(train(Dense()), train(DeferredDropout(0.0, keep_marked_dense=False))):
        assert np.array_equal(a, b)
    changed = train(DeferredDropout(0.5, keep_marked_dense=False))
    assert not all(np.array_equal(a, b) for a, b in zip(train(Dense()), changed))


@pytest.mark.parametrize("policy, survives", [(Dense(), True), (DeferredDropout(0.9), False)])
def test_no_dense_copy_of_a_dropped_activation_outlives_the_forward(policy, survives, rng):
    x = Tensor(rng.standard_normal((32, 64)).astype(np.float32))
    w1 = Tensor(rng.standard_normal((64, 64)).astype(np.float32), requires_grad=True)
    w2 = Tensor(rng.standard_normal((8, 64)).astype(np.float32), requires_grad=True)
    with stash.use(policy):
        h = F.relu(F.linear(x, w1))
        ref = weakref.ref(h.data)
        out = F.linear(h, w2).sum()
        del h
        gc.collect()
        assert (ref() is not None) == survives
        out.backward()


def test_nothing_is_selected_under_no_grad(rng):
    from minidd import no_grad
    w = Tensor(rng.standard_normal((8, 8)).astype(np.float32), requires_grad=True)
    with stash.use(DeferredDropout(0.9)), no_grad():
        F.linear(Tensor(rng.standard_normal((4, 8)).astype(np.float32)), w)
        assert len(stash.ledger()) == 0


def test_nan_in_a_weight_gradient_input_is_refused_clearly(rng):
    x = rng.standard_normal(100).astype(np.float32)
    x[17] = np.nan
    with pytest.raises(FloatingPointError, match="contains NaN"):
        _pack(DeferredDropout(0.9), x)
    with pytest.raises(FloatingPointError, match="contains NaN"):
        _pack(DeferredDropout(0.9, selection="sample"), x)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"drop": 1.0}, ValueError, r"drop must be a number in \[0, 1\)"),
    ({"drop": -0.1}, ValueError, r"drop must be a number in \[0, 1\)"),
    ({"drop": "0.5"}, TypeError, r"drop must be a number"),
    ({"granularity": "column"}, ValueError, "granularity must be one of"),
    ({"value_dtype": "int8"}, ValueError, "value_dtype must be one of"),
    ({"selection": "magic"}, ValueError, "selection must be one of"),
    ({"layers": {"enc.*": 1.2}}, ValueError, r"layers\['enc.\*'\] must be a number in \[0, 1\)"),
    ({"warmup_steps": -1}, ValueError, "warmup_steps must be an int >= 0"),
])
def test_bad_configuration_is_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        DeferredDropout(**kwargs)


def _reference_topk(mag, k):
    """Sorted indices of the k largest non-zeros, ties to the lowest index (by a full sort)."""
    order = np.lexsort((np.arange(mag.size), -mag))  # by magnitude descending, then index
    order = order[mag[order] > 0][:k]
    return np.sort(order)


@pytest.mark.parametrize("case", ["normal", "relu", "quantised", "mostly_zero", "keep_most", "small"])
def test_large_exact_selection_matches_a_full_sort(case):
    """Large arrays take the bracketed path (strided sample, partition on candidates only)."""
    from minidd.stash.structures import BRACKET_SAMPLE, topk_indices
    rng = np.random.default_rng(3)
    n = 20 * BRACKET_SAMPLE + 77
    x = rng.standard_normal(n).astype(np.float32)
    k = n // 10
    if case == "relu":
        x = np.maximum(x, 0)
    elif case == "quantised":  # thousands of ties at the threshold
        x = np.round(x * 4) / 4
    elif case == "mostly_zero":
        x[rng.random(n) < 0.95] = 0
    elif case == "keep_most":
        k = n - 5
    elif case == "small":
        x, k = x[:1000], 100
    mag = np.abs(x)
    got = topk_indices(mag, k, "t")
    assert np.array_equal(got, _reference_topk(mag, k))


def test_nan_off_the_sample_is_still_caught():
    from minidd.stash.structures import BRACKET_SAMPLE, topk_indices
    n = 20 * BRACKET_SAMPLE
    mag = np.abs(np.random.default_rng(4).standard_normal(n)).astype(np.float32)
    mag[2] = np.nan  # the strided sample reads indices 0, 19, 38, ...
    with pytest.raises(FloatingPointError, match="contains NaN"):
        topk_indices(mag, n // 10, "t")


def test_per_row_selection_with_zeros_and_ties_matches_a_full_sort(rng):
    x = np.maximum(np.round(rng.standard_normal((12, 300)) * 3) / 3, 0).astype(np.float32)
    x[5] = 0          # an all-zero row keeps nothing
    x[7, :20] = 1e3   # a row with more ties above the threshold than k
    _, back = _pack(DeferredDropout(0.9, granularity="row"), x, row_size=300)
    for r in range(12):
        expected = _reference_topk(np.abs(x[r]), 30)
        assert np.array_equal(np.flatnonzero(back[r]), expected), r
