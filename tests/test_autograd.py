"""The autodiff core: walk order, accumulation, freeing, no_grad and errors at the boundary."""
import gc
import weakref

import numpy as np
import pytest

import minidd
from minidd import Tensor, functional as F, nn, no_grad, optim, stash


def test_float32_by_default_and_ndarray_dtype_kept():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(np.zeros(3)).dtype == np.float64
    assert Tensor(np.arange(3)).dtype.kind == "i"


def test_requires_grad_needs_a_float_tensor():
    with pytest.raises(TypeError, match="floating"):
        Tensor(np.arange(3), requires_grad=True)


def test_chain_of_5000_ops_has_no_recursion_limit():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 1.0001 ** 5000), rtol=1e-9)


def test_diamond_accumulates_both_paths():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = x * 3.0
    b = a * a          # same tensor twice: 2a * da
    c = a + b          # diamond: a reaches c directly and through b
    c.sum().backward()
    np.testing.assert_allclose(x.grad, 3.0 * (1 + 2 * 3.0 * np.array([1.0, 2.0])))


def test_leaf_used_twice_and_grad_accumulates_across_backwards():
    x = Tensor(np.array([2.0]), requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0])
    (x * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0])


def test_walk_frees_every_saved_array_and_second_backward_raises():
    x = Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    loss = F.tanh(F.linear(x, w)).sum()
    assert len(stash.ledger()) > 0 and stash.ledger().current > 0
    loss.backward()
    assert len(stash.ledger()) == 0 and stash.ledger().current == 0
    with pytest.raises(RuntimeError, match="freed"):
        loss.backward()


def test_retain_graph_allows_a_second_walk():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (F.exp(x)).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp([1.0, 2.0]))


def test_dropping_a_graph_without_backward_frees_its_stash():
    x = Tensor(np.ones((3, 3)), requires_grad=True)
    y = F.exp(x) * 2.0
    assert len(stash.ledger()) == 1
    del y
    gc.collect()
    assert len(stash.ledger()) == 0


def test_no_grad_saves_nothing_and_builds_no_graph():
    x = Tensor(np.ones((3, 3)), requires_grad=True)
    with no_grad():
        y = F.tanh(F.linear(x, x))
    assert not y.requires_grad and len(stash.ledger()) == 0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_needs_input_grad_skips_unneeded_gradients():
    w = Tensor(np.ones((2, 3)), requires_grad=True)
    x = Tensor(np.ones((4, 3)))           # input data: no gradient wanted
    y = F.linear(x, w)
    # only X is saved (for dW); the weight is not, because dX is not wanted
    assert [r.role for r in stash.ledger().rows()] == [stash.WEIGHT_GRAD_INPUT]
    y.sum().backward()
    assert x.grad is None and w.grad.shape == (2, 3)


def test_saved_arrays_are_read_only_until_backward():
    x = Tensor(np.ones(3), requires_grad=True)
    y = F.exp(x)
    with pytest.raises(ValueError, match="read-only"):
        y.data[0] = 5.0
    y.sum().backward()
    y.data[0] = 5.0  # writable again once backward has read it


def test_context_refuses_arrays_as_attributes(temporary_op):
    def forward(ctx, x):
        ctx.kept = x
        return x

    leaky = temporary_op(forward, "leaky_test_op")
    with pytest.raises(TypeError, match="ctx.save"):
        leaky.apply(Tensor(np.ones(2), requires_grad=True))


