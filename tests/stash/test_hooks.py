"""stash.hooks: a policy from a PyTorch-style (pack, unpack) pair of saved-tensor hooks."""
import numpy as np
import pytest

from minidd import Tensor, functional as F, nn, stash


def _grads_and_bytes(policy, dtype=np.float32):
    rng = np.random.default_rng(0)
    net = nn.MLP((12, 24, 24, 3), rng=rng)
    if dtype != np.float32:
        for p in net.parameters():
            p.data = p.data.astype(dtype)
    x, y = rng.standard_normal((10, 12)).astype(dtype), rng.integers(0, 3, 10)
    with stash.use(policy):
        loss = F.cross_entropy(net(Tensor(x)), y)
        held = stash.ledger().current
        net.zero_grad()
        loss.backward()
        del loss
    return [p.grad for p in net.parameters()], held


def _to_half(a):
    return (a.astype(np.float16), a.dtype) if a.dtype.kind == "f" else a


def _from_half(packed):
    return packed[0].astype(packed[1]) if isinstance(packed, tuple) else packed


def test_float16_hooks_give_close_gradients_and_half_the_float_bytes():
    dense, dense_bytes = _grads_and_bytes(stash.Dense())
    half, half_bytes = _grads_and_bytes(stash.hooks(_to_half, _from_half))
    for g, h in zip(dense, half):
        assert h.dtype == g.dtype and np.allclose(h, g, rtol=2e-2, atol=2e-3)
    assert any(not np.array_equal(g, h) for g, h in zip(dense, half))  # it did round
    assert 0.4 * dense_bytes < half_bytes < 0.75 * dense_bytes      # float16 payloads booked


def test_identity_hooks_are_exactly_dense():
    calls = []

    def pack(a):
        calls.append(a.shape)
        return a

    dense, dense_bytes = _grads_and_bytes(stash.Dense(), np.float64)
    same, same_bytes = _grads_and_bytes(stash.hooks(pack, lambda a: a), np.float64)
    assert calls and same_bytes == dense_bytes
    assert all(np.array_equal(g, s) for g, s in zip(dense, same))


def test_an_array_kept_by_reference_is_read_only_while_stashed():
    x = Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    with stash.use(stash.hooks(lambda a: a, lambda a: a)):
        y = F.tanh(x)
        assert stash.ledger().rows()[0].kind == "hooks" and not y.data.flags.writeable
        y.sum().backward()
    assert y.data.flags.writeable and np.allclose(x.grad, 1 - np.tanh(1.0) ** 2)


def test_bad_hooks_are_refused_by_name():
    with pytest.raises(TypeError, match="pack must be a callable"):
        stash.hooks(None, lambda p: p)
    x = Tensor(np.ones(4, np.float32), requires_grad=True)
    with stash.use(stash.hooks(lambda a: a.astype(np.float16), lambda p: p)):
        y = F.tanh(x).sum()
        with pytest.raises(ValueError, match="unpack returned an array of shape .4,., float16"):
            y.backward()
        del y
    with stash.use(stash.hooks(lambda a: a, lambda p: p.tolist())):
        y = F.tanh(x).sum()
        with pytest.raises(TypeError, match="unpack returned list"):
            y.backward()
        del y
    with pytest.raises(ValueError, match="not a registered policy"):
        stash.format_spec(stash.hooks(lambda a: a, lambda p: p))
