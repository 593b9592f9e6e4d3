"""The causal character language model on the e-mail bodies, trained and scored in bits/char.

Training draws windows of ``context + 1`` symbols at uniformly random offsets of the fit stream
(the training e-mails less the validation slice, :func:`minidd.data.chars.load_char_streams`);
the loss is the mean next-symbol cross-entropy over every position of a window.  Held-out text
is scored on fixed, non-overlapping windows (the first ``eval_windows`` of a stream): the
validation stream (a slice of the *training* e-mails) every ``eval_every`` steps, for every
tuning decision, and the test stream once at the end, for the comparison only.

:func:`pretrain` trains one model from a dict of hyperparameters (the ``charlm`` recipe's, see
:mod:`minidd.study.recipes`).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import functional as F, stash
from ..autograd import no_grad
from ..data.chars import load_char_streams
from ..nn import CharLM
from ..optim import AdamW, warmup_cosine
from ..train import fit
from .freeze import freeze

#: Hyperparameters :func:`pretrain` reads (the ``charlm`` recipe gives every one of them).
HYPERPARAMETERS = ("vocab_size", "context", "dim", "heads", "layers", "ff_dim", "dropout", "batch_size",
                   "steps", "lr", "weight_decay", "warmup_steps", "eval_every", "eval_windows", "freeze")


@functools.lru_cache(maxsize=2)
def _streams(vocab_size: int):
    return load_char_streams(seed=0, vocab_size=vocab_size)


def windows(stream: np.ndarray, starts: np.ndarray, context: int) -> np.ndarray:
    """The windows ``stream[s : s + context + 1]`` for each offset ``s`` (rows of a (B, context+1) array)."""
    return stream[np.asarray(starts)[:, None] + np.arange(context + 1)]


def lm_loss(model, win):
    """Mean next-symbol cross-entropy (nats) of windows ``win`` (B, T+1)."""
    logits = model(win[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), win[:, 1:].reshape(-1))


def evaluate_lm(model, stream: np.ndarray, context: int, n_windows: int, batch_size: int = 64) -> dict:
    """``bits_per_char`` (mean next-symbol cross-entropy in bits) and next-symbol ``accuracy``
    over the first ``n_windows`` non-overlapping windows of ``stream`` (each position predicted
    from the window's earlier symbols), in eval mode, without a graph."""
    n = min(n_windows, (len(stream) - 1) // context)
    if n < 1:
        raise ValueError(f"evaluate_lm: the stream ({len(stream)} symbols) is shorter than one window")
    starts = np.arange(n) * context
    was = model.training
    model.eval()
    nats, correct = 0.0, 0
    try:
        with no_grad():
            for i in range(0, n, batch_size):
                win = windows(stream, starts[i:i + batch_size], context)
                logits = model(win[:, :-1])
                flat = logits.reshape(-1, logits.shape[-1])
                nats += float(F.cross_entropy(flat, win[:, 1:].reshape(-1)).data) * len(win)
                correct += int((flat.data.argmax(1) == win[:, 1:].reshape(-1)).sum())
    finally:
        model.train(was)
    return {"bits_per_char": nats / n / math.log(2.0), "accuracy": correct / (n * context)}


def pretrain(hp: dict, policy: stash.StashPolicy, seed: int, train_limit: int | None = None,
             progress: bool = False):
    """Train a :class:`~minidd.nn.CharLM` with hyperparameters ``hp`` (every key of
    :data:`HYPERPARAMETERS`) under ``policy``; ``freeze`` freezes layers at their initial values
    (:func:`minidd.study.freeze.freeze`: the floor controls).

    Returns ``(model, history, probe, metrics)``: fit's history with ``curve`` (validation
    ``val_bits_per_char`` every ``eval_every`` steps and at the end); ``probe(model)`` builds the
    loss of one fixed training batch; ``metrics`` the final validation and test bits/char, test loss (nats) and next-symbol accuracy.
    ``train_limit`` keeps the first N symbols of each stream (for tests).
    """
    missing = [k for k in HYPERPARAMETERS if k not in hp]
    if missing:
        raise ValueError(f"pretrain: hp is missing {missing}")
    fit_s, val_s, test_s, tok = _streams(hp["vocab_size"])
    if train_limit:
        fit_s, val_s, test_s = (s[:train_limit] for s in (fit_s, val_s, test_s))
    ctx, n_eval = hp["context"], hp["eval_windows"]
    rng = np.random.default_rng(seed)
    model = CharLM(len(tok), ctx, hp["dim"], hp["heads"], hp["layers"], hp["ff_dim"], hp["dropout"], rng=rng)
    frozen = freeze(model, hp["freeze"])
    opt = AdamW([p for p in model.parameters() if p.requires_grad], lr=hp["lr"], weight_decay=hp["weight_decay"],
                lr_schedule=warmup_cosine(hp["warmup_steps"], hp["steps"]))
    starts = np.arange(len(fit_s) - ctx)
    history = fit(model, (starts,), optimizer=opt, steps=hp["steps"], batch_size=hp["batch_size"], rng=rng,
                  policy=policy, loss_fn=lambda m, batch, r: lm_loss(m, windows(fit_s, batch[0], ctx)),
                  eval_fn=lambda m: {"val_bits_per_char": evaluate_lm(m, val_s, ctx, n_eval)["bits_per_char"]},
                  eval_every=hp["eval_every"], progress=progress, desc=f"charlm {policy.name}")
    history["frozen"] = frozen
    probe_win = windows(fit_s, starts[:hp["batch_size"]], ctx)
    test = evaluate_lm(model, test_s, ctx, n_eval)
    metrics = {"val_bits_per_char": history["curve"][-1]["val_bits_per_char"],
               "test_bits_per_char": test["bits_per_char"], "test_loss": test["bits_per_char"] * math.log(2.0),
               "test_accuracy": test["accuracy"]}
    return model, history, lambda m: lm_loss(m, probe_win), metrics
