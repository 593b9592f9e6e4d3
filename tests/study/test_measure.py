"""The measurement harness: run results, step overhead against Dense."""
import time


from minidd import stash
from minidd.study.measure import run, step_overhead
from minidd.study.results import RunResult



def test_dense_step_overhead_is_zero_by_construction(tiny_mlp):
    net, loss = tiny_mlp
    t = step_overhead(net, loss, stash.Dense(), repeats=3)
    assert t["step_overhead"] == 0.0 and t["step_seconds"] == t["step_seconds_dense"] > 0


class _SlowDense(stash.Dense):
    name = "slow_dense"

    def pack(self, array, info):
        time.sleep(0.002)
        return super().pack(array, info)

    def config(self):
        return {"policy": self.name}


def test_a_slower_policy_reads_a_positive_overhead(tiny_mlp):
    net, loss = tiny_mlp
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
