"""Bad input to the stash package: each case a clear error that names the argument or option."""
import numpy as np
import pytest

from minidd import stash
from minidd.stash import DeferredDropout, Dense, ZeroValue, format_spec, from_config, parse_spec


@pytest.mark.parametrize("spec, exc, match", [
    ("", ValueError, "empty policy spec"),
    ("   ", ValueError, "empty policy spec"),
    ("ded:0.9", ValueError, r"unknown policy 'ded' \(did you mean 'dd'\?\)"),
    ("Dense", ValueError, r"unknown policy 'Dense' \(did you mean 'dense'\?\)"),
    ("dense:0.5", ValueError, "dense takes no drop rate"),
    ("zero_value,drop=0.3", ValueError, "zero_value has no option 'drop'; its options are \\('lossless',\\)"),
    ("dd:0.9,granulrity=row", ValueError, r"no option 'granulrity' \(did you mean 'granularity'\?\)"),
    ("dd:0.9,valuedtype=float16", ValueError, r"did you mean 'value_dtype'"),
    ("dd:0.9,granularity=rows", ValueError, r"granularity must be one of .*did you mean 'row'"),
    ("dd:0.9,structure=blocks", ValueError, r"structure must be one of .*did you mean 'block'"),
    ("dd:abc", ValueError, "option 'drop' takes a number, got 'abc'"),
    ("dd:1.5", ValueError, r"drop must be a number in \[0, 1\)"),
    ("dd:0.9,block=big,structure=block", ValueError, "option 'block' takes an integer, got 'big'"),
    ("dd:0.9,keep_marked_dense=maybe", ValueError, "option 'keep_marked_dense' takes true or false"),
    ("dd:0.9,drop=0.5", ValueError, "option 'drop' is given twice"),
    ("dd:0.9,structure", ValueError, "'structure' must be key=value"),
    ("dd:0.9,layers=encoder", ValueError, "layers item 'encoder' must be pattern:drop"),
    ("dd:0.9,layers=encoder:high", ValueError, r"layers\['encoder'\] takes a number"),
    ("dd:0.9,layers=encoder:2", ValueError, r"layers\['encoder'\] must be a number in \[0, 1\)"),
    ("dd:0.9,structure=nm", ValueError, "drop=0.9 is inconsistent with structure='nm'"),
    ("dd,structure=nm,n=4,m=4", ValueError, "needs 1 <= n < m <= 256"),
    ("dd,structure=nm,layers=head:0.3", ValueError, r"layers\['head'\]=0.3 is inconsistent"),
    ("dd,structure=nm,selection=sample", ValueError, "selection='sample' does not apply"),
    ("dd,structure=nm,ramp_steps=5", ValueError, "ramp_steps does not apply to structure='nm'"),
    ("dd:0.9,block=64", ValueError, "block=64 has no effect without structure='block'"),
    ("dd:0.9,n=1", ValueError, "n=1 has no effect without structure='nm'"),
    ("dd:0.9,seed=3", ValueError, "seed=3 has no effect without selection='sample'"),
    ("dd:0.9,structure=row,granularity=row", ValueError, "granularity='row' applies to structure='element' only"),
    ("dd:0.9,block=0,structure=block", ValueError, "block must be an int >= 1"),
    ("dd:0.9,warmup_steps=-1", ValueError, "warmup_steps must be an int >= 0"),
])
def test_bad_spec_strings(spec, exc, match):
    with pytest.raises(exc, match=match):
        parse_spec(spec)


