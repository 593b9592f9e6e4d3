"""Multi-head self-attention and the Transformer encoder block (BERT-style)."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..stash.store import uses_lossless
from .layers import GELU, Dropout, LayerNorm, Linear
from .module import Module


def attention_mask(mask, t: int, causal: bool):
    """The boolean (B or 1, 1, T, T) mask of who attends to whom (True = attends), or ``None``
    for no mask: the keys' padding ``mask`` (B, T) and, if ``causal``, no key after the query.
    A constant of booleans, never a float activation."""
    if not isinstance(causal, bool):
        raise TypeError(f"attention: causal must be a bool, got {type(causal).__name__}")
    keep = None
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2 or mask.shape[1] != t:
            raise ValueError(f"attention: mask must be (B, {t}) booleans, got shape {mask.shape}")
        keep = mask[:, None, None, :]
    if causal:
        tri = np.tri(t, dtype=bool)[None, None]
        keep = tri if keep is None else keep & tri
    return keep


class MultiHeadSelfAttention(Module):
    """Self-attention with ``heads`` heads.  Q, K and V are three projections of one input: the
    stash keeps that input once and all three weight gradients read it."""

    def __init__(self, dim, heads, *, rng, dropout=0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"MultiHeadSelfAttention: dim {dim} is not divisible by heads {heads}")
        self.q = Linear(dim, dim, rng=rng)
        self.k = Linear(dim, dim, rng=rng)
        self.v = Linear(dim, dim, rng=rng)
        self.out = Linear(dim, dim, rng=rng)
        self.drop = Dropout(dropout, rng=rng)
        self.dim, self.heads = dim, heads

    def forward(self, x, mask=None, causal=False):
        """``x`` (B, T, D); ``mask`` (B, T) booleans, True for real tokens (padding is ignored);
        ``causal=True``: position i attends to positions <= i only (a language model's mask)."""
        b, t, d = x.shape
        h, dh = self.heads, d // self.heads

        def split(y):  # (B, T, D) -> (B, H, T, dh)
            return y.reshape(b, t, h, dh).transpose(0, 2, 1, 3)

        # the 1/sqrt(dh) scale goes on q, (T, dh) per head, not on the (T, T) scores
        q = split(self.q(x) * (1.0 / math.sqrt(dh)))
        k, v = split(self.k(x)), split(self.v(x))
        scores = F.attention_scores(q, k.transpose(0, 1, 3, 2))
        keep = attention_mask(mask, t, causal)
        if uses_lossless("attention"):  # probabilities once, mask as bits (bit-identical)
            ctx = F.attention_context(scores, v, self.drop.p, self.drop.rng, self.drop.training, mask=keep)
        else:
            ctx = F.matmul(self.drop(F.softmax(scores, axis=-1, mask=keep)), v)
        ctx = ctx.transpose(0, 2, 1, 3).reshape(b, t, d)
        return self.out(ctx)


class TransformerEncoderBlock(Module):
    """Attention and a GELU feed-forward network, each in a residual branch with LayerNorm.

    Post-LN as in BERT (``x = LN(x + f(x))``) by default; ``pre_ln=True`` gives
    ``x = x + f(LN(x))``.
    """

    def __init__(self, dim, heads, ff_dim, *, rng, dropout=0.0, pre_ln=False):
        super().__init__()
        self.attn = MultiHeadSelfAttention(dim, heads, rng=rng, dropout=dropout)
        self.ln1 = LayerNorm(dim)
        self.ff1 = Linear(dim, ff_dim, rng=rng)
        self.act = GELU()
        self.ff2 = Linear(ff_dim, dim, rng=rng)
        self.ln2 = LayerNorm(dim)
        self.drop1 = Dropout(dropout, rng=rng)
        self.drop2 = Dropout(dropout, rng=rng)
        self.pre_ln = pre_ln

    def forward(self, x, mask=None, causal=False):
        """``x`` (B, T, D); ``mask`` and ``causal`` as :meth:`MultiHeadSelfAttention.forward`'s."""
        if self.pre_ln:
            x = x + self.drop1(self.attn(self.ln1(x), mask, causal))
            return x + self.drop2(self.ff2(self.act(self.ff1(self.ln2(x)))))
        x = self.ln1(x + self.drop1(self.attn(x, mask, causal)))
        return self.ln2(x + self.drop2(self.ff2(self.act(self.ff1(x)))))
