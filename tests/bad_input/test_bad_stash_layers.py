"""Per-layer ``layers=`` patterns of DeferredDropout: checked against the model's layers on first
use (a typo names the pattern and close layer names), and their order is part of the policy."""
import numpy as np
import pytest

from minidd import Tensor, functional as F, nn, stash
from minidd.data import gaussian_clusters
from minidd.optim import SGD
from minidd.train import fit


def _model():
    return nn.MLP((6, 8, 8, 3), rng=np.random.default_rng(0))


def test_a_typo_in_a_pattern_raises_on_first_use_naming_close_layers():
    x, y = gaussian_clusters(64, dim=6, classes=3, rng=np.random.default_rng(0))
    model = _model()
    with pytest.raises(ValueError, match=r"layers pattern 'layer.2' matches no layer of the model; "
                                         r"close layer names: layers.2"):
        fit(model, (x, y), optimizer=SGD(model.parameters(), lr=0.1), epochs=1, batch_size=16,
            rng=np.random.default_rng(1), policy=stash.DeferredDropout(0.9, layers={"layer.2": 0.5}),
            progress=False)


def test_patterns_that_match_train_as_before():
    x, y = gaussian_clusters(64, dim=6, classes=3, rng=np.random.default_rng(0))
    model = _model()
    policy = stash.DeferredDropout(0.9, layers={"layers.2": 0.5, "layers.*": 0.0})
    fit(model, (x, y), optimizer=SGD(model.parameters(), lr=0.1), epochs=1, batch_size=16,
        rng=np.random.default_rng(1), policy=policy, progress=False)
    policy.check_layers(model)


def test_check_layers_against_a_model_or_names():
    policy = stash.DeferredDropout(0.9, layers={"layers.0": 0.5, "encodr.*": 0.1})
    with pytest.raises(ValueError, match=r"'encodr.\*' matches no layer .* close layer names: "
                                         r"encoder.1, encoder.0"):
        policy.check_layers(["encoder.0", "encoder.1", "layers.0"])
    stash.DeferredDropout(0.9, layers={"layers.4": 0.5}).check_layers(_model())


def test_a_custom_loop_is_checked_at_the_next_set_step():
    model = _model()
    policy = stash.DeferredDropout(0.9, layers={"layrs.4": 0.0})
    policy.set_step(0)
    with stash.use(policy):
        loss = F.cross_entropy(model(Tensor(np.ones((4, 6), np.float32))), np.array([0, 1, 2, 0]))
        loss.backward()
        del loss
    with pytest.raises(ValueError, match=r"'layrs.4' matches no layer .* layers.4"):
        policy.set_step(1)


def test_patterns_in_another_order_are_another_policy():
    a = stash.DeferredDropout(0.9, layers={"layers.2": 0.5, "layers.*": 0.0})
    b = stash.DeferredDropout(0.9, layers={"layers.*": 0.0, "layers.2": 0.5})
    assert a != b and a.drop_for(stash.Scope("layers.2")) != b.drop_for(stash.Scope("layers.2"))
    assert a == stash.DeferredDropout(0.9, layers={"layers.2": 0.5, "layers.*": 0.0})
    assert stash.format_spec(a) != stash.format_spec(b)
    assert stash.from_config(a.config()) == a and stash.from_config(b.config()) == b