@pytest.mark.parametrize("config, exc, match", [
    ("dd:0.9", TypeError, "from_config: config must be a dict"),
    (DeferredDropout(), TypeError, "from_config: config must be a dict"),
    ({"drop": 0.9}, ValueError, "has no 'policy' key"),
    ({"policy": "deferred_dropot"}, ValueError, r"did you mean 'deferred_dropout'"),
    ({"policy": 3}, TypeError, "policy name must be a str"),
    ({"policy": "deferred_dropout", "dorp": 0.9}, ValueError, r"no option 'dorp' \(did you mean 'drop'\?\)"),
    ({"policy": "deferred_dropout", "drop": "0.9"}, TypeError, "drop must be a number"),
    ({"policy": "deferred_dropout", "block": 1.5, "structure": "block"}, TypeError, "block must be an int"),
    ({"policy": "deferred_dropout", "keep_marked_dense": "no"}, TypeError, "keep_marked_dense must be True or False"),
    ({"policy": "deferred_dropout", "layers": [("a", 0.5)]}, TypeError, "layers must be a dict"),
    ({"policy": "deferred_dropout", "layers": {1: 0.5}}, TypeError, "layers keys must be str"),
    ({"policy": "dense", "drop": 0.9}, ValueError, "dense has no option 'drop'"),
])
def test_bad_configs(config, exc, match):
    with pytest.raises(exc, match=match):
        from_config(config)


def test_format_spec_refuses_what_a_string_cannot_hold():
    with pytest.raises(ValueError, match="layers pattern 'a,b' cannot be written in a spec string"):
        format_spec(DeferredDropout(0.9, layers={"a,b": 0.5}))
    with pytest.raises(TypeError, match="expected a policy, its config dict or a spec string"):
        format_spec(0.9)
    with pytest.raises(TypeError, match="parse_spec: a policy spec must be a str"):
        parse_spec(0.9)


@pytest.mark.parametrize("state, exc, match", [
    ([1, 2], TypeError, "state must be a dict from state_dict"),
    ({"policy": "dense"}, ValueError, "the state is of policy 'dense', not 'deferred_dropout'"),
    ({"policy": "deferred_dropout", "step": 3}, ValueError, r"the state lacks \['rng'\]"),
    ({"policy": "deferred_dropout", "step": -3, "rng": {}}, ValueError, "step must be a non-negative int"),
    ({"policy": "deferred_dropout", "step": 3, "rng": {"state": 1}}, ValueError, r"state\['rng'\] is not a PCG64 state"),
])
def test_bad_policy_states(state, exc, match):
    with pytest.raises(exc, match=match):
        DeferredDropout(0.9, selection="sample").load_state_dict(state)


def test_state_of_another_policy_kind_is_refused():
    with pytest.raises(ValueError, match="ZeroValue.load_state_dict: the state is of policy 'deferred_dropout'"):
        ZeroValue().load_state_dict(DeferredDropout().state_dict())
    with pytest.raises(ValueError, match="Dense.load_state_dict"):
        Dense().load_state_dict({"policy": "zero_value"})


def test_set_policy_and_save_refuse_wrong_types():
    with pytest.raises(TypeError, match="set_policy: policy must be a StashPolicy"):
        stash.set_policy("dd:0.9")
    with pytest.raises(TypeError, match="ctx.save takes a numpy.ndarray"):
        stash.save([1.0, 2.0], stash.EXACT, "myop")
    with pytest.raises(ValueError, match="myop: unknown stash role 'weights'"):
        stash.save(np.zeros(3), "weights", "myop")


@pytest.mark.parametrize("axis, error", [(4, ValueError), (-2, ValueError), (1.0, TypeError),
                                         (True, TypeError)])
def test_save_refuses_a_feature_axis_the_array_does_not_have(axis, error):
    with pytest.raises(error, match="myop: ctx.save feature_axis must be -1"):
        stash.save(np.zeros((2, 3, 4, 5), np.float32), stash.WEIGHT_GRAD_INPUT, "myop", None, axis)


def test_row_size_that_does_not_divide_the_array_is_refused():
    with stash.use(DeferredDropout(0.5, granularity="row")), stash.scope("enc"):
        with pytest.raises(ValueError, match="layer 'enc' saved shape .* not a multiple of row_size 7"):
            stash.save(np.ones((4, 5), np.float32), stash.WEIGHT_GRAD_INPUT, "myop", 7)
