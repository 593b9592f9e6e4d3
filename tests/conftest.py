import numpy as np
import pytest

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
