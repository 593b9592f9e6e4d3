"""Stash entries: the containers a policy packs an array into, and their encoders.

An entry owns everything needed to rebuild the array for backward and knows its exact size:
``nbytes`` is the payload (the NumPy buffers it holds, what ``tracemalloc`` sees) plus a small
descriptor (``META_BYTES``) that a hardware stash would also keep (shape and format).
"""
from __future__ import annotations

import numpy as np

from . import guard
from . import structures as S
from .structures import from_rows_view

#: Bytes of descriptor per entry: 8 per dimension of the shape plus 8 for dtype, format, count.
META_BYTES_PER_DIM = 8
META_BYTES_FIXED = 8

VALUE_DTYPES = ("float32", "float16", "bfloat16")


def meta_bytes(shape) -> int:
    return META_BYTES_FIXED + META_BYTES_PER_DIM * len(shape)


def narrowest_uint(max_value: int) -> np.dtype:
    """Smallest unsigned integer dtype that holds ``max_value``."""
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise ValueError(f"narrowest_uint: {max_value} does not fit in 64 bits")


# ----------------------------------------------------------------------------- value codecs
def to_bfloat16(values: np.ndarray) -> np.ndarray:
    """Round float values to bfloat16, returned as their uint16 bit patterns.

    Round-to-nearest-even on the float32 bit pattern; NaN stays a quiet NaN.
    """
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))) >> np.uint32(16)
    out = rounded.astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():
        out[nan] = ((bits[nan] >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)
    return out


def from_bfloat16(bits: np.ndarray, dtype) -> np.ndarray:
    """Widen bfloat16 bit patterns (uint16) back to ``dtype``."""
    wide = (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return wide if np.dtype(dtype) == np.float32 else wide.astype(dtype)


def encode_values(values: np.ndarray, value_dtype: str) -> np.ndarray:
    if value_dtype == "float32" and values.dtype in (np.float32, np.float64):
        return values  # keep the array's own precision (float64 stays exact for gradient checks)
    if value_dtype == "float16":
        return values.astype(np.float16)
    if value_dtype == "bfloat16":
        return to_bfloat16(values)
    return values


def decode_values(stored: np.ndarray, value_dtype: str, dtype) -> np.ndarray:
    if value_dtype == "bfloat16":
        return from_bfloat16(stored, dtype)
    return stored


# ----------------------------------------------------------------------------- entries
class StashEntry:
    """Base class.  Subclasses set ``kind`` and implement ``unpack`` and ``_payload_nbytes``.

    Bookkeeping filled in by the store: ``layer``, ``role``, ``op`` (the op that saved it),
    ``refs``, ``key``, ``source``.
    Statistics for the ledger: ``numel``, ``dense_nbytes``, ``nonzero`` (natural non-zeros, or
    ``None`` when the policy did not look), ``kept`` (elements stored) and ``target_kept``.
    """

    kind = "?"
    __slots__ = ("shape", "dtype", "numel", "dense_nbytes", "nonzero", "kept", "target_kept",
                 "nbytes", "layer", "role", "op", "refs", "key", "source", "__weakref__")

    def __init__(self, shape, dtype, nonzero=None, kept=None, target_kept=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.numel = int(np.prod(self.shape, dtype=np.int64))
        self.dense_nbytes = self.numel * self.dtype.itemsize
        self.nonzero = nonzero
        self.kept = self.numel if kept is None else kept
        self.target_kept = self.kept if target_kept is None else target_kept
        self.nbytes = self._payload_nbytes() + meta_bytes(self.shape)
        self.layer = self.role = self.op = self.key = self.source = None
        self.refs = 0

    def _payload_nbytes(self) -> int:
        raise NotImplementedError

    def unpack(self) -> np.ndarray:
        raise NotImplementedError

    def drop(self) -> None:
        """Let go of the payload (called once the last op that saved it has run backward)."""

    def keeps(self, array: np.ndarray) -> bool:
        """Whether this entry keeps ``array`` itself by reference (and has pinned it read-only):
        then the node that saved it guards its bases too (:mod:`minidd.stash.guard`)."""
        return False


class DenseEntry(StashEntry):
    """The array itself, by reference, made read-only while it is stashed."""

    kind = "dense"
    __slots__ = ("array", "_flipped")

    def __init__(self, array: np.ndarray, nonzero=None, kept=None, target_kept=None):
        self.array = array
        self._flipped = guard.pin(array)
        super().__init__(array.shape, array.dtype, nonzero, kept, target_kept)

    def _payload_nbytes(self):
        return self.array.nbytes

    def unpack(self):
        return self.array

    def keeps(self, array):
        return self.array is array

    def drop(self):
        guard.unpin(self.array, self._flipped)
        self.array = None


class PackedMaskEntry(StashEntry):
    """A boolean mask packed eight to a byte."""

    kind = "bitmask"
    __slots__ = ("bits",)

    def __init__(self, mask: np.ndarray):
        self.bits = np.packbits(mask.reshape(-1))
        self.bits.flags.writeable = False
        super().__init__(mask.shape, np.bool_)

    def _payload_nbytes(self):
        return self.bits.nbytes

    def unpack(self):
        return np.unpackbits(self.bits, count=self.numel).view(np.bool_).reshape(self.shape)

    def drop(self):
        self.bits = None


class SparseEntry(StashEntry):
    """Stored elements as values plus their positions: a bitmap or flat indices.

    ``positions`` is either a packed bitmap (``np.packbits`` of the keep mask, format
    ``"bitmap"``) or the sorted flat indices in the narrowest unsigned type (``"index"``).
    Values may be stored narrower than the array (float16, or bfloat16 as uint16).
    ``negative_zeros`` (lossless packing only) marks the dropped zeros that were -0.0, as a
    bitmap or flat indices (:func:`negative_zeros`); ``None`` when there are none.  ``lossy``
    says that non-zeros were dropped (deferred dropout), so a backward may use the sparse form
    itself (:mod:`minidd.stash.weight_grad`) instead of the rebuilt array.
    """

    __slots__ = ("positions", "values", "value_dtype", "kind", "negative_zeros", "lossy")

    def __init__(self, shape, dtype, fmt, positions, values, value_dtype="float32",
                 nonzero=None, kept=None, target_kept=None, negative_zeros=None, lossy=False):
        self.kind = fmt
        self.lossy = lossy
        self.positions = positions
        self.values = values
        self.value_dtype = value_dtype
        self.negative_zeros = negative_zeros
        positions.flags.writeable = False
        values.flags.writeable = False
        super().__init__(shape, dtype, nonzero, kept, target_kept)

    def _payload_nbytes(self):
        extra = 0 if self.negative_zeros is None else self.negative_zeros[1].nbytes
        return self.positions.nbytes + self.values.nbytes + extra

    def indices(self) -> np.ndarray:
        """The sorted flat indices of the stored values."""
        if self.kind == "bitmap":
            # flatnonzero on a bool view: 20x faster than on the uint8 that unpackbits returns
            return np.flatnonzero(np.unpackbits(self.positions, count=self.numel).view(np.bool_))
        return self.positions

    def decoded_values(self) -> np.ndarray:
        """The stored values in the array's dtype."""
        return decode_values(self.values, self.value_dtype, self.dtype)

    def unpack(self):
        out = np.zeros(self.numel, dtype=self.dtype)
        out[self.indices()] = self.decoded_values()
        if self.negative_zeros is not None:
            fmt, code = self.negative_zeros
            out[np.flatnonzero(np.unpackbits(code, count=self.numel).view(np.bool_))
                if fmt == "bitmap" else code] = -0.0
        return out.reshape(self.shape)

    def drop(self):
        self.positions = self.values = self.negative_zeros = None


def negative_zeros(flat: np.ndarray) -> tuple[str, np.ndarray] | None:
    """Where a flat float array holds -0.0, as ``("bitmap", packed bits)`` or ``("index", flat
    indices in the narrowest unsigned type)``, whichever is smaller; ``None`` when nowhere."""
    bits = flat.view(f"u{flat.dtype.itemsize}")
    is_neg = bits == bits.dtype.type(1 << (8 * flat.dtype.itemsize - 1))
    count = int(np.count_nonzero(is_neg))
    if count == 0:
        return None
    index_type = narrowest_uint(max(flat.size - 1, 0))
    if count * index_type.itemsize < (flat.size + 7) // 8:
        return "index", np.flatnonzero(is_neg).astype(index_type)
    return "bitmap", np.packbits(is_neg)


def sparse_bytes(numel: int, kept: int, value_itemsize: int) -> tuple[str, int]:
    """The cheaper of bitmap + values and index + values for ``kept`` of ``numel`` elements."""
    bitmap = (numel + 7) // 8 + kept * value_itemsize
    index = kept * (narrowest_uint(max(numel - 1, 0)).itemsize + value_itemsize)
    return ("bitmap", bitmap) if bitmap <= index else ("index", index)


def pack_sparse(array: np.ndarray, mask: np.ndarray | None = None, value_dtype: str = "float32",
                nonzero=None, target_kept=None, fmt=None, negative_zeros=None,
                idx: np.ndarray | None = None, lossy: bool = False) -> SparseEntry:
    """Pack the elements of ``array`` where the flat boolean ``mask`` is set, or at the sorted
    flat indices ``idx`` (give either, or both when both are at hand).

    ``fmt`` forces ``"bitmap"`` or ``"index"``; by default the smaller of the two is used.
    ``negative_zeros`` is passed on to the entry (see :func:`negative_zeros`).
    """
    flat = array.reshape(-1)
    if idx is None:
        idx = np.flatnonzero(mask)
    values = encode_values(flat[idx], value_dtype)
    if fmt is None:
        fmt, _ = sparse_bytes(flat.size, idx.size, values.dtype.itemsize)
    if fmt == "bitmap":
        if mask is None:
            mask = np.zeros(flat.size, np.bool_)
            mask[idx] = True
        positions = np.packbits(mask)
    else:
        positions = idx.astype(narrowest_uint(max(flat.size - 1, 0)))
    return SparseEntry(array.shape, array.dtype, fmt, positions, values, value_dtype,
                       nonzero=nonzero, kept=int(idx.size), target_kept=target_kept,
                       negative_zeros=negative_zeros, lossy=lossy)


# ----------------------------------------------------------------------------- structured entries
class _StructuredEntry(StashEntry):
    """Base of the entries of a structured selection: values plus a structure-specific position
    code, both over the input's 2-D view (see :mod:`minidd.stash.structures`)."""

    __slots__ = ("positions", "values", "value_dtype", "feature_axis", "view_shape")

    def __init__(self, shape, dtype, feature_axis, view_shape, positions, values, value_dtype,
                 nonzero=None, kept=None, target_kept=None):
        self.positions, self.values, self.value_dtype = positions, values, value_dtype
        self.feature_axis, self.view_shape = feature_axis, view_shape
        positions.flags.writeable = False
        values.flags.writeable = False
        super().__init__(shape, dtype, nonzero, kept, target_kept)

    def _payload_nbytes(self):
        return self.positions.nbytes + self.values.nbytes

    def _values(self):
        return decode_values(self.values, self.value_dtype, self.dtype)

    def _finish(self, view):
        return from_rows_view(view, self.shape, self.feature_axis)

    def drop(self):
        self.positions = self.values = None


class RowEntry(_StructuredEntry):
    """Whole rows: the kept row numbers (narrowest unsigned int) and their values (rows x C)."""

    kind = "rows"
    __slots__ = ()

    def unpack(self):
        view = np.zeros(self.view_shape, self.dtype)
        view[self.positions] = self._values().reshape(-1, self.view_shape[1])
        return self._finish(view)


class BlockEntry(_StructuredEntry):
    """Blocks of ``block`` rows in one column: a bitmap with one bit per block and the kept
    blocks' values in row-major order of the 2-D view."""

    kind = "blocks"
    __slots__ = ("block",)

    def __init__(self, *args, block, **kw):
        self.block = block
        super().__init__(*args, **kw)

    def unpack(self):
        rows, cols = self.view_shape
        nblocks = -(-rows // self.block) * cols
        bits = np.unpackbits(self.positions, count=nblocks).view(np.bool_)
        mask = S.expand_blocks(bits.reshape(-1, cols), self.block, rows)
        view = np.zeros(self.view_shape, self.dtype)
        view.reshape(-1)[np.flatnonzero(mask)] = self._values()  # index, not bool: much faster
        return self._finish(view)


class NMEntry(_StructuredEntry):
    """N:M: ``n`` values of every group of ``m`` rows in a column (groups x n x C) and each
    value's position in its group, packed in ``ceil(log2 m)`` bits."""

    kind = "nm"
    __slots__ = ("n", "m")

    def __init__(self, *args, n, m, **kw):
        self.n, self.m = n, m
        super().__init__(*args, **kw)

    def unpack(self):
        rows, cols = self.view_shape
        vals = self._values()
        idx = S.unpack_small_ints(self.positions, S.index_bits(self.m), vals.size)
        groups = np.zeros((vals.shape[0], self.m, cols), self.dtype)
        np.put_along_axis(groups, idx.reshape(vals.shape).astype(np.intp), vals, axis=1)
        return self._finish(groups.reshape(-1, cols)[:rows])


def pack_rows(array, view, row_mask, feature_axis, value_dtype, nonzero, target_kept) -> RowEntry:
    """Pack the rows of the 2-D ``view`` of ``array`` where ``row_mask`` is set."""
    idx = np.flatnonzero(row_mask)
    values = encode_values(np.ascontiguousarray(view[idx]), value_dtype)
    return RowEntry(array.shape, array.dtype, feature_axis, view.shape,
                    idx.astype(narrowest_uint(max(view.shape[0] - 1, 0))), values, value_dtype,
                    nonzero=nonzero, kept=int(values.size), target_kept=target_kept)


def pack_blocks(array, view, block_mask, block, feature_axis, value_dtype, nonzero,
                target_kept) -> BlockEntry:
    """Pack the blocks of the 2-D ``view`` of ``array`` where ``block_mask`` (blocks x C) is set."""
    mask = S.expand_blocks(block_mask, block, view.shape[0])
    values = encode_values(view.reshape(-1)[np.flatnonzero(mask)], value_dtype)
    return BlockEntry(array.shape, array.dtype, feature_axis, view.shape,
                      np.packbits(block_mask.reshape(-1)), values, value_dtype, block=block,
                      nonzero=nonzero, kept=int(values.size), target_kept=target_kept)


def pack_nm(array, view, n, m, layer, feature_axis, value_dtype, nonzero) -> NMEntry:
    """Keep the ``n`` largest magnitudes of every ``m`` rows of each column of ``view``."""
    values, idx = S.nm_select(view, n, m, layer)
    values = encode_values(np.ascontiguousarray(values), value_dtype)
    return NMEntry(array.shape, array.dtype, feature_axis, view.shape,
                   S.pack_small_ints(idx, S.index_bits(m)), values, value_dtype, n=n, m=m,
                   nonzero=nonzero, kept=int(values.size), target_kept=int(values.size))
