"""Weight gradients straight from a sparse stash: ``dW = dY^T X`` with X in CSR form.

Rebuilding X densely and calling BLAS costs the full GEMM; scipy's CSR product costs a row
axpy per stored value and skips the rebuild.  Which wins depends on the machine's BLAS: at
density 0.1 (drop 0.9) CSR took 0.67x of BLAS on a loaded machine but 1.24x on a quiet one
with AVX-512 (``benchmarks/bench_stash.py`` section 4, one thread), so that one figure decided
whether deferred dropout cost 5% or 20% of a step.  At density 0.05 it wins on both (0.34x,
0.66x), so CSR is taken only from there down.  Only
*lossy* entries take this path: a lossless stash (ZeroValue, ``drop=0``) keeps gradients
bit-identical to Dense, which a different summation order would not.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .entries import SparseEntry

#: Largest kept fraction that takes the CSR product: where it wins on every machine measured
#: (0.06 admits drop 0.95, whose ceil((1 - drop) n) can be a hair above a twentieth).
MAX_DENSITY = 0.06


def sparse_weight_grad(entry, g2: np.ndarray) -> np.ndarray | None:
    """``g2^T @ X`` (shape (out, in)) from a lossy :class:`SparseEntry` holding X (..., in), or
    ``None`` when the entry is not sparse, not lossy or too dense for CSR to win."""
    if not isinstance(entry, SparseEntry) or not entry.lossy or entry.kept > MAX_DENSITY * entry.numel:
        return None
    cols = entry.shape[-1] if entry.shape else 1
    rows = entry.numel // cols
    idx = entry.indices()
    row, col = np.divmod(idx, cols)
    indptr = np.zeros(rows + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=rows), out=indptr[1:])
    values = entry.decoded_values().astype(entry.dtype, copy=False)  # float16 values widen
    x = sp.csr_matrix((values, col, indptr), shape=(rows, cols))
    # (X^T dY)^T: a row axpy per stored value.  Returned as the transposed (Fortran-ordered)
    # view: a contiguous copy of a 1024x1024 transpose costs more than the product saves.
    return (x.T @ g2).T
