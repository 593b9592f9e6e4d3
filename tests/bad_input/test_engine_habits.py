"""The engine under a student's (and a PyTorch user's) habits: own gradients, wrong-shaped
backward caught at the op, Python numbers as float32, PyTorch spellings accepted or refused with
the minidd spelling."""
import numpy as np
import pytest

import minidd
from minidd import Tensor, functional as F


def _leaves(*shapes):
    rng = np.random.default_rng(0)
    return [Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in shapes]


def _assert_own(*arrays):
    for i, a in enumerate(arrays):
        assert a.flags.writeable
        for b in arrays[i + 1:]:
            assert a is not b and not np.shares_memory(a, b)


def test_sum_of_two_leaves_gives_each_its_own_gradient():
    a, b = _leaves((3,), (3,))
    g = np.ones(3, np.float32)
    (a + b).backward(g)
    _assert_own(a.grad, b.grad, g)
    a.grad.fill(0)
    assert b.grad.tolist() == [1, 1, 1] and g.tolist() == [1, 1, 1]


@pytest.mark.parametrize("build", [
    lambda a, b: a + a,
    lambda a, b: (a + b) * 1.0 + b,
    lambda a, b: F.reshape(a + b, (3, 1)).sum(axis=1) + a,
    lambda a, b: F.concatenate([a, b]).reshape(2, 3).sum(axis=0),
    lambda a, b: (a + F.reshape(b, (1, 3))).sum(axis=0),     # broadcasting
    lambda a, b: F.stack([a, b]).mean(axis=0),
])
def test_no_two_leaves_share_a_gradient_array(build):
    a, b = _leaves((3,), (3,))
    g = np.ones(3, np.float32)
    build(a, b).backward(g)
    grads = [t.grad for t in (a, b) if t.grad is not None]
    _assert_own(*grads, g)


def test_broadcast_gradient_is_writeable_and_zero_works():
    c, a = _leaves((2, 3), (3,))
    (c + a).sum().backward()
    _assert_own(c.grad, a.grad)
    assert a.grad.zero_() is a.grad and not a.grad.any() and c.grad.all()


def test_backward_of_a_leaf_copies_the_given_gradient():
    (a,) = _leaves((3,))
    g = np.ones(3, np.float32)
    a.backward(g)
    assert a.grad is not g and not np.shares_memory(a.grad, g)


def test_a_wrong_shaped_backward_raises_at_the_op_naming_argument_and_shapes():
    class Forgets(minidd.Function):
        name = "forgets_to_unbroadcast"
        arg_names = ("x", "bias")

        @staticmethod
        def forward(ctx, x, bias):
            return x + bias

        @staticmethod
        def backward(ctx, g):
            return g, g                 # bias needed g.sum(axis=0)

    try:
        x, bias = _leaves((3, 4), (4,))
        with pytest.raises(RuntimeError, match=r"forgets_to_unbroadcast.backward returned a gradient "
                                               r"of shape \(3, 4\) for its argument 'bias' of shape \(4,\)"):
            Forgets.apply(x, bias).sum().backward()
        assert bias.grad is None
    finally:
        minidd.Function.registry.pop("forgets_to_unbroadcast")


@pytest.mark.parametrize("data, dtype", [
    ([1, 2, 3], np.float32), (2, np.float32), (2.5, np.float32), ([[1, 2.5]], np.float32),
    ([True, False], np.bool_), (np.array([1, 2]), np.int64), (np.int64(3), np.int64),
])
def test_python_numbers_and_lists_become_float32_as_documented(data, dtype):
    assert Tensor(data).dtype == dtype


def test_integer_list_as_labels_says_to_pass_an_ndarray():
    with pytest.raises(ValueError, match=r"Tensor\(list\) is float32: pass an integer ndarray"):
        F.cross_entropy(Tensor(np.ones((2, 3))), Tensor([0, 1]))


@pytest.mark.parametrize("torch_call, minidd_call", [
    (lambda x: x.sum(dim=1, keepdim=True), lambda x: x.sum(axis=1, keepdims=True)),
    (lambda x: x.mean(dim=0), lambda x: x.mean(axis=0)),
    (lambda x: x.max(keepdim=True), lambda x: x.max(keepdims=True)),
    (lambda x: x.var(dim=1, ddof=1), lambda x: x.var(axis=1, ddof=1)),
    (lambda x: x.softmax(dim=-1), lambda x: F.softmax(x, axis=-1)),
    (lambda x: F.log_softmax(x, dim=0), lambda x: F.log_softmax(x, axis=0)),
    (lambda x: x.unsqueeze(dim=0), lambda x: x.unsqueeze(0)),
    (lambda x: x.view(3, 2), lambda x: x.reshape(3, 2)),
    (lambda x: x.flatten(start_dim=0), lambda x: x.flatten(0)),
    (lambda x: F.concatenate([x, x], dim=1), lambda x: F.concatenate([x, x], axis=1)),
    (lambda x: x.clone(), lambda x: x * 1.0),
    (lambda x: x.double().float(), lambda x: x),
])
def test_pytorch_spellings_with_the_same_meaning_are_accepted(torch_call, minidd_call):
    (x,) = _leaves((2, 3))
    y = torch_call(x)
    np.testing.assert_allclose(y.data, minidd_call(x).data, rtol=1e-6)
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_argmax_dim_size_numel_and_clone_memory():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert x.argmax(dim=1).data.tolist() == [2, 2]
    assert x.size == 6 and x.size() == (2, 3) and x.size(1) == 3 and x.size(-2) == 2
    assert x.numel() == 6
    assert not np.shares_memory(x.clone().data, x.data)
    assert x.float() is x or x.float().dtype == np.float32
    with pytest.raises(ValueError, match=r"size: dim 2 is out of range for a tensor of shape \(2, 3\)"):
        x.size(2)


