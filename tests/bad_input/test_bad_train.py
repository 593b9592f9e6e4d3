"""Bad arguments and files for minidd.train, minidd.checkpoint and minidd.optim: each a clear error
(type asserted) whose message names the argument or file; nothing already written is lost."""
import numpy as np
import pytest

from minidd import nn, stash
from minidd.checkpoint import CheckpointError
from minidd.data import gaussian_clusters
from minidd.optim import SGD, Adam, AdamW, clip_grad_norm, warmup_cosine
from minidd.train import evaluate, fit


def _setup(seed=0, hidden=8):
    x, y = gaussian_clusters(40, dim=4, classes=2, rng=np.random.default_rng(0))
    rng = np.random.default_rng(seed)
    model = nn.MLP((4, hidden, 2), rng=rng)
    return x, y, rng, model


def _fit(model, data, opt, rng, **kw):
    kw.setdefault("epochs", 1)
    return fit(model, data, optimizer=opt, batch_size=16, rng=rng, progress=False, **kw)


# -- fit / optimizer consistency ------------------------------------------------------------------

def test_optimizer_over_another_models_parameters_is_refused():
    x, y, rng, model = _setup()
    opt = SGD(model.parameters(), lr=0.1)
    model = nn.MLP((4, 8, 2), rng=rng)               # rebuilt after the optimizer
    with pytest.raises(ValueError, match=r"optimizer.params\[0\] \(shape \(8, 4\)\) is not a parameter of the "
                                         r"model: 4 of the optimizer's 4 parameters .*rebuilt"):
        _fit(model, (x, y), opt, rng)


def test_optimizer_over_a_subset_of_the_parameters_is_fine():
    x, y, rng, model = _setup()
    head = model.layers[-1]
    opt = SGD(head.parameters(), lr=0.1)
    frozen = model.layers[0].weight.data.copy()
    _fit(model, (x, y), opt, rng)
    assert np.array_equal(model.layers[0].weight.data, frozen) and opt.step_count == 3


def test_fit_and_evaluate_need_a_minidd_module():
    x, y, rng, model = _setup()
    with pytest.raises(TypeError, match="fit: model must be a minidd.nn.Module, got function"):
        _fit(lambda a: a, (x, y), SGD(model.parameters(), lr=0.1), rng)
    with pytest.raises(TypeError, match="evaluate: model must be a minidd.nn.Module, got str"):
        evaluate("mlp", (x, y))


def test_evaluate_accepts_a_numpy_batch_size():
    x, y, rng, model = _setup()
    assert evaluate(model, (x, y), batch_size=np.int64(7)) == evaluate(model, (x, y), batch_size=7)


def test_fit_needs_a_minidd_optimizer():
    x, y, rng, model = _setup()
    with pytest.raises(TypeError, match="fit: optimizer must be a minidd.optim.Optimizer .*got list"):
        _fit(model, (x, y), model.parameters(), rng)


