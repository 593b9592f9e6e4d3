"""Policy specs: config dicts and spec strings round-trip every option; state_dict resumes."""
import json

import numpy as np
import pytest

from minidd import stash
from minidd.stash import (WEIGHT_GRAD_INPUT, DeferredDropout, Dense, ZeroValue, format_spec,
                          from_config, parse_spec, spec_key)

# Every option of every policy at a non-default value, alone and combined.
POLICIES = [
    Dense(), ZeroValue(), DeferredDropout(), DeferredDropout(0.0), DeferredDropout(0.5),
    DeferredDropout(0.123456789),
    DeferredDropout(0.9, granularity="row"),
    DeferredDropout(0.9, value_dtype="float16"), DeferredDropout(0.9, value_dtype="bfloat16"),
    DeferredDropout(0.9, selection="sample"), DeferredDropout(0.9, selection="sample", seed=7),
    DeferredDropout(0.9, selection="sample", sample_size=100),
    DeferredDropout(0.9, warmup_steps=10), DeferredDropout(0.9, warmup_steps=3, ramp_steps=5),
    DeferredDropout(0.9, layers={"encoder.0.*": 0.5, "head": 0.0, "a:b[0-9]?": 0.25}),
    DeferredDropout(0.9, keep_marked_dense=False),
    DeferredDropout(0.9, exact_ops="gelu+softmax+attention_scores"), DeferredDropout(0.5, exact_ops="all"),
    DeferredDropout(0.9, exact_ops="layer_norm", lossless="attention"), Dense(lossless="all"),
    DeferredDropout(0.8, structure="row"), DeferredDropout(0.8, structure="row", selection="sample"),
    DeferredDropout(0.9, structure="block"), DeferredDropout(0.9, structure="block", block=16),
    DeferredDropout(structure="nm"), DeferredDropout(structure="nm", n=1, m=8),
    DeferredDropout(structure="nm", n=3, m=7, layers={"head": 0.0}, warmup_steps=4),
    DeferredDropout(0.75, granularity="row", value_dtype="bfloat16", selection="sample",
                    sample_size=64, seed=3, warmup_steps=2, ramp_steps=4,
                    layers={"layers.2": 0.5}, keep_marked_dense=False),
    DeferredDropout(0.95, structure="block", block=128, value_dtype="float16", selection="sample",
                    seed=11, ramp_steps=100, layers={"*.q": 0.0}),
]


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_config_and_spec_round_trip(policy):
    config = policy.config()
    assert from_config(config) == policy
    assert from_config(json.loads(json.dumps(config))) == policy  # survives a JSON file
    assert parse_spec(format_spec(policy)) == policy
    assert parse_spec(format_spec(policy)).config() == config
    assert format_spec(config) == format_spec(policy) == spec_key(format_spec(policy))


def test_config_lists_every_constructor_option():
    import inspect
    params = set(inspect.signature(DeferredDropout).parameters)
    # lossless= and exact_ops= appear only when on (older configs and storage models read them)
    assert set(DeferredDropout().config()) == params - {"lossless", "exact_ops"} | {"policy"}
    assert set(DeferredDropout(lossless="all", exact_ops="gelu").config()) == params | {"policy"}


def test_every_option_changes_the_policy():
    """Equality reads every option: changing any one of them gives a different policy and key."""
    base = DeferredDropout(0.9, structure="block", selection="sample").config()
    variants = {"drop": 0.8, "block": 64, "value_dtype": "float16", "sample_size": 10, "seed": 1,
                "warmup_steps": 1, "ramp_steps": 1, "layers": {"x": 0.5}, "keep_marked_dense": False}
    for key, value in variants.items():
        other = from_config({**base, key: value})
        assert other != from_config(base) and spec_key(other) != spec_key(base), key
    assert DeferredDropout(0.9, granularity="row") != DeferredDropout(0.9)
    assert DeferredDropout(structure="nm", n=1, m=2) != DeferredDropout(structure="nm")
    assert Dense() != ZeroValue() and Dense() == Dense()


