"""Bad input to the engine (Tensor, ops, modules): each a clear error naming the argument."""
import numpy as np
import pytest

from minidd import Tensor


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