def test_resuming_an_adam_checkpoint_with_sgd_names_both_and_changes_nothing(tmp_path):
    ck = tmp_path / "ck.npz"
    x, y, rng, model = _setup()
    _fit(model, (x, y), Adam(model.parameters()), rng, checkpoint=ck)
    x, y, rng, model = _setup()
    before = model.state_dict()
    with pytest.raises(CheckpointError, match=r"checkpoint .*ck\.npz holds Adam state but the optimizer is SGD"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_optimizer_load_state_dict_of_another_kind_names_both():
    _, _, _, model = _setup()
    adam = Adam(model.parameters())
    with pytest.raises(ValueError, match="SGD.load_state_dict: the state is from Adam, this optimizer is SGD"):
        SGD(model.parameters(), lr=0.1).load_state_dict(adam.state_dict())
    state = adam.state_dict()
    del state["kind"]                                   # an older state dict without its kind
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: unexpected entry 'm.0' \(this optimizer has "
                                         r"buffers \['velocity'\] for 4 parameters\)"):
        SGD(model.parameters(), lr=0.1, momentum=0.9).load_state_dict(state)
    state = Adam(model.parameters()).state_dict()
    state["m.9"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: unexpected entry 'm.9'"):
        Adam(model.parameters()).load_state_dict(state)


def test_resume_true_without_a_checkpoint_path_is_refused():
    x, y, rng, model = _setup()
    with pytest.raises(ValueError, match="fit: resume=True needs checkpoint=<path>"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, resume=True)


# -- optimizer arguments --------------------------------------------------------------------------

def test_parameters_method_not_called_gets_a_helpful_error():
    _, _, _, model = _setup()
    with pytest.raises(TypeError, match=r"SGD: params is the method .*parameters.*not its result; call it: model.parameters\(\)"):
        SGD(model.parameters, lr=0.05)
    with pytest.raises(TypeError, match=r"Adam: params must be the parameters, got the MLP itself; pass model.parameters\(\)"):
        Adam(model)
    with pytest.raises(TypeError, match="AdamW: params must be an iterable of Parameters"):
        AdamW(3)


def test_numpy_scalars_are_accepted_as_hyperparameters():
    _, _, _, model = _setup()
    opt = SGD(model.parameters(), lr=np.float32(0.05), momentum=np.float64(0.9), weight_decay=np.int64(0))
    assert opt.lr == float(np.float32(0.05)) and opt.momentum == 0.9 and type(opt.lr) is float
    assert Adam(model.parameters(), lr=np.float16(1e-3), betas=np.array([0.9, 0.99])).beta2 == 0.99


@pytest.mark.parametrize("kw, error, name", [
    ({"lr": "0.1"}, TypeError, "lr must be a positive number, got '0.1'"),
    ({"lr": float("nan")}, ValueError, "lr must be a positive number, got nan"),
    ({"lr": float("inf")}, ValueError, "lr must be a positive number, got inf"),
    ({"lr": -1}, ValueError, "lr must be a positive number, got -1"),
    ({"lr": True}, TypeError, "lr must be a positive number, got True"),
    ({"lr": 0.1, "momentum": 1.0}, ValueError, r"momentum must be a number in \[0, 1\), got 1.0"),
    ({"lr": 0.1, "weight_decay": -0.1}, ValueError, "weight_decay must be a number >= 0"),
])
def test_bad_sgd_hyperparameters_are_named(kw, error, name):
    _, _, _, model = _setup()
    with pytest.raises(error, match="SGD: " + name):
        SGD(model.parameters(), **kw)


def test_bad_adam_betas_and_eps_are_named():
    _, _, _, model = _setup()
    with pytest.raises(ValueError, match=r"Adam: betas must be a pair \(beta1, beta2\), got \(0.9,\)"):
        Adam(model.parameters(), betas=(0.9,))
    with pytest.raises(ValueError, match=r"AdamW: betas\[1\] must be a number in \[0, 1\), got 1"):
        AdamW(model.parameters(), betas=(0.9, 1))
    with pytest.raises(ValueError, match="Adam: eps must be a positive number, got 0"):
        Adam(model.parameters(), eps=0)


def test_bad_schedule_and_clipping_arguments_are_named():
    with pytest.raises(TypeError, match="schedule: warmup_steps must be an int >= 0 and total_steps an int >= 1, got '10'"):
        warmup_cosine("10", 100)
    _, _, _, model = _setup()
    with pytest.raises(ValueError, match="clip_grad_norm: max_norm must be a positive number, got -1"):
        clip_grad_norm(model.parameters(), -1)
    with pytest.raises(TypeError, match="SGD: lr_schedule must be callable"):
        SGD(model.parameters(), lr=0.1, lr_schedule=0.5)


# -- fit arguments --------------------------------------------------------------------------------

def test_fit_on_zero_examples_is_refused():
    x, y, rng, model = _setup()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="fit: train_data holds 0 examples; it needs at least one"):
        _fit(model, (x[:0], y[:0]), opt, rng)
    with pytest.raises(ValueError, match="fit: test_data holds 0 examples"):
        _fit(model, (x, y), opt, rng, test_data=(x[:0], y[:0]))
    with pytest.raises(ValueError, match="evaluate: data holds 0 examples"):
        evaluate(model, (x[:0], y[:0]))
    with pytest.raises(ValueError, match="evaluate: batch_size must be a positive int, got 0"):
        evaluate(model, (x, y), batch_size=0)
    assert opt.step_count == 0


@pytest.mark.parametrize("kw, error, message", [
    ({"epochs": "3"}, TypeError, "fit: epochs must be a positive int, got '3'"),
    ({"epochs": 0}, ValueError, "fit: epochs must be a positive int, got 0"),
    ({"epochs": 2.0}, TypeError, "fit: epochs must be a positive int, got 2.0"),
    ({"steps": -5, "epochs": None}, ValueError, "fit: steps must be a positive int, got -5"),
    ({"batch_size": 0}, ValueError, "fit: batch_size must be a positive int, got 0"),
    ({"rng": 0}, TypeError, "fit: rng must be a numpy.random.Generator, got int"),
    ({"policy": "dd:0.9"}, TypeError, "fit: policy must be a minidd.stash.StashPolicy, got str"),
    ({"clip_norm": 0}, ValueError, "fit: clip_norm must be a positive number, got 0"),
    ({"checkpoint": 123}, TypeError, r"fit: checkpoint must be a file path \(str or os.PathLike\), got 123"),
    ({"checkpoint_every": 5}, ValueError, "fit: checkpoint_every needs checkpoint=<path>"),
    ({"checkpoint": "", "resume": False}, TypeError, r"fit: checkpoint must be a file path"),
    ({"resume": "yes"}, TypeError, "fit: resume must be True or False, got 'yes'"),
    ({"loss_fn": "mse"}, TypeError, r"fit: loss_fn must be callable \(model, batch_arrays, rng\) -> Tensor, got str"),
    ({"eval_fn": {"acc": 1}}, TypeError, "fit: eval_fn must be callable model -> dict, got dict"),
    ({"eval_fn": lambda m: {"step": 1}}, ValueError, "fit: eval_fn's result may not use the key 'step'"),
])
def test_bad_fit_arguments_are_named(kw, error, message):
    x, y, rng, model = _setup()
    opt = SGD(model.parameters(), lr=0.1)
    args = {"batch_size": 16, "rng": rng, "epochs": 1, **kw}
    with pytest.raises(error, match=message):
        fit(model, (x, y), optimizer=opt, progress=False, **args)


@pytest.mark.parametrize("data, message", [
    (np.zeros((4, 4)), r"fit: train_data must be a tuple of arrays \(inputs..., labels\), got ndarray"),
    ((np.zeros((4, 4)),), r"fit: train_data must be a tuple of arrays \(inputs..., labels\), got tuple of length 1"),
    ((np.zeros((4, 4)), [0, 1, 0, 1]), r"fit: train_data\[1\] must be a numpy.ndarray with one row per example, got list"),
    ((np.zeros((4, 4)), np.zeros(4)), r"fit: train_data: labels \(the last array\) must be 1-D integers \(class indices\), got float64"),
    ((np.zeros((4, 4)), np.zeros((4, 1), int)), r"fit: train_data: labels .* must be 1-D integers .*of shape \(4, 1\)"),
    ((np.array([["a"] * 4] * 4), np.zeros(4, int)), r"fit: train_data\[0\] must hold numbers or booleans, got dtype <U1"),
    ((np.zeros((4, 4)), np.array(3)), r"fit: train_data\[1\] must be a numpy.ndarray with one row per example, got a 0-d array"),
    ((np.zeros((3, 4)), np.zeros(4, int)), r"fit: train_data\[0\] must be an ndarray with 4 rows \(as many as the labels\), got shape \(3, 4\)"),
])
def test_malformed_train_data_is_named(data, message):
    _, _, rng, model = _setup()
    with pytest.raises(ValueError, match=message):
        _fit(model, data, SGD(model.parameters(), lr=0.1), rng)


# -- checkpoint files -----------------------------------------------------------------------------

def _resume(ck):
    x, y, rng, model = _setup()
    return _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=2)


