"""Training loop: ``fit`` and ``evaluate``, with progress bars, checkpoints and a stash policy.

Data are tuples of arrays sharing their first dimension, the labels last: ``(images, labels)``
or ``(tokens, mask, labels)``.  The model is called as ``model(*inputs)``: float arrays are
wrapped in a :class:`~minidd.Tensor`, integer and boolean arrays (tokens, masks) passed as they are.
"""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np
from tqdm.auto import tqdm

from . import functional as F, stash
from .autograd import Tensor, no_grad
from .data.loader import BatchIterator
from .nn.module import Module, atomic_savez
from .optim import Optimizer, clip_grad_norm


def _inputs(arrays):
    return [Tensor(a) if a.dtype.kind == "f" else a for a in arrays]


def _check_data(data, name):
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        raise ValueError(f"{name} must be a tuple of arrays (inputs..., labels), got {type(data).__name__}")
    n = len(data[-1])
    for i, a in enumerate(data):
        if not isinstance(a, np.ndarray) or len(a) != n:
            raise ValueError(f"{name}[{i}] must be an ndarray with {n} rows (as many as the labels)")
    if data[-1].dtype.kind not in "iu":
        raise ValueError(f"{name}: labels (the last array) must be integers, got {data[-1].dtype}")


def evaluate(model: Module, data, batch_size: int = 256, loss_fn=F.cross_entropy) -> dict:
    """Mean loss and accuracy over ``data`` in eval mode, without a graph."""
    _check_data(data, "evaluate: data")
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    try:
        with no_grad():
            for batch in BatchIterator(data, batch_size, shuffle=False):
                *xs, y = batch
                logits = model(*_inputs(xs))
                total_loss += float(loss_fn(logits, y).data) * len(y)
                correct += int((logits.data.argmax(axis=1) == y).sum())
                n += len(y)
    finally:
        model.train(was_training)
    return {"loss": total_loss / n, "accuracy": correct / n}


def fit(model: Module, train_data, *, optimizer: Optimizer, epochs: int, batch_size: int,
        rng: np.random.Generator, policy: stash.StashPolicy | None = None, test_data=None,
        loss_fn=F.cross_entropy, clip_norm: float | None = None, checkpoint: str | None = None,
        resume: bool = False, progress: bool = True, desc: str = "train") -> dict:
    """Train ``model`` for ``epochs`` and return the history as plain data.

    ``policy`` (default :class:`~minidd.stash.Dense`) stashes activations; its ``set_step`` is
    called with the global step.  With ``checkpoint`` a path, model, optimizer, generator state
    and history are written atomically after every epoch; ``resume=True`` continues from it and
    gives the same result as an uninterrupted run.  A NaN or Inf loss raises
    ``FloatingPointError`` naming the step; the last checkpoint stays as it was.

    History: per epoch ``train_loss``, ``train_accuracy``, ``test_loss``, ``test_accuracy``
    (with ``test_data``), ``stash_peak_bytes`` (largest ledger peak of a step), ``seconds``.
    """
    _check_data(train_data, "fit: train_data")
    if test_data is not None:
        _check_data(test_data, "fit: test_data")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: epochs must be a positive int, got {epochs!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"fit: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    policy = policy or stash.Dense()
    history = {k: [] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy",
                               "stash_peak_bytes", "seconds")}
    start_epoch, step = 0, 0
    if resume:
        if checkpoint is None:
            raise ValueError("fit: resume=True needs checkpoint=<path>")
        if os.path.exists(checkpoint):
            start_epoch, step, history = _load_checkpoint(checkpoint, model, optimizer, rng)
    batches = BatchIterator(train_data, batch_size, rng=rng, shuffle=True)
    led = stash.ledger()
    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        model.train()
        loss_sum, correct, seen, peak = 0.0, 0, 0, 0
        bar = tqdm(batches, desc=f"{desc} {epoch + 1}/{epochs}", disable=not progress, leave=False)
        with stash.use(policy):
            for batch in bar:
                *xs, y = batch
                policy.set_step(step)
                led.reset_peak()
                logits = model(*_inputs(xs))
                loss = loss_fn(logits, y)
                value = float(loss.data)
                if not math.isfinite(value):
                    del loss, logits
                    raise FloatingPointError(
                        f"fit: loss is {value} at step {step} (epoch {epoch + 1}, batch "
                        f"{seen // batch_size + 1}); " + (f"the last good checkpoint {checkpoint} is "
                                                          "untouched" if checkpoint else "no checkpoint was set"))
                optimizer.zero_grad()
                loss.backward()
                peak = max(peak, led.peak)
                if clip_norm is not None:
                    clip_grad_norm(optimizer.params, clip_norm)
                optimizer.step()
                step += 1
                loss_sum += value * len(y)
                correct += int((logits.data.argmax(axis=1) == y).sum())
                seen += len(y)
                del loss, logits
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                                stash_MB=f"{peak / 1e6:.1f}")
        history["train_loss"].append(loss_sum / seen)
        history["train_accuracy"].append(correct / seen)
        history["stash_peak_bytes"].append(int(peak))
        if test_data is not None:
            ev = evaluate(model, test_data, loss_fn=loss_fn)
            history["test_loss"].append(ev["loss"])
            history["test_accuracy"].append(ev["accuracy"])
        history["seconds"].append(time.perf_counter() - t0)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, optimizer, rng, epoch + 1, step, history)
    return history


def _save_checkpoint(path, model, optimizer, rng, epoch, step, history):
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optim/{k}": v for k, v in optimizer.state_dict().items()})
    meta = {"epoch": epoch, "step": step, "history": history, "rng": rng.bit_generator.state}
    arrays["meta"] = np.array(json.dumps(meta))
    atomic_savez(path, arrays)


def _load_checkpoint(path, model, optimizer, rng):
    with np.load(path) as f:
        model.load_state_dict({k[6:]: f[k] for k in f.files if k.startswith("model/")})
        optimizer.load_state_dict({k[6:]: f[k] for k in f.files if k.startswith("optim/")})
        meta = json.loads(str(f["meta"]))
    rng.bit_generator.state = meta["rng"]
    return meta["epoch"], meta["step"], meta["history"]