def test_saved_arrays_unpack_by_position_with_none_placeholders():
    """What an op did not need to save is a None in its place, so backward never depends on the
    order of needs_input_grad (PyTorch's saved_tensors does the same)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    for need_a, need_b in ((True, False), (False, True), (True, True)):
        ta, tb = Tensor(a, requires_grad=need_a), Tensor(b, requires_grad=need_b)
        out = F.matmul(ta, tb)
        saved_b, saved_a = out._node.saved
        assert (saved_b is None) != need_a and (saved_a is None) != need_b
        assert len(stash.ledger()) == need_a + need_b          # placeholders are not booked
        out.sum().backward()
        assert (ta.grad is not None) == need_a and (tb.grad is not None) == need_b
        if need_a:
            assert np.allclose(ta.grad, np.ones((3, 2)) @ b.T)


def test_unknown_role_is_refused(temporary_op):
    def forward(ctx, x):
        ctx.save(x, role="activation")
        return x

    bad_role = temporary_op(forward, "bad_role_test_op")
    with pytest.raises(ValueError, match="unknown stash role 'activation'"):
        bad_role.apply(Tensor(np.ones(2), requires_grad=True))


def test_graph_does_not_hold_intermediate_tensors():
    x = Tensor(np.ones((3, 3)), requires_grad=True)
    h = x * 2.0
    ref = weakref.ref(h)
    y = F.sum(h)  # sum saves nothing
    del h
    gc.collect()
    assert ref() is None
    y.backward()
    np.testing.assert_allclose(x.grad, np.full((3, 3), 2.0))


@pytest.mark.parametrize("call, match", [
    (lambda: Tensor(np.ones(3), requires_grad=True).backward(), "not a scalar"),
    (lambda: Tensor(np.ones(3), requires_grad=True).backward(np.ones(2)), r"grad has shape \(2,\)"),
    (lambda: F.matmul(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))), r"matmul: a of shape \(2, 3\)"),
    (lambda: F.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))), r"linear: x of shape \(2, 3\)"),
    (lambda: F.conv2d(Tensor(np.ones((1, 2, 5, 5))), Tensor(np.ones((3, 4, 3, 3)))), r"conv2d: x of shape"),
    (lambda: F.conv2d(Tensor(np.ones((1, 2, 2, 2))), Tensor(np.ones((3, 2, 3, 3)))), "does not fit"),
    (lambda: Tensor(np.ones((2, 3))) + Tensor(np.ones((4,))), r"add: incompatible shapes: a of shape \(2, 3\)"),
    (lambda: F.exp(Tensor(np.arange(3))), "exp: argument x must be a floating-point tensor"),
    (lambda: F.cross_entropy(Tensor(np.ones((2, 3))), np.array([0, 3])), r"labels must be in \[0, 3\)"),
    (lambda: F.embedding(np.array([7]), Tensor(np.ones((4, 2)))), r"indices must be in \[0, 4\)"),
    (lambda: F.reshape(Tensor(np.ones(6)), (4, 2)), r"cannot reshape a tensor of shape \(6,\)"),
    (lambda: F.dropout(Tensor(np.ones(3)), 1.5, np.random.default_rng(0)), r"p must be a number in \[0, 1\)"),
])
def test_bad_input_raises_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError, IndexError, RuntimeError), match=match):
        call()


def test_walk_is_deterministic():
    def run():
        rng = np.random.default_rng(3)
        x = Tensor(rng.standard_normal((8, 5)).astype(np.float32), requires_grad=True)
        w = Tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
        h = F.gelu(F.linear(x, w))
        loss = (F.softmax(h) * h + F.tanh(h)).sum()
        loss.backward()
        return x.grad, w.grad

    (a1, b1), (a2, b2) = run(), run()
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2)


# -- 0-d tensors ---------------------------------------------------------------------------------
def test_micrograd_first_example_on_0d_tensors():
    """micrograd's neuron: (a * b + c).tanh(), on 0-d float32 tensors, against the chain rule."""
    a = Tensor(2.0, requires_grad=True)
    b = Tensor(-3.0, requires_grad=True)
    c = Tensor(10.0, requires_grad=True)
    out = (a * b + c).tanh()
    out.backward()
    assert out.shape == () and out.dtype == np.float32
    d = 1 - np.tanh(2.0 * -3.0 + 10.0) ** 2
    for t, expected in ((a, d * -3.0), (b, d * 2.0), (c, d)):
        assert isinstance(t.grad, np.ndarray) and t.grad.shape == () and t.grad.dtype == np.float32
        np.testing.assert_allclose(t.grad, expected, rtol=1e-3)  # float32


