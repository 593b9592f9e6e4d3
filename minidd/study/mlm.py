"""Masked-language-model pre-training of the mini-BERT on the e-mail corpus.

BERT's recipe: 15% of the real tokens (never [CLS] or padding) are chosen; of those 80% become
[MASK], 10% a random word and 10% stay as they are; the loss is the cross-entropy of the chosen
positions only.  The output layer is tied to the token embedding (``logits = h E^T + b``), after
BERT's transform (dense, GELU, LayerNorm).  Held-out MLM loss and masked-token accuracy are
measured with a fixed masking (seed 1234), so every run is scored on the same positions: during
training on a validation slice of the *training* e-mails (the last :data:`VAL_FRACTION` of them,
which training never sees; every tuning decision reads it), at the end also on the test
split's bodies (for the comparison only).

:func:`pretrain` trains one model from a dict of hyperparameters (the ``mlm`` recipe's, see
:mod:`minidd.study.recipes`); measuring the trained model is the harness's job (:mod:`minidd.study.measure`).
"""
from __future__ import annotations

import functools

import numpy as np
from .. import _check, functional as F, stash
from ..autograd import no_grad
from ..data.text import CLS, MASK, PAD, SPECIALS, load_spam
from ..nn import GELU, BertEncoder, LayerNorm, Linear, Module, Parameter
from ..optim import AdamW, warmup_cosine
from ..stash.roles import scope
from ..train import fit
from .freeze import touched_weights

EVAL_MASK_SEED = 1234
VAL_FRACTION = 0.1
#: Hyperparameters :func:`pretrain` reads (the ``mlm`` recipe gives every one of them).
HYPERPARAMETERS = ("vocab_size", "max_len", "dim", "heads", "layers", "ff_dim", "pre_ln", "dropout",
                   "mask_rate", "batch_size", "steps", "lr", "weight_decay", "warmup_steps",
                   "encoder_lr_scale", "eval_every")


@functools.lru_cache(maxsize=2)
def _corpus(max_len: int, vocab_size: int):
    """The tokenized e-mail split (cached: a study trains many models on one corpus)."""
    return load_spam(seed=0, max_len=max_len, vocab_size=vocab_size)


def mask_tokens(tokens: np.ndarray, rng: np.random.Generator, rate: float = 0.15, vocab_size: int | None = None):
    """Apply BERT's masking to ``tokens`` (B, T).

    Returns ``(inputs, rows, cols, targets)``: the corrupted tokens and, for every chosen
    position, its batch row, column and original token.  At least one position is chosen.
    """
    _check.number(rate, "mask_tokens: rate", 0, 1, low_open=True, high_open=True, form="in (0, 1)")
    _check.rng(rng, "mask_tokens: rng")
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


class ScaledAdamW(AdamW):
    """AdamW whose step (and decoupled weight decay) is multiplied by ``scales[i]`` for
    parameter ``i``: a learning rate per parameter, one schedule for all."""

    def __init__(self, params, scales, **kwargs):
        super().__init__(params, **kwargs)
        self.scales = [float(s) for s in scales]
        if len(self.scales) != len(self.params) or not all(s > 0 for s in self.scales):
            raise ValueError(f"ScaledAdamW: scales must be {len(self.params)} positive numbers, one per parameter")

    def _update(self, i, p, g, lr):
        super()._update(i, p, g, lr * self.scales[i])


def make_optimizer(model: MaskedLM, hp: dict) -> AdamW:
    """AdamW with linear warm-up and cosine decay to 0 over ``hp["steps"]``; the weights that
    deferred dropout sparsifies get ``lr * encoder_lr_scale`` (the study's lower-rate control)."""
    kwargs = {"lr": hp["lr"], "weight_decay": hp["weight_decay"],
              "lr_schedule": warmup_cosine(hp["warmup_steps"], hp["steps"])}
    if hp["encoder_lr_scale"] == 1.0:
        return AdamW(model.parameters(), **kwargs)
    scaled = set(touched_weights(model))
    named = list(model.named_parameters())
    return ScaledAdamW([p for _, p in named], [hp["encoder_lr_scale"] if n in scaled else 1.0 for n, _ in named],
                       **kwargs)


def pretrain(hp: dict, policy: stash.StashPolicy, seed: int, train_limit: int | None = None,
             progress: bool = False):
    """Pre-train a masked LM with hyperparameters ``hp`` (every key of :data:`HYPERPARAMETERS`)
    under ``policy``.

    The loop is :func:`minidd.train.fit` with the masked-LM loss.  Returns ``(model, history,
    probe, metrics)``: ``history`` is fit's, with ``curve`` (validation ``mlm_loss`` and
    ``masked_accuracy`` every ``eval_every`` steps and at the end) and ``step_loss``;
    ``probe(model)`` builds the loss of one fixed training batch (for measurements); ``metrics``
    the final ``val_loss`` and the test split's ``test_loss`` and ``test_accuracy``.
    """
    missing = [k for k in HYPERPARAMETERS if k not in hp]
    if missing:
        raise ValueError(f"pretrain: hp is missing {missing}")
    steps = hp["steps"]
    _check.positive_int(steps, "pretrain: steps")
    (tr_tok, tr_mask, _), (te_tok, te_mask, _), tok = _corpus(hp["max_len"], hp["vocab_size"])
    n_val = max(16, int(round(VAL_FRACTION * len(tr_tok))))
    if train_limit:   # the first train_limit e-mails to train on, a quarter of that to score
        n_val = max(16, train_limit // 4)
        tr_tok, tr_mask = tr_tok[:train_limit + n_val], tr_mask[:train_limit + n_val]
        te_tok, te_mask = te_tok[:n_val], te_mask[:n_val]
    va_tok, va_mask, tr_tok, tr_mask = tr_tok[-n_val:], tr_mask[-n_val:], tr_tok[:-n_val], tr_mask[:-n_val]
    rng = np.random.default_rng(seed)
    model = MaskedLM(len(tok), hp["max_len"], hp["dim"], hp["heads"], hp["layers"], hp["ff_dim"],
                     hp["dropout"], hp["pre_ln"], rng=rng)
    rate = hp["mask_rate"]
    history = fit(model, (tr_tok, tr_mask), optimizer=make_optimizer(model, hp), steps=steps,
                  batch_size=hp["batch_size"], rng=rng, policy=policy,
                  loss_fn=lambda m, batch, r: mlm_loss(m, *batch, r, rate)[0],
                  eval_fn=lambda m: evaluate_mlm(m, va_tok, va_mask, rate=rate), eval_every=hp["eval_every"],
                  progress=progress, desc=f"mlm {policy.name}")
    probe_tok, probe_mask = tr_tok[:hp["batch_size"]], tr_mask[:hp["batch_size"]]

    def probe(m):
        return mlm_loss(m, probe_tok, probe_mask, np.random.default_rng(0), rate)[0]

    test = evaluate_mlm(model, te_tok, te_mask, rate=rate)
    return model, history, probe, {"val_loss": history["curve"][-1]["mlm_loss"], "test_loss": test["mlm_loss"],
                                   "test_accuracy": test["masked_accuracy"]}