def _good_checkpoint(ck):
    x, y, rng, model = _setup()
    _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck)


def test_truncated_checkpoint_names_the_file(tmp_path):
    ck = tmp_path / "ck.npz"
    _good_checkpoint(ck)
    raw = ck.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 30, 100):
        ck.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match=r"checkpoint .*ck\.npz (is not a readable .npz archive|is damaged)"):
            _resume(ck)


def test_foreign_checkpoints_name_the_file_and_the_problem(tmp_path):
    ck = tmp_path / "ck.npz"
    np.savez(ck, weights=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"ck\.npz is not a minidd fit checkpoint: it has no 'meta' entry \(it holds weights\)"):
        _resume(ck)
    np.savez(ck, meta=np.array('{"format": "something else"}'))
    with pytest.raises(CheckpointError, match=r"ck\.npz is not a minidd fit checkpoint \(its meta has no format"):
        _resume(ck)
    np.savez(ck, meta=np.array("{not json"))
    with pytest.raises(CheckpointError, match=r"ck\.npz is damaged: its 'meta' entry is not valid JSON"):
        _resume(ck)
    np.savez(ck, meta=np.array('{"format": "minidd.fit-checkpoint", "version": 1}'))
    with pytest.raises(CheckpointError, match=r"ck\.npz is damaged: its meta lacks \['epoch'"):
        _resume(ck)
    np.savez(ck, meta=np.array('{"format": "minidd.fit-checkpoint", "version": 99}'))
    with pytest.raises(CheckpointError, match=r"ck\.npz has format version 99"):
        _resume(ck)
    ck.write_text("hello")
    with pytest.raises(CheckpointError, match=r"ck\.npz is not a readable .npz archive"):
        _resume(ck)
    np.save(tmp_path / "a.npy", np.zeros(3))
    (tmp_path / "a.npy").replace(ck)
    with pytest.raises(CheckpointError, match=r"ck\.npz holds a single .npy array, not an .npz archive"):
        _resume(ck)