def test_micrograd_first_example_matches_finite_differences(rng):
    err = minidd.check_grad(lambda a, b, c: (a * b + c).tanh(),
                            [np.array(2.0), np.array(-3.0), np.array(0.5)], rng=rng)
    assert err < 1e-6


def test_sum_then_exp_and_0d_leaf_backward():
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    y = x.sum().exp()
    y.backward()
    np.testing.assert_allclose(x.grad, np.full(3, np.exp(1.5)))
    s = Tensor(3.0, requires_grad=True)
    s.backward()
    assert s.grad.shape == () and float(s.grad) == 1.0


def test_0d_results_are_arrays_not_numpy_scalars():
    a = Tensor(np.float64(1.5), requires_grad=True)   # a NumPy scalar keeps its dtype
    assert a.dtype == np.float64 and isinstance(a.data, np.ndarray)
    for y in (F.exp(a), F.relu(a), F.gelu(a), a / 2.0, F.maximum(a, a), F.sqrt(a), a * a):
        assert isinstance(y.data, np.ndarray) and y.shape == () and y.dtype == np.float64
        y.backward()
        assert isinstance(a.grad, np.ndarray) and a.grad.dtype == np.float64


# -- Python and NumPy interop -----------------------------------------------------------------
def test_numpy_sees_the_data_and_python_numbers_convert():
    t = Tensor(np.array([[1.0, -2.0]]), requires_grad=True)
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert np.array(t, copy=True) is not t.data
    one = Tensor([[2.5]])
    assert float(one) == 2.5 and int(one) == 2 and bool(one) is True and one.item() == 2.5
    assert bool(Tensor(0.0)) is False


@pytest.mark.parametrize("convert", [float, int, bool, lambda t: t.item()])
def test_multi_element_tensor_refuses_python_conversion(convert):
    with pytest.raises(ValueError, match=r"only a one-element tensor converts .* shape \(2,\)"):
        convert(Tensor([1.0, 2.0]))


def test_comparisons_return_boolean_masks_without_grad():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    for mask, expected in ((x > 0, [False, False, True]), (x >= 0, [False, True, True]),
                           (x < 0, [True, False, False]), (x <= 0, [True, True, False]),
                           (x == 0, [False, True, False]), (x != 0, [True, False, True]),
                           (0 < x, [False, False, True]), (x > Tensor(np.zeros(3)), [False, False, True])):
        assert isinstance(mask, np.ndarray) and mask.dtype == np.bool_
        assert mask.tolist() == expected
    y = (x * (x > 0)).sum()          # a mask is a constant: the gradient flows only through x
    y.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])
    assert len({x, Tensor(1.0)}) == 2   # still hashable (by identity)


def test_requires_grad_flag_and_is_leaf():
    w = Tensor(np.ones(3))
    assert w.requires_grad_() is w and w.requires_grad and w.is_leaf
    y = w * 2.0
    assert not y.is_leaf
    with pytest.raises(RuntimeError, match="only a leaf tensor"):
        y.requires_grad_(False)
    with pytest.raises(TypeError, match="only floating-point"):
        Tensor(np.arange(3)).requires_grad_()
    w.requires_grad_(False)
    assert not (w * 2.0).requires_grad


# -- the version counter and read-only guards ----------------------------------------------------
def _mlp_loss(rng):
    model = nn.MLP((4, 5, 3), rng=rng)
    x = Tensor(rng.standard_normal((6, 4)).astype(np.float32))
    return model, F.cross_entropy(model(x), np.array([0, 1, 2, 0, 1, 2]))


@pytest.mark.parametrize("make_opt", [lambda ps: optim.SGD(ps, lr=0.1),
                                      lambda ps: optim.Adam(ps, lr=0.1)])
def test_optimizer_step_between_forward_and_backward_is_caught(make_opt, rng):
    model, loss = _mlp_loss(rng)
    opt = make_opt(model.parameters())
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    opt.step()                       # the step in the wrong place
    with pytest.raises(RuntimeError, match=r"backward: linear in layer 'layers.2' saved its "
                                           r"argument 'weight' \(Parameter of shape \(3, 5\), float32\), "
                                           r"which was modified in place .*version 0 -> 1"):
        loss.backward()


