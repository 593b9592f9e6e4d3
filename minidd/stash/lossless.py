"""Lossless stash reductions: which ops keep a smaller but exact form of what backward reads.

Every policy takes ``lossless=`` (default ``"none"``).  It names the ops that, while the policy
is active, save a compact exact form instead of the textbook one:

``layer_norm``
    keeps its output ``y`` (which the next layer keeps anyway) instead of the normalised input,
    and recovers ``xhat = (y - beta) / gamma`` in backward.  A feature whose ``gamma`` is zero,
    or so small next to ``beta`` that the division would amplify rounding
    (``|beta_j| > LN_RATIO * |gamma_j|``), keeps its ``xhat`` column instead: the recovered
    ``xhat`` is then within ``2 (|xhat| + LN_RATIO) eps`` of the stored one.
``gelu``
    keeps its output (the next linear layer's input) and one bit per element (which side of
    GELU's minimum the input lies on), and inverts ``y`` in float64
    (:mod:`minidd.functional.gelu_inverse`).  Near the minimum (``x* = -0.75``) the inversion is
    ill-conditioned: there the derivative is off by up to 1.8e-4 in float32 (tanh form; 9e-5
    exact form) and 2e-8 in float64; elsewhere by rounding (1e-6 in float32, as the dense
    backward's own).
``attention``
    fuses softmax, attention dropout and the product with V: the probabilities are kept once,
    the dropout mask as bits, and the dropout output (another T x T array) is not stored.
    Bit-identical to the unfused chain.

``lossless`` is written ``"none"``, ``"all"`` or the op names joined by ``+``
(``"layer_norm+attention"``); ``True``/``False`` and lists of names are accepted too.
"""
from __future__ import annotations

import difflib

LOSSLESS_OPS = ("layer_norm", "gelu", "attention")

#: LayerNorm recovers feature ``j`` from its output only when ``|beta_j| <= LN_RATIO |gamma_j|``.
LN_RATIO = 64.0


def canonical_lossless(value, who: str = "lossless") -> str:
    """The canonical string of a ``lossless=`` value: ``"none"``, ``"all"`` or names joined by
    ``+`` in :data:`LOSSLESS_OPS` order."""
    if value is True:
        return "all"
    if value is False or value is None:
        return "none"
    if isinstance(value, str):
        names = [] if value.strip() in ("none", "") else (
            list(LOSSLESS_OPS) if value.strip() == "all" else [v.strip() for v in value.split("+")])
    elif isinstance(value, (list, tuple, set, frozenset)):
        names = list(value)
    else:
        raise TypeError(f"{who}: lossless must be 'none', 'all', names joined by '+' "
                        f"(from {LOSSLESS_OPS}), a list of them or a bool, got {type(value).__name__}")
    for name in names:
        if name not in LOSSLESS_OPS:
            close = difflib.get_close_matches(str(name), LOSSLESS_OPS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{who}: lossless names an unknown op {name!r}{hint}; "
                             f"expected 'none', 'all' or some of {LOSSLESS_OPS} joined by '+'")
    chosen = [op for op in LOSSLESS_OPS if op in names]
    if len(chosen) == len(LOSSLESS_OPS):
        return "all"
    return "+".join(chosen) or "none"


def lossless_ops(value: str) -> frozenset:
    """The op names a canonical ``lossless`` string turns on."""
    if value == "all":
        return frozenset(LOSSLESS_OPS)
    return frozenset() if value == "none" else frozenset(value.split("+"))
