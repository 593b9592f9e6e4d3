"""Deferred dropout beyond weight-gradient inputs (``exact_ops``): which stashes it sparsifies,
what the ledger says, and what it does to dX (its bytes against tracemalloc: test_ledger.py)."""
import numpy as np
import pytest

from minidd import Tensor, nn, stash
from minidd.stash import DeferredDropout, EXACT


def _block(dropout=0.0):
    rng = np.random.default_rng(0)
    return nn.TransformerEncoderBlock(32, 4, 128, rng=rng, dropout=dropout)


def _x():
    return Tensor(np.random.default_rng(1).standard_normal((2, 16, 32)).astype(np.float32),
                  requires_grad=True)


def _stash(policy, block=None):
    block = block or _block()
    with stash.use(policy):
        loss = block(_x()).sum()
        led = stash.ledger()
        out = led.current, led.sparsified(), {r.op for r in led.rows()}
        loss.backward()
    return out


@pytest.mark.parametrize("ops, expected", [
    ("gelu", {"gelu"}), ("softmax", {"softmax"}), ("attention_scores", {"attention_scores"}),
    ("layer_norm", {"layer_norm"}), ("gelu+softmax+layer_norm", {"gelu", "softmax", "layer_norm"}),
])
def test_exact_ops_sparsifies_exactly_the_named_ops(ops, expected):
    base, wgi_only, _ = _stash(DeferredDropout(0.9, keep_marked_dense=False))
    total, sparsified, _ = _stash(DeferredDropout(0.9, keep_marked_dense=False, exact_ops=ops))
    assert {op for _, op, role in sparsified if role == EXACT} == expected
    assert {op for _, op, role in wgi_only} == {"linear"}  # the default touches linear inputs only
    assert total < base


def test_layer_norm_statistics_stay_exact():
    policy = DeferredDropout(0.9, keep_marked_dense=False, exact_ops="layer_norm")
    block = _block()
    with stash.use(policy):
        loss = block(_x()).sum()
        rows = [r for r in stash.ledger().rows() if r.op == "layer_norm"]
        loss.backward()
    assert {r.shape[-1]: r.sparsified for r in rows} == {32: True, 1: False}


def test_all_sparsifies_every_floating_exact_stash_and_the_summary_names_them():
    policy = DeferredDropout(0.9, keep_marked_dense=False, exact_ops="all")
    block = _block()
    with stash.use(policy):
        loss = block(_x()).sum()
        led = stash.ledger()
        exact = {r.op for r in led.rows() if r.role == EXACT and r.shape[-1] > 1}
        named = {op for _, op, role in led.sparsified() if role == EXACT}
        text = led.summary()
        loss.backward()
    assert exact == named and {"gelu", "softmax", "layer_norm", "attention_scores", "matmul"} <= named
    assert "sparsified exact stashes" in text and "gelu (" in text


def test_fidelity_probe_sees_dx_only_when_exact_stashes_are_sparsified():
    block = _block()

    def loss_fn(m):
        return (m(_x()) ** 2).sum()

    wgi = stash.gradient_fidelity(block, loss_fn, DeferredDropout(0.9, keep_marked_dense=False))
    gelu = stash.gradient_fidelity(block, loss_fn,
                                   DeferredDropout(0.9, keep_marked_dense=False, exact_ops="gelu"))
    dx = lambda rows: {r["param"]: r["rel_error"] for r in rows if r["grad"] == "dX"}
    assert set(dx(wgi)) == {"attn.q", "attn.k", "attn.v", "attn.out", "ff1", "ff2"}
    assert all(e == 0 for e in dx(wgi).values())
    # GELU's backward feeds ff1's output gradient: ff1's own input gradient and all before it move
    assert dx(gelu)["ff2"] == 0 and dx(gelu)["ff1"] > 0.01 and dx(gelu)["attn.q"] > 0


@pytest.mark.parametrize("value, error", [("gelux", ValueError), (3, TypeError)])
def test_bad_exact_ops_are_refused_by_name(value, error):
    with pytest.raises(error, match="exact_ops"):
        DeferredDropout(0.9, exact_ops=value)
