"""Bad input to the engine (Tensor, ops, modules): each a clear error naming the argument."""
import numpy as np
import pytest

from minidd import Tensor, functional as F


@pytest.mark.parametrize("data, exc, match", [
    ("abc", TypeError, r"Tensor: data must be a number, a nested list of numbers or a numeric ndarray, got str 'abc'"),
    (b"ab", TypeError, r"Tensor: data must be .* got bytes"),
    ([[1.0, 2.0], [3.0]], ValueError, r"Tensor: data is a ragged nested list"),
    ([1.0, None], TypeError, r"Tensor: data must be numeric .* got an array of dtype object"),
    (np.array([1, "a"], dtype=object), TypeError, r"Tensor: data must be numeric .* dtype object"),
    (np.array(["x", "y"]), TypeError, r"Tensor: data must be numeric .* dtype <U1"),
    (np.array([1 + 2j]), TypeError, r"Tensor: data must be numeric .* dtype complex128"),
    ({"a": 1}, TypeError, r"Tensor: data must be numeric .* dtype object"),
])
def test_non_numeric_data_is_refused_at_construction(data, exc, match):
    with pytest.raises(exc, match=match):
        Tensor(data)


def test_unknown_dtype_is_named():
    with pytest.raises(TypeError, match=r"Tensor: dtype 'foo' is not a NumPy dtype"):
        Tensor([1.0], dtype="foo")


@pytest.mark.parametrize("call, exc, match", [
    (lambda: F.clamp(Tensor([1.0]), 2.0, 1.0), ValueError, r"clamp: min 2.0 is greater than max 1.0"),
    (lambda: F.clamp(Tensor([1.0])), ValueError, r"clamp: give min, max or both"),
    (lambda: F.clamp(Tensor([1.0]), min="0"), TypeError, r"clamp: min must be a real number"),
    (lambda: F.where(np.array([1, 0]), Tensor([1.0, 2.0]), 0.0), TypeError, r"where: cond must be boolean"),
    (lambda: F.where(np.ones(3, bool), Tensor([1.0, 2.0]), 0.0), ValueError, r"where: incompatible shapes: cond of shape \(3,\)"),
    (lambda: Tensor([1.0]) ** "2", TypeError, r"pow: exponent p must be a real number, a Tensor or an ndarray"),
    (lambda: F.squeeze(Tensor(np.ones((2, 1))), 0), ValueError, r"squeeze: axis 0 of a tensor of shape \(2, 1\) has length 2"),
    (lambda: F.unsqueeze(Tensor(np.ones(2)), 3), ValueError, r"unsqueeze: axis 3 is out of range"),
    (lambda: F.flatten(Tensor(np.ones((2, 3, 4))), 2, 1), ValueError, r"flatten: start_axis 2 comes after end_axis 1"),
    (lambda: F.argmax(Tensor(np.ones(3)), axis=(0,)), TypeError, r"argmax: axis must be an int or None"),
    (lambda: F.matmul(Tensor(np.ones(3)), Tensor(np.ones(4))), ValueError, r"matmul: a of shape \(3,\) and b of shape \(4,\) do not chain"),
    (lambda: F.matmul(Tensor(2.0), Tensor(np.ones(4))), ValueError, r"matmul: a of shape \(\) .* at least 1 dim"),
    (lambda: F.mse_loss(Tensor(np.ones(3)), Tensor(np.ones(4))), ValueError, r"mse_loss: input of shape \(3,\) and target of shape \(4,\)"),
    (lambda: F.mse_loss(Tensor(np.ones(3)), np.ones(3), reduction="avg"), ValueError, r"mse_loss: reduction must be one of"),
    (lambda: F.binary_cross_entropy_with_logits(Tensor(np.ones(3)), np.ones((3, 1))), ValueError, r"binary_cross_entropy_with_logits: logits of shape \(3,\) and target"),
    (lambda: F.cross_entropy(Tensor(np.ones((2, 3))), np.array([0, 1]), label_smoothing=1.5), ValueError, r"label_smoothing must be a number in \[0, 1\]"),
    (lambda: F.cross_entropy(Tensor(np.ones((2, 3))), np.array([-1, 1])), ValueError, r"labels must be in \[0, 3\) or equal to ignore_index \(-100\)"),
    (lambda: F.cross_entropy(Tensor(np.ones(3)), np.array([0])), ValueError, r"cross_entropy: logits must be \(N, C\)"),
    (lambda: F.nll_loss(Tensor(np.ones((2, 3))), np.array([0.0, 1.0])), ValueError, r"nll_loss: labels must be integers of shape \(2,\)"),
])
def test_new_ops_refuse_bad_arguments_by_name(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("call, exc, match", [
    (lambda: Tensor([1.0]) + "a", TypeError, r"add: the other operand must be a number, a numeric array or a Tensor, got str 'a'"),
    (lambda: Tensor([1.0]) * None, TypeError, r"mul: the other operand must be"),
    (lambda: F.reshape(Tensor(np.ones(4)), "a"), TypeError, r"reshape: shape must be an int or a tuple of ints, got 'a'"),
    (lambda: Tensor(np.ones(4)).reshape(2.5, 2), TypeError, r"reshape: shape must be an int or a tuple of ints"),
    (lambda: Tensor(np.ones((2, 3))).transpose(0, 5), ValueError, r"transpose: axes \(0, 5\) are not a permutation"),
    (lambda: F.sum(Tensor(np.ones(3)), axis="a"), TypeError, r"sum: axis must be None, an int or a tuple of ints"),
    (lambda: F.pad(Tensor(np.ones(3)), "a"), ValueError, r"pad: pad_width must be non-negative, one \(before, after\) pair per axis"),
    (lambda: F.pad(Tensor(np.ones(3)), 1.5), ValueError, r"pad: pad_width must be"),
    (lambda: Tensor([1.0], requires_grad=True).backward("x"), TypeError, r"backward: grad must be an array of numbers of shape \(1,\), got str"),
    (lambda: list(Tensor(1.0)), TypeError, r"iteration over a 0-d tensor"),
    (lambda: len(Tensor(1.0)), TypeError, r"len\(\) of a 0-d tensor"),
    (lambda: Tensor(np.array([1, 2]), requires_grad=True), TypeError, r"Tensor: only floating-point tensors can require grad, got dtype int64"),
])
def test_engine_api_refuses_bad_arguments_by_name(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