@pytest.mark.parametrize("a, b", [
    ("dd:0.9", "deferred_dropout:0.9"),
    ("dd:0.9", "deferred_dropout:0.90,granularity=tensor,structure=element,value_dtype=float32"),
    ("dd", "dd:0.9"),
    ("dd, drop=0.5", "dd:0.5"),
    ("dd,structure=nm,n=2,m=4", "dd:0.5,structure=nm"),
    ("dd:0.9,keep_marked_dense=FALSE", "dd:0.9,keep_marked_dense=0"),
])
def test_spellings_of_one_policy_share_a_key(a, b):
    assert spec_key(a) == spec_key(b)
    assert parse_spec(a) == parse_spec(b)


def test_canonical_strings():
    assert format_spec("dd:0.9") == "deferred_dropout:0.9"
    assert format_spec("dd:0") == "deferred_dropout:0"
    assert format_spec(ZeroValue()) == "zero_value"
    assert format_spec({"policy": "dense"}) == "dense"
    assert format_spec("dd:0.9,value_dtype=bfloat16,structure=block,block=64,granularity=tensor") \
        == "deferred_dropout:0.9,structure=block,block=64,value_dtype=bfloat16"
    assert format_spec(DeferredDropout(0.9, layers={"enc.*": 0.5, "head": 0})) \
        == "deferred_dropout:0.9,layers=enc.*:0.5;head:0"


def _pack_bytes(policy, x):
    with stash.use(policy):
        entry = stash.save(x, WEIGHT_GRAD_INPUT, "test")
        out = (entry.positions.tobytes(), entry.values.tobytes(), entry.kept)
        stash.release(entry)
    return out


@pytest.mark.parametrize("structure", ["element", "block"])
def test_state_dict_resumes_sampled_selection_bit_identically(structure, rng):
    xs = [rng.standard_normal((64, 64)).astype(np.float32) for _ in range(6)]
    policy = DeferredDropout(0.9, selection="sample", sample_size=64, structure=structure,
                             block=4 if structure == "block" else 128)
    _pack_bytes(policy, xs[0])
    state = json.loads(json.dumps(policy.state_dict()))  # checkpoints may hold it as JSON
    first = [_pack_bytes(policy, x) for x in xs[1:]]
    policy.load_state_dict(state)
    assert [_pack_bytes(policy, x) for x in xs[1:]] == first
    fresh = from_config(policy.config())                 # a new process: config + state
    fresh.load_state_dict(state)
    assert [_pack_bytes(fresh, x) for x in xs[1:]] == first
    assert [_pack_bytes(from_config(policy.config()), x) for x in xs[1:]] != first  # state matters


def test_state_dict_keeps_the_schedule_step():
    p = DeferredDropout(0.9, warmup_steps=5, ramp_steps=5)
    p.set_step(7)
    q = DeferredDropout(0.9, warmup_steps=5, ramp_steps=5)
    q.load_state_dict(p.state_dict())
    assert q.step == 7 and q.scheduled_drop() == p.scheduled_drop()
    Dense().load_state_dict(Dense().state_dict())


def test_a_policy_class_registers_itself_and_specs_name_it():
    class KeepEvery(stash.StashPolicy):
        name = "keep_every_test"

        def __init__(self, drop: float = 0.5):
            self.drop = drop

        def config(self):
            return {"policy": self.name, "drop": self.drop}

        def pack(self, array, info):
            return stash.Dense().pack(array, info)

    try:
        assert stash.REGISTRY["keep_every_test"] is KeepEvery
        assert parse_spec("keep_every_test:0.25") == KeepEvery(0.25)
        assert format_spec(KeepEvery(0.25)) == "keep_every_test:0.25"
        assert from_config({"policy": "keep_every_test"}) == KeepEvery()
        with pytest.raises(ValueError, match="'dense' is taken by minidd.stash.policies.Dense"):
            type("Impostor", (stash.StashPolicy,), {"name": "dense"})
    finally:
        del stash.REGISTRY["keep_every_test"]
    assert stash.REGISTRY["dd"] is DeferredDropout and "random_k" in stash.REGISTRY