def test_checkpoint_of_another_setup_names_what_differs_and_changes_nothing(tmp_path):
    ck = tmp_path / "ck.npz"
    _good_checkpoint(ck)
    x, y, rng, model = _setup(hidden=16)
    before = model.state_dict()
    with pytest.raises(CheckpointError, match=r"checkpoint .*ck\.npz does not fit: load_state_dict: .*shape mismatches"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=2)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    x, y, rng, model = _setup()
    with pytest.raises(CheckpointError, match=r"ck\.npz was trained on 40 examples in batches of 16; fit got 30 examples"):
        _fit(model, (x[:30], y[:30]), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=2)
    with pytest.raises(CheckpointError, match=r"ck\.npz was trained with stash policy .*'dense'.* but fit got .*deferred_dropout"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=2,
             policy=stash.DeferredDropout(0.5))
    model.dropout = nn.Dropout(0.1, rng=np.random.default_rng(0))
    with pytest.raises(CheckpointError, match=r"ck\.npz holds the random generators \['rng'\], but training reads "
                                              r"\['model.dropout.rng', 'rng'\]"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=2)


def test_a_failed_epoch_keeps_the_last_checkpoint(tmp_path):
    ck = tmp_path / "ck.npz"
    _good_checkpoint(ck)
    before = ck.read_bytes()
    x, y, rng, model = _setup()
    with pytest.raises(ValueError, match="eval_fn's result may not use the key 'step'"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=2,
             eval_fn=lambda m: {"step": 0})
    assert ck.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["ck.npz"]


