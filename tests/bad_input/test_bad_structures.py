"""Structured selection and geometry under extreme input: norms in a safe precision (float16
values that overflow or underflow in float16 still rank right), and absurd ``block=`` or conv
geometries refused before anything is allocated."""
import numpy as np
import pytest

from minidd import Tensor, functional as F, stash
from minidd.stash import structures as S


def _dw(x16, structure, **kw):
    """dW of a float16 linear layer whose input ``x16`` goes through deferred dropout."""
    w = Tensor(np.ones((2, x16.shape[1]), np.float16), requires_grad=True)
    with stash.use(stash.DeferredDropout(0.75, structure=structure, **kw)):
        y = F.linear(Tensor(x16), w)
        kept = stash.ledger().rows()[0].kept
        y.backward(np.ones(y.shape, np.float16))   # (y.sum() would overflow float16)
        del y
    return w.grad, kept


@pytest.mark.parametrize("scale", [1000.0, 1e-5], ids=["overflow", "underflow"])
def test_row_selection_on_float16_keeps_the_largest_rows(scale):
    x = np.ones((8, 16), np.float16) * np.float16(scale)
    x[5] *= 2  # the largest row (its float16 square overflows to inf, or underflows to 0)
    x[6] *= 3
    x[7] *= 4
    dw, kept = _dw(x, "row")
    # 2 of 8 rows kept: rows 6 and 7, whatever float16 squares would say
    np.testing.assert_allclose(dw[0].astype(np.float64), (x[6] + x[7]).astype(np.float64), rtol=1e-3)
    assert kept == 2 * 16


@pytest.mark.parametrize("scale", [1000.0, 1e-5], ids=["overflow", "underflow"])
def test_block_selection_on_float16_keeps_the_largest_blocks(scale):
    x = np.full((8, 4), scale, np.float16)
    x[4:, 1] *= 8  # the second blocks of columns 1 and 2 are the largest
    x[4:, 2] *= 4
    dw, kept = _dw(x, "block", block=4)
    assert kept == 8 and np.flatnonzero(dw[0]).tolist() == [1, 2]


def test_scores_are_computed_wider_than_float16():
    view = np.full((2, 3), 300.0, np.float16)
    assert np.isfinite(S.row_scores(view)).all() and S.row_scores(view).dtype == np.float32
    tiny = np.full((2, 3), 1e-5, np.float16)
    assert (S.block_scores(tiny, 2) > 0).all()


def test_float32_scores_that_overflow_are_recomputed_in_float64():
    view = np.array([[3e19, 0.0], [1e19, 0.0]], np.float32)
    scores = S.row_scores(view)
    assert np.isfinite(scores).all() and scores[0] > scores[1]


def test_an_absurd_block_is_refused_with_the_limit():
    with pytest.raises(ValueError, match=r"DeferredDropout: block must be an int >= 1 and at most 1048576 "
                                         r"\(minidd.stash.policies.MAX_BLOCK\), got 10000000000"):
        stash.DeferredDropout(0.9, structure="block", block=10 ** 10)
    with pytest.raises(ValueError, match=r"policy spec .* block must be an int >= 1 and at most 1048576"):
        stash.parse_spec("dd:0.9,structure=block,block=99999999999")


def test_a_large_block_never_allocates_more_than_the_array():
    mask = S.expand_blocks(np.ones((1, 3), bool), 1 << 20, 5)
    assert mask.shape == (5, 3)


@pytest.mark.parametrize("call, what", [
    (lambda x, w: F.conv2d(x, w, padding=10 ** 5), "padded input"),
    (lambda x, w: F.conv2d(x[:, :1], Tensor(np.ones((1, 1, 100, 100), np.float32)), padding=5000),
     "im2col work"),
    (lambda x, w: F.conv2d(x, w, padding=(0, 10 ** 9)), "padded input"),
])
def test_absurd_conv_geometry_is_refused_before_allocating(call, what):
    x = Tensor(np.ones((1, 2, 4, 4), np.float32))
    w = Tensor(np.ones((3, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=rf"conv2d: .* make a {what} of .* elements, over the limit "
                                         r"of \d+ \(minidd.functional.conv.MAX_PADDED / MAX_WORK\)"):
        call(x, w)


def test_absurd_pool_geometry_is_refused():
    with pytest.raises(ValueError, match=r"max_pool2d: .* over the limit"):
        F.max_pool2d(Tensor(np.ones((1, 1, 4, 4), np.float32)), (2 * 10 ** 5, 2 * 10 ** 5),
                     stride=1, padding=10 ** 5)
