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
    if rows == 1:
        mask = np.zeros(scores.shape, np.bool_)
        mask[0, topk_indices(scores[0], k, layer)] = True
        return mask
    thr = _kth_largest_rows(scores, k, layer)
    mask = scores >= positive(thr)[:, None]
    excess = np.count_nonzero(mask, axis=1) - k
    tied_rows = np.flatnonzero(excess > 0)
    if tied_rows.size:  # more than k at or above the threshold: drop the last tied ones
        tied = scores[tied_rows] == thr[tied_rows, None]
        rank_from_end = np.cumsum(tied[:, ::-1], axis=1)[:, ::-1]
        drop = tied & (rank_from_end <= excess[tied_rows, None])
        mask[tied_rows] &= ~drop
    return mask


#: Smallest deterministic sample that brackets the threshold of a large exact top-k.
BRACKET_SAMPLE = 4096


def topk_indices(mag: np.ndarray, k: int, layer: str) -> np.ndarray:
    """Sorted flat indices of the ``k`` largest non-zeros of a flat non-negative array (all of
    its non-zeros when it has fewer); ties at the threshold go to the lowest indices.

    Exact.  On a large array a strided sample brackets the ``k``-th largest value between
    ``lo`` and ``hi``; the candidates (entries at or above ``lo``, about 11% of the array at
    drop 0.9) are extracted once, and ``np.partition`` runs only on those between ``lo`` and
    ``hi`` (about 2%).  When a bound misses, the selection falls back to partitioning every
    non-zero.  Zeros are always left out: besides never being kept, many equal values can make
    ``np.partition`` crawl (40 ms instead of 0.4 ms on a 128x1024 ReLU output).
    """
    found = _bracket(mag, k)
    if found is None:
        nonzero = mag != 0  # NaN included; np.flatnonzero is 30x faster on a bool array
        cand_idx = None if np.count_nonzero(nonzero) == mag.size else np.flatnonzero(nonzero)
        del nonzero
        cand = mag if cand_idx is None else mag[cand_idx]
        band, need = cand, k
    else:
        cand_idx, cand, band, need = found
    c = cand.size
    if c <= k:
        if np.isnan(cand).any():
            raise nan_error(layer)
        sel = np.arange(c)
    else:
        part = np.partition(band, band.size - need)
        if np.isnan(part[band.size - need:]).any():  # partition sorts NaN above every number
            raise nan_error(layer)
        thr = part[band.size - need]
        del part, band
        sel = np.flatnonzero(cand >= thr)
        excess = sel.size - k
        if excess > 0:  # ties at the threshold: drop the last ones
            sel = np.delete(sel, np.flatnonzero(cand[sel] == thr)[-excess:])
    return sel if cand_idx is None else cand_idx[sel]


