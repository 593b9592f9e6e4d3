"""The checks of the exercise track, each a function of the module that answers it: the suite
runs them on ``exercises.solutions`` (they must pass) and on ``exercises.stubs`` (they must fail);
a student runs them on the stubs they fill in (``python -m pytest exercises/check_exercises.py``)."""
import importlib

import numpy as np

import minidd
from minidd import Tensor, functional as F, nn, stash

EXERCISES = ("ex1_op", "ex2_walk", "ex3_policy", "ex4_ledger")


def load(package: str, exercise: str):
    """``exercises.<package>.<exercise>``; an op it defines leaves the op registry again (the
    suite's every-op-has-a-gradient-case check must not see it)."""
    before = set(minidd.Function.registry)
    module = importlib.import_module(f"exercises.{package}.{exercise}")
    for name in set(minidd.Function.registry) - before:
        minidd.Function.registry.pop(name)
    return module


def check_ex1_op(m):
    rng = np.random.default_rng(0)
    for shape in ((), (3,), (2, 5)):
        x = rng.standard_normal(shape) * 3
        err = minidd.check_grad(lambda t: m.Softplus.apply(t), [x], rng=rng)
        assert err < 1e-6, f"Softplus backward differs from finite differences by {err:.2e}"
    big = Tensor(np.array([-800.0, 0.0, 800.0]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        m.Softplus.apply(big).sum().backward()
    np.testing.assert_allclose(big.grad, [0.0, 0.5, 1.0], atol=1e-12)


def _mlp_grads(walk):
    rng = np.random.default_rng(1)
    model = nn.MLP((6, 8, 3), rng=rng)
    x = Tensor(rng.standard_normal((5, 6)).astype(np.float32))
    loss = F.cross_entropy(model(x), rng.integers(0, 3, 5))
    walk(loss)
    return {k: p.grad for k, p in model.named_parameters()}


def check_ex2_walk(m):
    mine, ref = _mlp_grads(m.backward), _mlp_grads(lambda t: t.backward())
    for k in ref:
        assert mine[k] is not None, f"no gradient reached {k}"
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-5, atol=1e-7, err_msg=k)
    a = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    h = a * 2.0
    m.backward((h * h + h).sum())  # a diamond: h feeds two ops and must get both gradients
    np.testing.assert_allclose(a.grad, (8 * a.data + 2.0))
    x = Tensor(np.array(0.1), requires_grad=True)
    y = x
    for _ in range(3000):  # deep: a recursive walk overflows the stack
        y = y * 1.0
    m.backward(y)
    assert x.grad == 1.0


def check_ex3_policy(m):
    rng = np.random.default_rng(2)
    model = nn.MLP((16, 32, 4), rng=rng)
    x = Tensor(rng.standard_normal((8, 16)).astype(np.float32))
    y = rng.integers(0, 4, 8)
    grads, stash_bytes = {}, {}
    for name, policy in (("dense", stash.Dense()), ("half", m.HalfPrecision())):
        with stash.use(policy):
            loss = F.cross_entropy(model(x), y)
            stash_bytes[name] = {r: t["nbytes"] for r, t in stash.ledger().by("role").items()}
            model.zero_grad()
            loss.backward()
            del loss
        grads[name] = {k: p.grad.copy() for k, p in model.named_parameters()}
    for k, g in grads["dense"].items():
        np.testing.assert_allclose(grads["half"][k], g, rtol=2e-2, atol=2e-3, err_msg=k)
    for role in ("exact", "weight_grad_input"):
        if role in stash_bytes["dense"]:
            assert stash_bytes["half"][role] < 0.6 * stash_bytes["dense"][role], \
                f"{role}: {stash_bytes['half'][role]} B, not about half of {stash_bytes['dense'][role]} B"


class _Entry:
    def __init__(self, nbytes, role):
        self.nbytes, self.role = nbytes, role


def check_ex4_ledger(m):
    rng = np.random.default_rng(3)
    model = nn.MLP((16, 32, 4), rng=rng)
    with stash.use(stash.DeferredDropout(0.9)):
        loss = F.cross_entropy(model(Tensor(rng.standard_normal((8, 16)).astype(np.float32))),
                               rng.integers(0, 4, 8))
        real = stash.ledger()
        rows, current = real.rows(), real.current
        per_role = {r: t["nbytes"] for r, t in real.by("role").items()}
        loss.backward()
        del loss
    ledger = m.MiniLedger()
    for row in rows:
        ledger.add(_Entry(row.nbytes, row.role))
    assert ledger.current == current and ledger.peak == current
    assert ledger.by_role() == per_role
    a, b = _Entry(100, "exact"), _Entry(40, "index")
    ledger = m.MiniLedger()
    ledger.add(a)
    ledger.add(b)
    ledger.remove(a)
    ledger.remove(a)  # twice: counted once
    assert (ledger.current, ledger.peak, ledger.by_role()) == (40, 140, {"index": 40})
    ledger.reset_peak()
    assert ledger.peak == 40