@pytest.mark.parametrize("call, match", [
    (lambda x: x.max(dim=1), r"max: dim= is PyTorch's spelling, where max\(dim=\) returns \(values, "
                             r"indices\); here write x.max\(axis=1, keepdims=False\) for the values "
                             r"and x.argmax\(axis=1\) for the indices"),
    (lambda x: F.min(x, dim=0), r"min: dim= .* \(-x\).argmax\(axis=0\) for the indices"),
    (lambda x: x.var(dim=1), r"var: dim= is PyTorch's spelling, and torch.var defaults to the "
                             r"unbiased ddof=1 .* write var\(axis=1, ddof=1\)"),
    (lambda x: x.sum(axis=0, dim=1), r"sum: give axis= or PyTorch's dim=, not both"),
    (lambda x: x.max(axis=0, dim=1), r"max: dim="),
    (lambda x: x.var(axis=0, dim=1, ddof=0), r"var: give axis= or PyTorch's dim=, not both"),
    (lambda x: x.float(dtype=1), r"unexpected keyword"),
    (lambda x: x.astype(np.int32), r"astype: dtype must be floating"),
])
def test_pytorch_spellings_with_another_meaning_are_refused_with_the_minidd_one(call, match):
    (x,) = _leaves((2, 3))
    with pytest.raises(TypeError, match=match):
        call(x)


def test_transpose_of_two_axes_names_pytorch_swap():
    with pytest.raises(ValueError, match=r"PyTorch's transpose\(dim0, dim1\) swaps two axes"):
        Tensor(np.ones((2, 3, 4))).transpose(0, 1)


@pytest.mark.parametrize("pad_width, torch_form", [
    ((1, 2), r"pad\(x, \(\(0, 0\), \(1, 2\)\)\)"),
    ((1, 2, 3, 4), r"pad\(x, \(\(3, 4\), \(1, 2\)\)\)"),
])
def test_pad_refuses_a_flat_tuple_showing_both_conventions(pad_width, torch_form):
    with pytest.raises(ValueError, match=r"pad: a flat pad_width .* is ambiguous for a tensor of "
                                         r"shape \(2, 3\): PyTorch's F.pad .* " + torch_form):
        F.pad(Tensor(np.ones((2, 3))), pad_width)


def test_pad_keeps_the_unambiguous_forms():
    assert F.pad(Tensor(np.ones(3)), (1, 2)).shape == (6,)
    assert F.pad(Tensor(np.ones((2, 3))), 1).shape == (4, 5)
    assert F.pad(Tensor(np.ones((2, 3))), ((0, 0), (1, 2))).shape == (2, 6)


def test_matmul_by_a_parameter_is_a_linear_layer_for_the_stash():
    from minidd import stash
    from minidd.nn import Parameter
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((8, 16)).astype(np.float32))
    w = Parameter(rng.standard_normal((16, 4)))
    w_t = Parameter(w.data.T.copy())
    with stash.use(stash.DeferredDropout(0.9)):
        for layer in (lambda: F.relu(x) @ w, lambda: F.relu(x) @ w_t.T,
                      lambda: F.linear(F.relu(x), w_t)):
            y = layer()
            wgi = [r for r in stash.ledger().rows() if r.role == "weight_grad_input"]
            assert [r.shape for r in wgi] == [(8, 16)] and wgi[0].kind != "dense"
            y.sum().backward()
            del y
    np.testing.assert_allclose(w.grad.T * 2, w_t.grad, rtol=1e-6)  # the same sparse dW each way


def test_parameter_on_the_left_of_matmul_warns_once(monkeypatch):
    from minidd.functional import linalg
    from minidd.nn import Parameter
    monkeypatch.setattr(linalg, "_warned_left", False)
    w = Parameter(np.ones((4, 3)))
    with pytest.warns(UserWarning, match=r"matmul: W @ x with a parameter W on the left gives the "
                                         r"stash no weight-gradient input .* write x @ W"):
        w @ Tensor(np.ones((3, 2), np.float32))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w @ Tensor(np.ones((3, 2), np.float32))  # once only


def test_a_live_graph_refusal_names_its_output_in_one_short_line():
    from minidd import stash
    from minidd.nn import Linear
    layer = Linear(4, 2, rng=np.random.default_rng(0))
    loss = F.cross_entropy(layer(Tensor(np.ones((3, 4), np.float32))), np.array([0, 1, 0]))
    with pytest.raises(RuntimeError) as info:
        stash.set_policy(stash.DeferredDropout(0.9))
    message = str(info.value)
    assert "\n" not in message and len(message) < 200
    assert message.startswith("set_policy: a graph is still alive (")
    assert "held by the output of cross_entropy ()" in message and "`del` it first" in message
    del loss
