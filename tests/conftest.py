import numpy as np
import pytest

import minidd
from minidd import stash


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _clean_stash():
    """Each test starts and ends with the Dense policy and an empty stash."""
    stash.set_policy(stash.Dense())
    yield
    import gc
    gc.collect()
    assert len(stash.ledger()) == 0, "a test left saved arrays alive:\n" + stash.ledger().summary()
    stash.set_policy(stash.Dense())


@pytest.fixture
def temporary_op():
    """Define a throwaway op from a ``forward(ctx, x)``; it leaves the op registry afterwards, so
    the every-op-has-a-gradient-test check never sees it."""
    made = []

    def make(forward, name):
        cls = type(name, (minidd.Function,), {"name": name, "forward": staticmethod(forward)})
        made.append(name)
        return cls

    yield make
    for name in made:
        minidd.Function.registry.pop(name, None)


@pytest.fixture
def tiny_mlp():
    """A seeded 20-32-32-4 MLP and a closure ``loss(model)`` on one fixed batch of 16."""
    from minidd import Tensor, functional as F
    from minidd.nn import MLP
    rng = np.random.default_rng(0)
    net = MLP((20, 32, 32, 4), rng=rng)
    x, y = rng.standard_normal((16, 20)).astype(np.float32), rng.integers(0, 4, 16)
    return net, lambda m: F.cross_entropy(m(Tensor(x)), y)
