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