def _bracket(mag: np.ndarray, k: int):
    """Bracket the ``k``-th largest of ``mag`` from a strided sample (6 sigma either side).

    Returns ``(cand_idx, cand, band, need)``: the flat indices and values of the entries not
    below ``lo`` (NaN included), the candidates not above ``hi`` (where the threshold is) and
    how many of the band to keep; ``None`` when not worth it or when a bound misses.
    """
    n = mag.size
    if n < 16 * BRACKET_SAMPLE or 2 * k > n:
        return None
    sample = mag[::(n // max(BRACKET_SAMPLE, n // 64)) | 1]  # odd stride: no alignment with rows
    s, p = sample.size, k / n
    margin = 6 * math.sqrt(p * (1 - p) * s)
    j_lo, j_hi = min(s, math.ceil(p * s + margin) + 1), max(1, math.floor(p * s - margin))
    if j_hi >= j_lo:
        return None
    part = np.partition(sample, (s - j_lo, s - j_hi))
    lo, hi = part[s - j_lo], part[s - j_hi]
    if not lo > 0:  # zeros (or NaN) at the bound: leave it to the non-zero path
        return None
    cand = np.less(mag, lo)
    np.logical_not(cand, out=cand)  # not (x < lo): keeps NaN among the candidates
    if np.count_nonzero(cand) < k:
        return None
    cand_idx = np.flatnonzero(cand)
    del cand
    values = mag[cand_idx]
    in_band = np.greater(values, hi)
    above = int(np.count_nonzero(in_band))
    if above >= k:
        return None
    np.logical_not(in_band, out=in_band)  # not (x > hi): NaN stays in the band
    return cand_idx, values, values[np.flatnonzero(in_band)], k - above


def _kth_largest_rows(scores: np.ndarray, k: int, layer: str) -> np.ndarray:
    """:func:`_kth_largest` of every row; zeros get distinct negative keys instead of being left
    out (rows keep a common length), which keeps them below every threshold."""
    cols = scores.shape[1]
    zeros = scores == 0
    keys = scores - zeros * np.arange(1, cols + 1, dtype=scores.dtype) if zeros.any() else scores
    del zeros
    part = np.partition(keys, cols - k, axis=1)
    if np.isnan(part[:, cols - k:]).any():
        raise nan_error(layer)
    return part[:, cols - k]


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


def _safe(score, view: np.ndarray) -> np.ndarray:
    """``score(view)`` in a precision where squares neither overflow nor underflow: float32 for
    float16 input (whose squares and their sums fit it), float64 when float32 overflows."""
    if view.dtype.itemsize < 4:
        view = view.astype(np.float32)
    with np.errstate(over="ignore"):  # an overflow is caught below and redone in float64
        scores = score(view)
    if view.dtype == np.float32 and np.isinf(scores).any() and np.isfinite(view).all():
        scores = score(view.astype(np.float64))
    return scores


def row_scores(view: np.ndarray) -> np.ndarray:
    """Squared L2 norm of every row of the 2-D view (ranks like the norm), in a safe precision."""
    return _safe(lambda v: np.einsum("ij,ij->i", v, v), view)


def block_scores(view: np.ndarray, block: int) -> np.ndarray:
    """Squared L2 norm of every block of ``block`` rows in every column: (ceil(R/block), C),
    in a safe precision."""
    starts = np.arange(0, view.shape[0], block)
    return _safe(lambda v: np.add.reduceat(np.square(v), starts, axis=0), view)


def expand_blocks(block_mask: np.ndarray, block: int, rows: int) -> np.ndarray:
    """The (rows, C) element mask of a (ceil(rows/block), C) block mask."""
    return block_mask[np.arange(rows) // block]  # never more than rows x C, whatever block is


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
    if m <= 16:  # rank by pairwise comparisons (m^2 vector compares beat a float sort)
        rank = np.zeros(mag.shape, np.uint8)
        for j in range(m):
            beats = mag[:, j:j + 1] > mag  # element j outranks every smaller one ...
            beats[:, j + 1:] |= mag[:, j:j + 1] == mag[:, j + 1:]  # ... and later equal ones
            rank += beats
        order = _kept_positions(rank < n, n)
    else:
        order = np.argsort(-mag, axis=1, kind="stable")[:, :n]
        order.sort(axis=1)
    return np.take_along_axis(grouped, order, axis=1), order.astype(np.uint8)


def _kept_positions(keep: np.ndarray, n: int) -> np.ndarray:
    """(groups, n, C) positions, ascending, of the ``n`` set entries of every (group, column) of
    a (groups, m, C) mask: the (s+1)-th kept one sits after the positions holding fewer than
    s+1 kept ones so far (vector ops along the small axis; argsort there is slow)."""
    counts = np.zeros((keep.shape[0], keep.shape[2]), np.uint8)
    cum = []
    for j in range(keep.shape[1]):
        counts = counts + keep[:, j]
        cum.append(counts)
    order = np.zeros((keep.shape[0], n, keep.shape[2]), np.uint8)
    for s in range(n):
        for c in cum:
            order[:, s] += c <= s
    return order


def index_bits(m: int) -> int:
    """Bits of one position within a group of ``m``."""
    return max(1, (m - 1).bit_length())


def pack_small_ints(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned ints below ``2**bits`` into ``bits`` bits each (little-endian bit order)."""
    flat = values.reshape(-1).astype(np.uint8)
    if 8 % bits == 0:  # whole values per byte: shift and add, no bit planes
        per = 8 // bits
        padded = np.zeros(-(-flat.size // per) * per, np.uint8)
        padded[:flat.size] = flat
        lanes = padded.reshape(-1, per)
        out = lanes[:, 0].copy()
        for i in range(1, per):
            out |= lanes[:, i] << np.uint8(bits * i)
        return out
    planes = (flat[:, None] >> np.arange(bits, dtype=np.uint8)) & np.uint8(1)
    return np.packbits(planes.reshape(-1), bitorder="little")


def unpack_small_ints(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_small_ints` for ``count`` values."""
    if 8 % bits == 0:
        shifts = np.arange(0, 8, bits, dtype=np.uint8)
        return ((packed[:, None] >> shifts) & np.uint8((1 << bits) - 1)).reshape(-1)[:count]
    planes = np.unpackbits(packed, count=count * bits, bitorder="little").reshape(count, bits)
    return (planes << np.arange(bits, dtype=np.uint8)).sum(axis=1, dtype=np.uint8)


def nan_error(layer):
    return FloatingPointError(
        f"DeferredDropout: the weight-gradient input of layer {layer!r} contains NaN, so its "
        "largest magnitudes are undefined; training has probably diverged (lower the learning "
        "rate), or use ZeroValue/Dense, which store NaN losslessly")