def test_load_state_dict_between_forward_and_backward_is_caught(rng):
    model, loss = _mlp_loss(rng)
    model.load_state_dict(model.state_dict())
    with pytest.raises(RuntimeError, match=r"linear in layer 'layers.2' saved its argument 'weight'"):
        loss.backward()


def test_inplace_tensor_update_under_no_grad_is_caught(rng):
    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = F.linear(x, w).sum()         # w is kept by reference (role parameter) for x's gradient
    with no_grad():
        w -= 0.5                     # an update, allowed under no_grad, counted
    assert w.version == 1
    with pytest.raises(RuntimeError, match=r"linear saved its argument 'weight' \(Tensor of shape \(2, 3\)"):
        y.backward()


def test_a_correct_loop_is_not_disturbed(rng):
    model = nn.MLP((4, 5, 3), rng=rng)
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = Tensor(rng.standard_normal((6, 4)).astype(np.float32))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), np.array([0, 1, 2, 0, 1, 2])).backward()
        opt.step()
    assert model.layers[0].weight.version == 3


def test_inplace_operator_rules():
    t = Tensor(np.ones(3))
    t += 1.0
    t *= Tensor(np.full(3, 2.0))
    np.testing.assert_array_equal(t.data, [4.0, 4.0, 4.0])
    assert t.version == 2
    w = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Tensor \+=: in-place change of a tensor that requires grad"):
        w += 1.0
    y = F.exp(w)                     # y's array is saved by exp
    with pytest.raises(RuntimeError, match=r"Tensor -=: this tensor's array .* is read-only: an op saved it"):
        with no_grad():
            y -= 1.0
    y.sum().backward()
    with no_grad():
        y -= 1.0                     # writeable again once backward has run


def test_write_through_the_base_of_a_saved_view_is_refused_until_backward(rng):
    base = rng.standard_normal((4, 6))
    x = Tensor(base[:, :3])          # a view: the stash keeps it by reference
    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    loss = F.linear(x, w).sum()
    with pytest.raises(ValueError, match="read-only"):
        base[0, 0] = 5.0             # would change the dW that backward computes
    loss.backward()
    np.testing.assert_allclose(w.grad, np.tile(base[:, :3].sum(axis=0), (2, 1)))
    base[0, 0] = 5.0                 # everything writeable again
    x.data[0, 1] = 1.0


def test_two_graphs_saving_views_of_one_base_restore_it_in_any_order(rng):
    base = rng.standard_normal((4, 6))
    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    first = F.linear(Tensor(base[:, :3]), w).sum()
    second = F.linear(Tensor(base[:, 3:]), w).sum()
    first.backward()
    with pytest.raises(ValueError, match="read-only"):
        base[0, 0] = 1.0             # still saved (through another view) by the second graph
    second.backward()
    base[0, 0] = 1.0
    view = base[:, :3]
    view[0, 0] = 2.0


def test_a_copying_policy_does_not_lock_the_array_and_keeps_the_gradient(rng):
    base = np.zeros((4, 6))
    base[:, 0] = 1.0                 # mostly zeros: ZeroValue stores a compressed copy
    w = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    with stash.use(stash.ZeroValue()):
        loss = F.linear(Tensor(base[:, :3]), w).sum()
        base[...] = 7.0              # allowed: the stash holds its own copy
        loss.backward()
    np.testing.assert_allclose(w.grad, np.tile([4.0, 0.0, 0.0], (2, 1)))


def test_data_assignment_counts_a_version_and_wants_an_array():
    t = Tensor(2.0)
    t.data = t.data * 3              # a NumPy scalar is taken as a 0-d array
    assert isinstance(t.data, np.ndarray) and float(t) == 6.0 and t.version == 1
    with pytest.raises(TypeError, match="Tensor.data: expected a numpy.ndarray, got list"):
        t.data = [1.0]
