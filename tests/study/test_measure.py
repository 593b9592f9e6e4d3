"""The measurement harness: run results, step overhead against Dense, the random-k control."""
import time

import numpy as np
import pytest

from minidd import stash
from minidd.study.measure import make_policy, policy_label, run, step_overhead
from minidd.nn import MLP
from minidd.stash.random_k import RandomK
from minidd.study.results import RunResult
from minidd import functional as F
from minidd.autograd import Tensor



def _net_and_loss():
    rng = np.random.default_rng(0)
    net = MLP((20, 32, 32, 4), rng=rng)
    x, y = rng.standard_normal((16, 20)).astype(np.float32), rng.integers(0, 4, 16)
    return net, lambda m: F.cross_entropy(m(Tensor(x)), y)


def test_dense_step_overhead_is_zero_by_construction():
    net, loss = _net_and_loss()
    t = step_overhead(net, loss, stash.Dense(), repeats=3)
    assert t["step_overhead"] == 0.0 and t["step_seconds"] == t["step_seconds_dense"] > 0


class _SlowDense(stash.Dense):
    name = "slow_dense"

    def pack(self, array, role, scope, row_size, feature_axis=-1):
        time.sleep(0.002)
        return super().pack(array, role, scope, row_size, feature_axis)

    def config(self):
        return {"policy": self.name}


def test_a_slower_policy_reads_a_positive_overhead():
    net, loss = _net_and_loss()
    t = step_overhead(net, loss, _SlowDense(), repeats=3)
    assert t["step_overhead"] > 0.1 and t["step_seconds"] > t["step_seconds_dense"]


def test_run_gives_a_run_result_and_is_deterministic():
    a = run("mlp", "dd:0.9", 0, epochs=1, train_limit=64, hp={"sizes": [784, 32, 32, 10]})
    assert isinstance(a, RunResult) and a.ok and a.key == "mlp|deferred_dropout:0.9|0"
    assert RunResult.from_json(a.to_json()) == a
    assert a.policy == stash.DeferredDropout(0.9).config() and a.spec == "deferred_dropout:0.9"
    assert a.settings["hp"]["sizes"] == [784, 32, 32, 10] and a.settings["hp"]["epochs"] == 1
    assert a.fidelity and a.stash["stash_bytes"] < a.stash["stash_dense_bytes"]
    assert {"train_seconds", "total_seconds", "step_overhead"} <= set(a.timings)
    assert "seconds" not in a.curves      # wall-clock lives in timings only
    b = run("mlp", stash.DeferredDropout(0.9), 0, epochs=1, train_limit=64, hp={"sizes": [784, 32, 32, 10]})
    assert a.comparable() == b.comparable()


def test_policy_specs_and_labels():
    assert policy_label(make_policy("dd:0.5")) == "deferred_dropout:0.5"
    assert policy_label(make_policy("dd:0.5,granularity=row").config()) == "deferred_dropout:0.5,granularity=row"
    assert policy_label(make_policy("random_k:0.9")) == "random_k:0.9"
    assert make_policy(make_policy("random_k:0.9").config()).config() == RandomK(0.9).config()
    assert policy_label(make_policy({"policy": "zero_value"})) == "zero_value"
    with pytest.raises(ValueError, match="unknown policy 'topk'"):
        make_policy("topk:0.9")
    with pytest.raises(ValueError, match="policy 'random_k:1.5'"):
        make_policy("random_k:1.5")
    with pytest.raises(ValueError, match=r"RandomK: drop must be a number in \[0, 1\)"):
        RandomK(1.0)


def test_random_k_keeps_as_many_as_deferred_dropout_but_not_the_largest():
    net, loss = _net_and_loss()
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
    topk = stash.DeferredDropout(0.9).pack(x, stash.WEIGHT_GRAD_INPUT, scope, None).unpack()
    rand = RandomK(0.9, seed=3).pack(x, stash.WEIGHT_GRAD_INPUT, scope, None).unpack()
    assert np.count_nonzero(rand) == np.count_nonzero(topk) == int(np.ceil(0.1 * x.size))
    assert np.abs(rand).sum() < np.abs(topk).sum()
    again = RandomK(0.9, seed=3).pack(x, stash.WEIGHT_GRAD_INPUT, scope, None).unpack()
    assert np.array_equal(rand, again)
    marked = stash.Scope("head", keep_dense=True)
    assert np.array_equal(RandomK(0.9).pack(x, stash.WEIGHT_GRAD_INPUT, marked, None).unpack(), x)