def test_module_load_of_a_bad_file_names_it(tmp_path):
    _, _, _, model = _setup()
    path = tmp_path / "model.npz"
    model.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CheckpointError, match=r"model file .*model\.npz (is not a readable .npz archive|is damaged)"):
        model.load(path)
    model.save(path)
    _, _, _, other = _setup(hidden=16)
    with pytest.raises(ValueError, match=r"model file .*model\.npz: load_state_dict: .*shape mismatches"):
        other.load(path)
    ck = tmp_path / "ck.npz"
    _good_checkpoint(ck)
    with pytest.raises(ValueError, match=r"model file .*ck\.npz: load_state_dict: .*unexpected \['model/layers.0.weight'"):
        model.load(ck)


def test_resume_past_the_budget_or_with_another_loss_is_refused(tmp_path):
    from minidd import Tensor, functional as F
    ck = tmp_path / "ck.npz"
    x, y, rng, model = _setup()
    _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, epochs=2)   # 6 steps
    x, y, rng, model = _setup()
    with pytest.raises(ValueError, match=r"fit: checkpoint .*ck\.npz is at step 6, past this call's budget of 4 steps"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=None, steps=4)
    x, y, rng, model = _setup()
    with pytest.raises(ValueError, match=r"fit: checkpoint .*ck\.npz was trained with the default loss; resume without loss_fn"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, checkpoint=ck, resume=True, epochs=3,
             loss_fn=lambda m, b, r: F.cross_entropy(m(Tensor(b[0])), b[1]))


def test_a_fresh_run_never_overwrites_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.arange(3))
    before = path.read_bytes()
    x, y, rng, model = _setup()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(CheckpointError, match=r"fit: refusing to overwrite .*data\.npz: checkpoint .*data\.npz is not a "
                                              r"minidd fit checkpoint"):
        _fit(model, (x, y), opt, rng, checkpoint=path)
    assert path.read_bytes() == before and opt.step_count == 0
    _good_checkpoint(tmp_path / "ck.npz")
    _good_checkpoint(tmp_path / "ck.npz")          # an older checkpoint is replaced: resume=False starts over


def test_duplicate_parameters_and_bad_schedules_are_named():
    _, _, _, model = _setup()
    ps = model.parameters()
    with pytest.raises(ValueError, match=r"SGD: params\[4\] is the same Parameter as params\[0\]; it would be updated twice"):
        SGD(ps + ps[:1], lr=0.1)
    x, y, rng, model = _setup()
    opt = SGD(model.parameters(), lr=0.1, lr_schedule=lambda t: None if t == 1 else 1.0)
    with pytest.raises(TypeError, match=r"SGD: lr_schedule\(1\) returned None; it must return a finite number >= 0"):
        _fit(model, (x, y), opt, rng)


def test_a_policy_class_instead_of_an_instance_is_named():
    x, y, rng, model = _setup()
    with pytest.raises(TypeError, match=r"fit: policy is the class DeferredDropout; pass an instance: DeferredDropout\(...\)"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, policy=stash.DeferredDropout)


def test_an_old_style_loss_fn_is_named_with_the_fix():
    from minidd import functional as F
    x, y, rng, model = _setup()
    with pytest.raises(TypeError, match=r"fit: loss_fn must take \(model, batch_arrays, rng\) .*cross_entropy\(logits, "
                                        r"labels.*\) does not\. For a loss of \(logits, labels\), leave loss_fn out"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, loss_fn=F.cross_entropy)


def test_test_data_with_another_number_of_arrays_is_named():
    x, y, rng, model = _setup()
    with pytest.raises(ValueError, match="fit: test_data has 3 arrays but train_data has 2"):
        _fit(model, (x, y), SGD(model.parameters(), lr=0.1), rng, test_data=(x, x, y))


def test_optimizer_state_with_a_bad_step_count_is_named():
    _, _, _, model = _setup()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: 'step_count' must be an int >= 0, got 'x'"):
        opt.load_state_dict({"step_count": "x"})
    with pytest.raises(ValueError, match="SGD.load_state_dict: the state has no 'step_count' entry"):
        opt.load_state_dict({})
