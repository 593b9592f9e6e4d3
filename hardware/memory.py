"""HBM traffic of a GEMM tiled against on-chip memory, and the roofline bound of a layer.

Overlap assumption (as in Timeloop and MAESTRO): compute, HBM transfers and the compression
engine run concurrently, so a layer takes the longest of the three.
"""
from __future__ import annotations

import math


def gemm_hbm_bytes(m: int, n: int, groups: int, a_bytes: int, b_bytes: int, c_bytes: int,
                   vmem_bytes: int, itemsize: int) -> int:
    """Bytes moved between HBM and the core by ``groups`` GEMMs ``C[m x n] = A[m x k] B[k x n]``.

    ``a_bytes``, ``b_bytes`` and ``c_bytes`` are the sizes of one GEMM's operands and result as
    stored in HBM (a compressed stash is smaller than ``m * k * itemsize``).  When they fit in
    half of VMEM (the other half double-buffers the next tile), each moves once.  Otherwise the
    GEMM is blocked into square ``t x t`` output tiles with ``3 t^2`` elements in half of VMEM:
    ``A`` is re-read once per column tile and ``B`` once per row tile,
    ``A * ceil(n/t) + B * ceil(m/t) + C``.
    """
    budget = vmem_bytes // 2
    if a_bytes + b_bytes + c_bytes <= budget:
        return groups * (a_bytes + b_bytes + c_bytes)
    t = max(1, math.isqrt(budget // (3 * itemsize)))
    return groups * (a_bytes * math.ceil(n / t) + b_bytes * math.ceil(m / t) + c_bytes)


def bound(compute_cycles: float, hbm_cycles: float, engine_cycles: float) -> tuple[float, str]:
    """The layer's cycles and what bounds it."""
    parts = {"compute": compute_cycles, "hbm": hbm_cycles, "engine": engine_cycles}
    which = max(parts, key=parts.get)
    return parts[which], which
