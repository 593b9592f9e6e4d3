"""random-k's rescaled (unbiased) form and the gradient probe against SGD noise."""
import numpy as np
import pytest

from minidd import Tensor, functional as F, nn, stash
from minidd.stash import PackInfo
from minidd.stash.random_k import RandomK
from minidd.stash.roles import WEIGHT_GRAD_INPUT, Scope


def _kept(policy, array):
    entry = policy.pack(array, PackInfo(WEIGHT_GRAD_INPUT, Scope("layer", False), row_size=array.shape[-1]))
    return entry.unpack()


def test_rescaled_random_k_scales_the_kept_values_by_n_over_k_and_is_unbiased():
    a = np.arange(1, 41, dtype=np.float32).reshape(4, 10)
    plain, scaled = _kept(RandomK(0.75, seed=3), a), _kept(RandomK(0.75, seed=3, rescale=True), a)
    kept = plain != 0
    assert kept.sum() == 10 and np.array_equal(kept, scaled != 0)      # same choice, k = ceil(0.25 n)
    np.testing.assert_allclose(scaled[kept], a[kept] * 4.0)          # n / k = 40 / 10
    pol = RandomK(0.75, seed=0, rescale=True)
    mean = np.mean([_kept(pol, a) for _ in range(4000)], axis=0)
    assert np.abs(mean / a - 1).max() < 0.1                          # E[estimate] = the array
    assert RandomK(0.5, rescale=True).config()["rescale"] is True
    with pytest.raises(TypeError, match="rescale must be True or False"):
        RandomK(0.5, rescale="yes")


def _batches(rng, n=4):
    xs = [rng.standard_normal((16, 8)).astype(np.float32) for _ in range(n)]
    ys = [rng.integers(0, 3, 16) for _ in range(n)]
    return [lambda m, x=x, y=y: F.cross_entropy(m(Tensor(x)), y) for x, y in zip(xs, ys)]


def test_gradient_noise_is_zero_for_a_lossless_policy_and_counts_the_dropped_layers(rng):
    net = nn.MLP((8, 32, 32, 3), rng=rng)
    fns = _batches(rng)
    lossless = {r["param"]: r for r in stash.gradient_noise(net, fns, stash.ZeroValue())}
    assert set(lossless) == {"layers.0.weight", "layers.2.weight", "layers.4.weight"}
    assert all(r["error"] == 0 and r["bias"] == 0 and r["sgd_variance"] > 0 for r in lossless.values())
    dd = {r["param"]: r for r in stash.gradient_noise(net, fns, stash.DeferredDropout(0.9))}
    assert dd["layers.2.weight"]["error_ratio"] > 0 and dd["layers.0.weight"]["error"] == 0
    assert dd["layers.2.weight"]["bias"] <= dd["layers.2.weight"]["error"]  # |mean|^2 <= mean |.|^2
    assert all(p.grad is None for p in net.parameters())          # gradients restored
    with pytest.raises(ValueError, match="at least 2 batches"):
        stash.gradient_noise(net, fns[:1], stash.Dense())


def test_an_unbiased_estimate_has_less_bias_than_an_unscaled_one(rng):
    net = nn.MLP((8, 64, 64, 3), rng=rng)
    fns = _batches(rng, 32)
    plain = {r["param"]: r for r in stash.gradient_noise(net, fns, RandomK(0.5, seed=1))}["layers.2.weight"]
    unbiased = {r["param"]: r for r in stash.gradient_noise(net, fns, RandomK(0.5, seed=1, rescale=True))}["layers.2.weight"]
    assert unbiased["rel_bias"] < 0.5 * plain["rel_bias"] and plain["rel_bias"] > 0.3   # plain: ~ half the gradient
