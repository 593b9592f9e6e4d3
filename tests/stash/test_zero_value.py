"""ZeroValue: the lossless zero-compression baseline."""
import numpy as np
import pytest

from minidd import stash
from minidd.stash import WEIGHT_GRAD_INPUT, EXACT, INDEX


def _roundtrip(arr, role=EXACT):
    with stash.use(stash.ZeroValue()):
        entry = stash.save(arr, role, "test")
        try:
            return entry, entry.unpack().copy()
        finally:
            stash.release(entry)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9, 0.999, 1.0])
def test_roundtrip_is_exact_for_any_sparsity_and_float_dtype(dtype, sparsity, rng):
    arr = rng.standard_normal((37, 29)).astype(dtype)
    arr[rng.random(arr.shape) < sparsity] = 0
    entry, back = _roundtrip(arr)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    assert np.array_equal(back, arr)
    assert entry.nonzero == np.count_nonzero(arr)
    assert entry.nbytes <= arr.nbytes + 8 + 8 * arr.ndim  # never worse than dense


def test_all_zeros_is_tiny_and_no_zeros_stays_dense(rng):
    zeros = np.zeros((64, 64), np.float32)
    entry, back = _roundtrip(zeros)
    assert np.array_equal(back, zeros) and entry.kind == "bitmap"
    assert entry.nbytes == 64 * 64 // 8 + 8 + 16
    full = rng.standard_normal((64, 64)).astype(np.float32) + 10
    entry, back = _roundtrip(full)
    assert entry.kind == "dense" and np.array_equal(back, full)


@pytest.mark.parametrize("shape", [(0,), (0, 5), (3, 0, 2)])
def test_empty_arrays(shape):
    arr = np.zeros(shape, np.float32)
    _, back = _roundtrip(arr)
    assert back.shape == shape


def test_nan_and_inf_roundtrip_losslessly():
    arr = np.array([0.0, np.nan, np.inf, -np.inf, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], np.float32)
    _, back = _roundtrip(arr, WEIGHT_GRAD_INPUT)
    assert np.array_equal(back, arr, equal_nan=True)


def test_masks_are_bit_packed_and_indices_kept(rng):
    mask = rng.random((100, 33)) > 0.5
    entry, back = _roundtrip(mask, INDEX)
    assert entry.kind == "bitmask" and entry.nbytes < mask.nbytes / 7
    assert np.array_equal(back, mask)
    idx = rng.integers(0, 9, 50).astype(np.uint8)
    entry, back = _roundtrip(idx, INDEX)
    assert np.array_equal(back, idx)


def test_reports_natural_sparsity_of_relu_output(rng):
    relu = np.maximum(rng.standard_normal((128, 256)).astype(np.float32), 0)
    entry, _ = _roundtrip(relu, WEIGHT_GRAD_INPUT)
    frac_zero = 1 - entry.nonzero / entry.numel
    assert abs(frac_zero - 0.5) < 0.02
    assert 1.8 < entry.dense_nbytes / entry.nbytes < 2.0  # bitmap + half the values


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("negative_zeros", [1, 40, 500])
def test_negative_zero_keeps_its_sign_bit(dtype, negative_zeros, rng):
    arr = rng.standard_normal(2000).astype(dtype)
    arr[rng.random(arr.shape) < 0.7] = 0
    arr[rng.choice(arr.size, negative_zeros, replace=False)] = -0.0
    entry, back = _roundtrip(arr)
    assert entry.kind == "bitmap"
    bits = f"u{arr.dtype.itemsize}"
    assert np.array_equal(back.view(bits), arr.view(bits))  # bit-exact, -0.0 included
    assert entry.nonzero == np.count_nonzero(arr)
    sign_bytes = entry.nbytes - (arr.size + 7) // 8 - entry.kept * arr.dtype.itemsize - 16
    assert sign_bytes == min(negative_zeros * 2, (arr.size + 7) // 8)  # indices (uint16) or a bitmap


def test_relu_outputs_carry_no_negative_zeros(rng):
    from minidd import Tensor, functional as F
    out = F.relu(Tensor(np.array([-1.0, -0.0, 0.0, 2.0], np.float32))).data
    assert not np.signbit(out).any()
