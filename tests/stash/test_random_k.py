"""The random-k control: a registered policy that keeps as many elements as deferred dropout."""
import numpy as np
import pytest

from minidd import stash
from minidd.stash import PackInfo, RandomK, as_policy, format_spec


def test_random_k_is_a_registered_policy_like_the_rest():
    assert format_spec(as_policy("dd:0.5")) == "deferred_dropout:0.5"
    assert format_spec(as_policy("dd:0.5,granularity=row").config()) == "deferred_dropout:0.5,granularity=row"
    assert format_spec(as_policy("random_k:0.9")) == "random_k:0.9"
    assert as_policy(as_policy("random_k:0.9").config()).config() == RandomK(0.9).config()
    assert format_spec(as_policy({"policy": "zero_value"})) == "zero_value"
    with pytest.raises(ValueError, match="unknown policy 'topk'"):
        as_policy("topk:0.9")
    with pytest.raises(ValueError, match="policy spec 'random_k:1.5'"):
        as_policy("random_k:1.5")
    with pytest.raises(ValueError, match=r"RandomK: drop must be a number in \[0, 1\)"):
        RandomK(1.0)


def test_random_k_keeps_as_many_as_deferred_dropout_but_not_the_largest(tiny_mlp):
    net, loss = tiny_mlp
    counts = {}
    for pol in (stash.DeferredDropout(0.9), RandomK(0.9, seed=3)):
        with stash.use(pol):
            out = loss(net)
            counts[pol.name] = {(r.layer, r.role): (r.kept, r.kind) for r in stash.ledger().rows()}
            net.zero_grad()
            out.backward()
            del out
    assert counts["random_k"] == counts["deferred_dropout"]   # same layers, same kept counts, same storage
    x = np.abs(np.random.default_rng(1).standard_normal((64, 32))).astype(np.float32) + 0.01
    scope = stash.Scope("layer")
    topk = stash.DeferredDropout(0.9).pack(x, PackInfo(stash.WEIGHT_GRAD_INPUT, scope)).unpack()
    rand = RandomK(0.9, seed=3).pack(x, PackInfo(stash.WEIGHT_GRAD_INPUT, scope)).unpack()
    assert np.count_nonzero(rand) == np.count_nonzero(topk) == int(np.ceil(0.1 * x.size))
    assert np.abs(rand).sum() < np.abs(topk).sum()
    again = RandomK(0.9, seed=3).pack(x, PackInfo(stash.WEIGHT_GRAD_INPUT, scope)).unpack()
    assert np.array_equal(rand, again)
    marked = stash.Scope("head", keep_dense=True)
    assert np.array_equal(RandomK(0.9).pack(x, PackInfo(stash.WEIGHT_GRAD_INPUT, marked)).unpack(), x)
