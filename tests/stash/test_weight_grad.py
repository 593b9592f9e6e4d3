"""dW from the sparse stash itself (CSR), for lossy entries sparse enough for it to win."""
import numpy as np
import pytest

from minidd import Tensor, functional as F, stash
from minidd.stash import WEIGHT_GRAD_INPUT, DeferredDropout, Dense, ZeroValue
from minidd.stash import weight_grad as WG


def _grads(policy, x, w, g):
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    with stash.use(policy):
        F.linear(xt, wt).backward(g)
    return xt.grad, wt.grad


def _stashed(policy, x):
    with stash.use(policy):
        e = stash.save(x, WEIGHT_GRAD_INPUT, "t", x.shape[-1])
        out = e.unpack().copy(), WG.sparse_weight_grad(e, np.ones((x.size // x.shape[-1], 3), x.dtype))
        stash.release(e)
    return out


@pytest.mark.parametrize("dtype, value_dtype, tol", [(np.float64, "float32", 1e-12),
                                                     (np.float32, "float32", 1e-5),
                                                     (np.float32, "float16", 1e-5),
                                                     (np.float32, "bfloat16", 1e-5)])
def test_csr_weight_gradient_equals_dy_t_x_sparse(dtype, value_dtype, tol, rng):
    x = rng.standard_normal((4, 16, 40)).astype(dtype)
    w = rng.standard_normal((7, 40)).astype(dtype)
    g = rng.standard_normal((4, 16, 7)).astype(dtype)
    policy = DeferredDropout(0.95, value_dtype=value_dtype)
    x_sparse, csr = _stashed(policy, x)
    assert csr is not None                          # this entry takes the CSR path
    gx, gw = _grads(policy, x, w, g)
    gx_dense, _ = _grads(Dense(), x, w, g)
    assert np.array_equal(gx, gx_dense)             # dX never reads the stash
    assert gw.dtype == dtype
    np.testing.assert_allclose(gw, g.reshape(-1, 7).T @ x_sparse.reshape(-1, 40), rtol=tol, atol=tol)


@pytest.mark.parametrize("policy", [ZeroValue(), DeferredDropout(0.0), DeferredDropout(0.5)], ids=repr)
def test_lossless_or_dense_enough_entries_keep_the_blas_path(policy, rng):
    x = rng.standard_normal((64, 32))
    x[rng.random(x.shape) < 0.97] = 0              # very sparse, but losslessly stored
    assert _stashed(policy, x)[1] is None
    w, g = rng.standard_normal((5, 32)), rng.standard_normal((64, 5))
    assert np.array_equal(_grads(policy, x, w, g)[1], _grads(Dense(), x, w, g)[1])  # bit-identical


def test_drop_0_9_keeps_the_blas_path(rng):
    """At density 0.1 CSR lost to BLAS on a machine with a fast BLAS (1.24x): only 0.06 and below."""
    x = rng.standard_normal((64, 40))
    assert _stashed(DeferredDropout(0.9), x)[1] is None
    assert _stashed(DeferredDropout(0.95), x)[1] is not None
