"""Which layers a DeferredDropout policy drops, and when (schedule, overrides, marks)."""
import numpy as np
import pytest

from minidd import Tensor, functional as F, nn, stash
from minidd.stash import DeferredDropout


def test_schedule_warmup_then_linear_ramp():
    p = DeferredDropout(0.9, warmup_steps=10, ramp_steps=3)
    assert [round(p.scheduled_drop(s), 3) for s in (0, 9, 10, 11, 12, 13, 100)] == \
           [0.0, 0.0, 0.3, 0.6, 0.9, 0.9, 0.9]
    with pytest.raises(ValueError, match="step must be"):
        p.set_step(-1)


def _kinds(policy, rng):
    model = nn.MLP((16, 32, 32, 32, 4), rng=rng)
    with stash.use(policy):
        loss = F.cross_entropy(model(Tensor(rng.standard_normal((8, 16)).astype(np.float32))),
                               rng.integers(0, 4, 8))
        kinds = {r.layer: r.kept < r.nonzero for r in stash.ledger().rows()
                 if r.role == stash.WEIGHT_GRAD_INPUT}
        loss.backward()
    return kinds


def test_marked_layers_stay_dense_by_default_and_overrides_win(rng):
    assert _kinds(DeferredDropout(0.9), rng) == {
        "layers.0": False, "layers.2": True, "layers.4": True, "layers.6": False}
    assert _kinds(DeferredDropout(0.9, keep_marked_dense=False), rng) == {
        "layers.0": True, "layers.2": True, "layers.4": True, "layers.6": True}
    assert _kinds(DeferredDropout(0.9, layers={"layers.4": 0.0, "layers.6": 0.5}), rng) == {
        "layers.0": False, "layers.2": True, "layers.4": False, "layers.6": True}


def test_warmup_keeps_everything_then_drops(rng):
    p = DeferredDropout(0.9, warmup_steps=2)
    assert not any(_kinds(p, rng).values())
    p.set_step(2)
    assert any(_kinds(p, rng).values())


def test_gradient_fidelity_probe(rng):
    model = nn.MLP((16, 64, 64, 4), rng=rng)
    x = rng.standard_normal((32, 16)).astype(np.float32)
    y = rng.integers(0, 4, 32)

    def loss_fn(m):
        return F.cross_entropy(m(Tensor(x)), y)

    same = stash.gradient_fidelity(model, loss_fn, DeferredDropout(0.0))
    assert all(r["cosine"] == pytest.approx(1.0) and r["rel_error"] == 0 for r in same)
    all_rows = stash.gradient_fidelity(model, loss_fn, DeferredDropout(0.9))
    rows = {r["param"]: r for r in all_rows if r["grad"] == "dW"}
    assert set(rows) == {"layers.0.weight", "layers.2.weight", "layers.4.weight"}
    inputs = {r["param"]: r for r in all_rows if r["grad"] == "dX"}
    assert set(inputs) == {"layers.2", "layers.4"}  # layers.0 reads the data: no input gradient
    assert all(r["rel_error"] == 0 for r in inputs.values())  # dX never reads a sparsified stash
    assert rows["layers.0.weight"]["rel_error"] == 0          # first layer kept dense
    assert 0.3 < rows["layers.2.weight"]["cosine"] < 0.999     # dropped: close, not equal
    assert rows["layers.2.weight"]["rel_error"] > 0.01
