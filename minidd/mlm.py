"""Masked-language-model pre-training of the mini-BERT on the e-mail corpus.

BERT's recipe: 15% of the real tokens (never [CLS] or padding) are chosen; of those 80% become
[MASK], 10% a random word and 10% stay as they are; the loss is the cross-entropy of the chosen
positions only.  The output layer is tied to the token embedding (``logits = h E^T + b``), after
BERT's transform (dense, GELU, LayerNorm).  Held-out MLM loss and masked-token accuracy are
measured on the test split's bodies with a fixed masking (seed 1234), so every run is scored on
the same positions.
"""
from __future__ import annotations

import math
import time

import numpy as np
from tqdm.auto import tqdm

from . import functional as F, stash
from .autograd import no_grad
from .data.text import CLS, MASK, PAD, SPECIALS, load_spam
from .nn import GELU, BertEncoder, LayerNorm, Linear, Module, Parameter
from .optim import AdamW, warmup_cosine
from .stash.roles import scope

EVAL_MASK_SEED = 1234


def mask_tokens(tokens: np.ndarray, rng: np.random.Generator, rate: float = 0.15, vocab_size: int | None = None):
    """Apply BERT's masking to ``tokens`` (B, T).

    Returns ``(inputs, rows, cols, targets)``: the corrupted tokens and, for every chosen
    position, its batch row, column and original token.  At least one position is chosen.
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 < rate < 1.0:
        raise ValueError(f"mask_tokens: rate must be in (0, 1), got {rate!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"mask_tokens: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        raise ValueError(f"mask_tokens: tokens must be integers of shape (B, T), got {tokens.dtype} {tokens.shape}")
    vocab_size = vocab_size or int(tokens.max()) + 1
    eligible = (tokens != PAD) & (tokens != CLS)
    chosen = eligible & (rng.random(tokens.shape) < rate)
    if not chosen.any() and eligible.any():
        first = np.argwhere(eligible)[0]
        chosen[tuple(first)] = True
    rows, cols = np.nonzero(chosen)
    targets = tokens[rows, cols]
    action = rng.random(rows.size)
    inputs = tokens.copy()
    to_mask = action < 0.8
    to_random = (action >= 0.8) & (action < 0.9)
    inputs[rows[to_mask], cols[to_mask]] = MASK
    inputs[rows[to_random], cols[to_random]] = rng.integers(len(SPECIALS), vocab_size, int(to_random.sum()))
    return inputs, rows, cols, targets


class MaskedLM(Module):
    """A :class:`BertEncoder` with BERT's MLM head, its output layer tied to the token embedding."""

    def __init__(self, vocab_size, max_len=128, dim=64, heads=4, layers=2, ff_dim=256, dropout=0.1,
                 pre_ln=False, *, rng):
        super().__init__()
        self.encoder = BertEncoder(vocab_size, max_len, dim, heads, layers, ff_dim, dropout, pre_ln, rng=rng)
        self.transform = Linear(dim, dim, rng=rng)
        self.act = GELU()
        self.ln = LayerNorm(dim)
        self.out_bias = Parameter(np.zeros(vocab_size))
        self.transform.stash_dense = True

    def forward(self, tokens, mask, rows, cols):
        """Logits (n, vocab) at the chosen positions ``(rows, cols)``."""
        h = self.encoder(tokens, mask)[rows, cols]
        h = self.ln(self.act(self.transform(h)))
        with scope("decoder", keep_dense=True):  # the output layer is the head: dense by default
            return F.linear(h, self.encoder.tok.weight, self.out_bias)


def mlm_loss(model, tokens, mask, rng, rate=0.15):
    inputs, rows, cols, targets = mask_tokens(tokens, rng, rate, model.encoder.vocab_size)
    logits = model(inputs, mask, rows, cols)
    return F.cross_entropy(logits, targets), logits, targets


def evaluate_mlm(model, tokens, mask, batch_size=64, rate=0.15) -> dict:
    """Held-out MLM loss and masked-token accuracy with the fixed evaluation masking."""
    rng = np.random.default_rng(EVAL_MASK_SEED)
    was = model.training
    model.eval()
    total, correct, n = 0.0, 0, 0
    try:
        with no_grad():
            for i in range(0, len(tokens), batch_size):
                loss, logits, targets = mlm_loss(model, tokens[i:i + batch_size], mask[i:i + batch_size], rng, rate)
                total += float(loss.data) * len(targets)
                correct += int((logits.data.argmax(1) == targets).sum())
                n += len(targets)
    finally:
        model.train(was)
    return {"mlm_loss": total / n, "masked_accuracy": correct / n}


def pretrain(policy: stash.StashPolicy, seed: int, steps: int = 600, batch_size: int = 32,
             max_len: int = 128, dim: int = 64, layers: int = 2, lr: float = 1e-3,
             eval_every: int | None = None, train_limit: int | None = None, progress: bool = False,
             vocab_size: int = 8000, pre_ln: bool = False, dropout: float = 0.1) -> dict:
    """Pre-train a masked LM for ``steps`` under ``policy``; returns its curve and final scores."""
    from .recipes import measure
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"pretrain: steps must be a positive int, got {steps!r}")
    (tr_tok, tr_mask, _), (te_tok, te_mask, _), tok = load_spam(seed=0, max_len=max_len, vocab_size=vocab_size)
    if train_limit:
        tr_tok, tr_mask = tr_tok[:train_limit], tr_mask[:train_limit]
        te_tok, te_mask = te_tok[:max(16, train_limit // 4)], te_mask[:max(16, train_limit // 4)]
    rng = np.random.default_rng(seed)
    model = MaskedLM(len(tok), max_len, dim, 4, layers, 4 * dim, dropout, pre_ln, rng=rng)
    opt = AdamW(model.parameters(), lr=lr, weight_decay=0.01, lr_schedule=warmup_cosine(steps // 10, steps))
    eval_every = eval_every or max(1, steps // 4)
    curve, train_losses, t0 = [], [], time.perf_counter()
    order = rng.permutation(len(tr_tok))
    pos = 0
    with stash.use(policy):
        for step in tqdm(range(steps), desc=f"mlm {policy.name}", disable=not progress, leave=False):
            if pos + batch_size > len(order):
                order, pos = rng.permutation(len(tr_tok)), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            policy.set_step(step)
            loss, _, _ = mlm_loss(model, tr_tok[idx], tr_mask[idx], rng)
            value = float(loss.data)
            if not math.isfinite(value):
                raise FloatingPointError(f"pretrain: MLM loss is {value} at step {step}")
            opt.zero_grad()
            loss.backward()
            opt.step()
            train_losses.append(value)
            if (step + 1) % eval_every == 0 or step + 1 == steps:
                curve.append({"step": step + 1, **evaluate_mlm(model, te_tok, te_mask)})
    final = curve[-1]
    probe_tok, probe_mask = tr_tok[:batch_size], tr_mask[:batch_size]

    def loss_fn(m):
        return mlm_loss(m, probe_tok, probe_mask, np.random.default_rng(0))[0]

    result = {"model": "mlm", "policy": None, "seed": seed, "steps": steps,
              "history": {"curve": curve, "train_loss": train_losses},
              "mlm_loss": final["mlm_loss"], "test_loss": final["mlm_loss"],
              "test_accuracy": final["masked_accuracy"], "train_seconds": time.perf_counter() - t0}
    result.update(measure(model, loss_fn, batch_size, policy))
    return result
