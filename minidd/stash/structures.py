"""Selection structures: which parts of a weight-gradient input deferred dropout keeps.

Every structure works on the input's **2-D view**, whose rows run along the reduction dimension
of the weight gradient ``dW = X^T dY`` (tokens, positions) and whose columns are features:

* linear (``feature_axis=-1``): ``x.reshape(-1, in_features)``, one row per token;
* convolution over NCHW input (``feature_axis=1``): ``x.transpose(0, 2, 3, 1).reshape(-1, C)``,
  one row per (sample, y, x) position in im2col order, one column per input channel.  Its rows
  are the positions the im2col weight-gradient GEMM reduces over; a block of B rows runs along
  the image rows of one sample and continues into the next sample when ``H*W`` is not a
  multiple of B, exactly as the flattened reduction dimension does.

The structures (option ``structure=``):

``"element"``
    Unstructured top-k of the magnitudes (over the tensor or per row, see ``granularity``).
``"row"``
    Whole rows: the ``ceil((1 - drop) R)`` rows of largest L2 norm.
``"block"``
    Blocks of ``block`` consecutive rows within one column, ranked by their L2 norm over the
    tensor: the ``ceil((1 - drop) * blocks)`` largest are kept.  When ``R`` is not a multiple
    of ``block`` the last block of each column is shorter.
``"nm"``
    In every group of ``m`` consecutive rows within one column, the ``n`` largest magnitudes
    (ties to the lowest index).  The drop rate is ``1 - n/m`` by construction; a final partial
    group counts as padded with zeros.

Units of zero norm (all-zero rows or blocks) are never kept; ties are broken by lowest index.
"""
from __future__ import annotations

import math

import numpy as np

STRUCTURES = ("element", "row", "block", "nm")


def rows_view(array: np.ndarray, feature_axis: int) -> np.ndarray:
    """The 2-D (rows, features) view of a weight-gradient input (a copy for NCHW input)."""
    if feature_axis == -1 or array.ndim < 2:
        return array.reshape(-1, array.shape[-1] if array.ndim else 1)
    moved = np.moveaxis(array, feature_axis, -1)
    return moved.reshape(-1, moved.shape[-1])


def from_rows_view(mat: np.ndarray, shape: tuple, feature_axis: int) -> np.ndarray:
    """Inverse of :func:`rows_view`: an array of ``shape`` (C-contiguous) from its 2-D view."""
    if feature_axis == -1 or len(shape) < 2:
        return mat.reshape(shape)
    moved_shape = tuple(np.delete(shape, feature_axis)) + (shape[feature_axis],)
    return np.ascontiguousarray(np.moveaxis(mat.reshape(moved_shape), -1, feature_axis))


def positive(thr: np.ndarray) -> np.ndarray:
    """Thresholds with 0 replaced by the smallest positive value, so zeros are never kept."""
    tiny = np.nextafter(np.zeros((), thr.dtype), np.ones((), thr.dtype))
    return np.maximum(thr, tiny)


def exact_topk_mask(scores: np.ndarray, k: int, layer: str) -> np.ndarray:
    """Mask of the ``k`` largest entries of each row of ``scores`` (zeros never kept).

    Ties at the threshold are broken by lowest index, so the result is fully determined.
    """
    rows, cols = scores.shape
    kth = cols - k
    part = np.partition(scores, kth, axis=1)
    if np.isnan(part[:, kth:]).any():  # partition sorts NaN above every number
        raise nan_error(layer)
    thr = part[:, kth]
    del part
    mask = scores >= positive(thr)[:, None]
    excess = np.count_nonzero(mask, axis=1) - k
    tied_rows = np.flatnonzero(excess > 0)
    if tied_rows.size:  # more than k at or above the threshold: drop the last tied ones
        tied = scores[tied_rows] == thr[tied_rows, None]
        rank_from_end = np.cumsum(tied[:, ::-1], axis=1)[:, ::-1]
        drop = tied & (rank_from_end <= excess[tied_rows, None])
        mask[tied_rows] &= ~drop
    return mask


def sampled_mask(scores: np.ndarray, k: int, layer: str, rng: np.random.Generator,
                 sample_size: int) -> np.ndarray:
    """Mask of the entries at or above a threshold estimated from ``sample_size`` draws per row."""
    rows, cols = scores.shape
    s = min(sample_size, cols)
    sample = scores[:, rng.integers(0, cols, size=s)]
    kk = min(s - 1, max(0, s - math.ceil(s * k / cols)))
    thr = np.partition(sample, kk, axis=1)[:, kk]
    if np.isnan(thr).any() or np.isnan(scores).any():
        raise nan_error(layer)
    return scores >= positive(thr)[:, None]


def row_scores(view: np.ndarray) -> np.ndarray:
    """Squared L2 norm of every row of the 2-D view (ranks like the norm)."""
    return np.einsum("ij,ij->i", view, view)


def block_scores(view: np.ndarray, block: int) -> np.ndarray:
    """Squared L2 norm of every block of ``block`` rows in every column: (ceil(R/block), C)."""
    return np.add.reduceat(np.square(view), np.arange(0, view.shape[0], block), axis=0)


def expand_blocks(block_mask: np.ndarray, block: int, rows: int) -> np.ndarray:
    """The (rows, C) element mask of a (ceil(rows/block), C) block mask."""
    return np.repeat(block_mask, block, axis=0)[:rows]


def nm_groups(view: np.ndarray, m: int) -> np.ndarray:
    """The 2-D view as (groups, m, C), the last group padded with zeros."""
    rows, cols = view.shape
    groups = -(-rows // m)
    if groups * m != rows:
        padded = np.zeros((groups * m, cols), view.dtype)
        padded[:rows] = view
        view = padded
    return view.reshape(groups, m, cols)


def nm_select(view: np.ndarray, n: int, m: int, layer: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` largest magnitudes of every group of ``m`` rows: (values, positions in group),
    both (groups, n, C), positions ascending within a group (ties to the lowest index)."""
    grouped = nm_groups(view, m)
    mag = np.abs(grouped)
    if np.isnan(mag).any():
        raise nan_error(layer)
    order = np.argsort(-mag, axis=1, kind="stable")[:, :n]
    order.sort(axis=1)
    return np.take_along_axis(grouped, order, axis=1), order.astype(np.uint8)


def index_bits(m: int) -> int:
    """Bits of one position within a group of ``m``."""
    return max(1, (m - 1).bit_length())


def pack_small_ints(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned ints below ``2**bits`` into ``bits`` bits each (little-endian bit order)."""
    flat = values.reshape(-1, 1).astype(np.uint8)
    planes = (flat >> np.arange(bits, dtype=np.uint8)) & np.uint8(1)
    return np.packbits(planes.reshape(-1), bitorder="little")


def unpack_small_ints(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_small_ints` for ``count`` values."""
    planes = np.unpackbits(packed, count=count * bits, bitorder="little").reshape(count, bits)
    return (planes << np.arange(bits, dtype=np.uint8)).sum(axis=1, dtype=np.uint8)


def nan_error(layer):
    return FloatingPointError(
        f"DeferredDropout: the weight-gradient input of layer {layer!r} contains NaN, so its "
        "largest magnitudes are undefined; training has probably diverged (lower the learning "
        "rate), or use ZeroValue/Dense, which store NaN losslessly")
