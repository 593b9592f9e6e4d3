"""Training loop: ``fit`` and ``evaluate``, with progress bars, checkpoints and a stash policy.

Data are tuples of arrays sharing their first dimension, the labels last: ``(images, labels)``
or ``(tokens, mask, labels)``.  The model is called as ``model(*inputs)``: float arrays are
wrapped in a :class:`~minidd.Tensor`, integer and boolean arrays (tokens, masks) passed as they are.
A custom ``loss_fn(model, batch_arrays, rng)`` takes the batch as it is (no labels needed).
"""
from __future__ import annotations

import inspect
import math
import numbers
import time

import numpy as np
from tqdm.auto import tqdm

from . import _check, functional as F, stash
from .autograd import Tensor, no_grad
from .checkpoint import Checkpoint
from .data.loader import BatchIterator
from .nn.module import Module
from .optim import Optimizer, clip_grad_norm


def model_inputs(arrays) -> list:
    """A batch's input arrays as the model takes them: float arrays wrapped in a
    :class:`~minidd.Tensor`, integer and boolean arrays (tokens, masks) as they are."""
    return [Tensor(a) if a.dtype.kind == "f" else a for a in arrays]


def _check_data(data, name, labels=True):
    """``data`` is a tuple of ndarrays with one row count >= 1 (and integer labels last)."""
    if not isinstance(data, (tuple, list)) or len(data) < (2 if labels else 1):
        form = "(inputs..., labels)" if labels else "(arrays...)"
        raise ValueError(f"{name} must be a tuple of arrays {form}, got {type(data).__name__}"
                         + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""))
    for i, a in enumerate(data):
        if not isinstance(a, np.ndarray) or a.ndim == 0:
            raise ValueError(f"{name}[{i}] must be a numpy.ndarray with one row per example, got "
                             + ("a 0-d array" if isinstance(a, np.ndarray) else type(a).__name__))
        if a.dtype.kind not in "fiub":
            raise ValueError(f"{name}[{i}] must hold numbers or booleans, got dtype {a.dtype}")
    n = len(data[-1])
    for i, a in enumerate(data):
        if len(a) != n:
            what = "the labels" if labels else f"{name}[-1]"
            raise ValueError(f"{name}[{i}] must be an ndarray with {n} rows (as many as {what}), got shape {a.shape}")
    if n == 0:
        raise ValueError(f"{name} holds 0 examples; it needs at least one")
    if labels and (data[-1].dtype.kind not in "iu" or data[-1].ndim != 1):
        raise ValueError(f"{name}: labels (the last array) must be 1-D integers (class indices), "
                         f"got {data[-1].dtype} of shape {data[-1].shape}")


def _check_model(model, who):
    if not isinstance(model, Module):
        raise TypeError(f"{who}: model must be a minidd.nn.Module, got {type(model).__name__}")


def evaluate(model: Module, data, batch_size: int = 256, loss_fn=F.cross_entropy) -> dict:
    """Mean loss and accuracy over ``data`` in eval mode, without a graph."""
    _check_model(model, "evaluate")
    _check_data(data, "evaluate: data")
    batch_size = _check.positive_int(batch_size, "evaluate: batch_size")
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    try:
        with no_grad():
            for batch in BatchIterator(data, batch_size, shuffle=False):
                *xs, y = batch
                logits = model(*model_inputs(xs))
                total_loss += float(loss_fn(logits, y).data) * len(y)
                correct += int((logits.data.argmax(axis=1) == y).sum())
                n += len(y)
    finally:
        model.train(was_training)
    return {"loss": total_loss / n, "accuracy": correct / n}


def _check_loss_fn(loss_fn):
    """``loss_fn`` must take ``(model, batch_arrays, rng)``; the older ``(logits, labels)`` form
    would otherwise fail inside the first step."""
    try:
        if getattr(loss_fn, "__module__", "").startswith("minidd.functional"):
            raise TypeError  # minidd's losses take (prediction, target), whatever else they accept
        inspect.signature(loss_fn).bind(None, None, None)
    except TypeError:
        raise TypeError(f"fit: loss_fn must take (model, batch_arrays, rng) and return the loss Tensor; "
                        f"{getattr(loss_fn, '__name__', 'it')}{inspect.signature(loss_fn)} does not. For a loss "
                        "of (logits, labels), leave loss_fn out (cross-entropy is the default) or wrap it: "
                        "lambda model, batch, rng: my_loss(model(*batch[:-1]), batch[-1])") from None
    except ValueError:  # no signature to read (some builtins): the first call will tell
        pass


def _check_optimizer(model, optimizer):
    """The optimizer must update this model's parameters (a model rebuilt after its optimizer
    would otherwise train nothing, silently).  A subset is fine: frozen layers."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer must be a minidd.optim.Optimizer (SGD, Adam, AdamW), "
                        f"got {type(optimizer).__name__}")
    names = {id(p): n for n, p in model.named_parameters()}
    foreign = [i for i, p in enumerate(optimizer.params) if id(p) not in names]
    if foreign:
        i = foreign[0]
        raise ValueError(
            f"fit: optimizer.params[{i}] (shape {optimizer.params[i].shape}) is not a parameter of "
            f"the model: {len(foreign)} of the optimizer's {len(optimizer.params)} parameters do not "
            f"belong to this {type(model).__name__} (was the model rebuilt after the optimizer? "
            f"build the optimizer from this model's parameters())")


def _run_eval(eval_fn, model, step):
    """``{"step": step, **eval_fn(model)}`` with the model in eval mode (back in training mode after)."""
    model.eval()
    try:
        out = eval_fn(model)
    finally:
        model.train()
    if not isinstance(out, dict) or not all(
            isinstance(k, str) and isinstance(v, numbers.Real) and not isinstance(v, bool)
            for k, v in out.items()):
        raise TypeError(f"fit: eval_fn(model) must return a dict of str -> number, got {out!r} at step {step}")
    if "step" in out:
        raise ValueError("fit: eval_fn's result may not use the key 'step' (fit records the step there)")
    return {"step": step, **{k: float(v) for k, v in out.items()}}


def fit(model: Module, train_data, *, optimizer: Optimizer, epochs: int | None = None,
        steps: int | None = None, batch_size: int, rng: np.random.Generator,
        policy: stash.StashPolicy | None = None, test_data=None, loss_fn=None, eval_fn=None,
        eval_every: int | None = None, clip_norm: float | None = None, checkpoint=None,
        checkpoint_every: int | None = None, resume: bool = False, progress: bool = True,
        desc: str = "train") -> dict:
    """Train ``model`` for ``epochs`` (or ``steps`` optimizer steps) and return the history.

    Batches are drawn in a new order from ``rng`` every epoch.  By default the loss is the
    cross-entropy of ``model(*inputs)`` against the labels (the last array of ``train_data``);
    ``loss_fn(model, batch_arrays, rng) -> Tensor`` replaces it (for example masked-LM), in which
    case the batch is passed as it is, ``rng`` is the training generator and no accuracy is
    recorded.  ``policy`` (default :class:`~minidd.stash.Dense`) stashes activations; its
    ``set_step`` is called with the global step.

    ``steps`` is a budget alternative to ``epochs`` (give exactly one): training stops after that
    many steps, possibly in the middle of an epoch, which is then recorded as a (short) epoch.
    ``eval_fn(model) -> dict`` is called, with the model in eval mode, every ``eval_every`` steps
    and after the last step (or, without ``eval_every``, after every epoch); each result lands in
    ``history["curve"]`` as ``{"step": s, **result}``.

    With ``checkpoint`` a path, the whole training state (see :mod:`minidd.checkpoint`) is written
    atomically after every epoch and, with ``checkpoint_every``, every that many steps; the
    previous checkpoint is kept as ``<checkpoint>.prev`` until the new one is complete.
    ``resume=True`` continues from it and gives a bit-identical result to an uninterrupted run;
    with no checkpoint there yet, it warns (:class:`~minidd.checkpoint.CheckpointWarning`) and
    starts from step 0.  A NaN or Inf loss raises ``FloatingPointError`` naming the step; the
    last checkpoint stays as it was.

    History: per epoch ``train_loss``, ``train_accuracy`` (default loss only), ``test_loss``,
    ``test_accuracy`` (with ``test_data``), ``stash_peak_bytes`` (largest ledger peak of a step),
    ``seconds``; per step ``step_loss``; ``curve`` (the ``eval_fn`` results).
    """
    _check_model(model, "fit")
    resume = _check.flag(resume, "fit: resume")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable (model, batch_arrays, rng) -> Tensor, "
                        f"got {type(loss_fn).__name__}")
    if loss_fn is not None:
        _check_loss_fn(loss_fn)
    _check_data(train_data, "fit: train_data", labels=loss_fn is None)
    if test_data is not None:
        if loss_fn is not None:
            raise ValueError("fit: test_data is scored with the default loss; with a custom loss_fn, "
                             "pass eval_fn(model) -> dict instead")
        _check_data(test_data, "fit: test_data")
        if len(test_data) != len(train_data):
            raise ValueError(f"fit: test_data has {len(test_data)} arrays but train_data has {len(train_data)}; "
                             "both are (inputs..., labels) for the same model")
    if (epochs is None) == (steps is None):
        raise ValueError(f"fit: give exactly one of epochs= and steps=, got epochs={epochs!r}, steps={steps!r}")
    epochs = None if epochs is None else _check.positive_int(epochs, "fit: epochs")
    steps = None if steps is None else _check.positive_int(steps, "fit: steps")
    batch_size = _check.positive_int(batch_size, "fit: batch_size")
    if eval_every is not None:
        eval_every = _check.positive_int(eval_every, "fit: eval_every")
        if eval_fn is None:
            raise ValueError("fit: eval_every needs eval_fn(model) -> dict")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"fit: eval_fn must be callable model -> dict, got {type(eval_fn).__name__}")
    if checkpoint_every is not None:
        checkpoint_every = _check.positive_int(checkpoint_every, "fit: checkpoint_every")
        if checkpoint is None:
            raise ValueError("fit: checkpoint_every needs checkpoint=<path>")
    if clip_norm is not None:
        clip_norm = _check.positive(clip_norm, "fit: clip_norm")
    _check.rng(rng, "fit: rng")
    if isinstance(policy, type) and issubclass(policy, stash.StashPolicy):
        raise TypeError(f"fit: policy is the class {policy.__name__}; pass an instance: {policy.__name__}(...)")
    if policy is not None and not isinstance(policy, stash.StashPolicy):
        raise TypeError(f"fit: policy must be a minidd.stash.StashPolicy, got {type(policy).__name__}")
    _check_optimizer(model, optimizer)
    if resume and checkpoint is None:
        raise ValueError("fit: resume=True needs checkpoint=<path>")
    policy = policy or stash.Dense()
    batches = BatchIterator(train_data, batch_size, rng=rng, shuffle=True)
    per_epoch = len(batches)
    total = steps if steps is not None else epochs * per_epoch
    n_epochs = epochs if epochs is not None else math.ceil(steps / per_epoch)

    ck = Checkpoint(checkpoint, model, optimizer, policy, rng) if checkpoint is not None else None
    if ck is not None and not resume:
        ck.check_replaceable()
    state = ck.load(batches.n, batch_size) if resume else None
    if state is None:
        history = {k: [] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy",
                                   "stash_peak_bytes", "seconds", "step_loss", "curve")}
        if loss_fn is not None:
            del history["train_accuracy"]
        state = {"epoch": 0, "step": 0, "pos": 0, "order": None, "history": history, "acc": None}
    history = state["history"]
    if resume and checkpoint is not None and state["step"] > total:
        raise ValueError(f"fit: checkpoint {checkpoint} is at step {state['step']}, past this call's budget of "
                         f"{total} steps; resume with at least that many (or another checkpoint path)")
    if ("train_accuracy" in history) != (loss_fn is None):
        raise ValueError(f"fit: checkpoint {checkpoint} was trained with "
                         + ("the default loss; resume without loss_fn" if loss_fn else "a custom loss_fn; resume with it"))
    led = stash.ledger()
    while state["step"] < total:
        if state["pos"] == 0:
            state["order"] = batches.order()
            state["acc"] = {"loss_sum": 0.0, "correct": 0, "seen": 0, "peak": 0, "seconds": 0.0}
        acc, epoch = state["acc"], state["epoch"]
        t0 = time.perf_counter() - acc["seconds"]
        model.train()
        end = min(per_epoch, state["pos"] + total - state["step"])
        bar = tqdm(range(state["pos"], end), desc=f"{desc} {epoch + 1}/{n_epochs}", disable=not progress,
                   leave=False, initial=state["pos"], total=per_epoch)
        for b in bar:
            batch = batches.batch(state["order"], b)
            step = state["step"]
            policy.set_step(step)
            led.reset_peak()
            with stash.use(policy):
                value, correct = _train_step(model, batch, loss_fn, rng, optimizer, clip_norm, step,
                                             f"epoch {epoch + 1}, batch {b + 1}", checkpoint)
            n = len(batch[0])
            acc["peak"] = max(acc["peak"], int(led.peak))
            acc["loss_sum"] += value * n
            acc["correct"] += correct
            acc["seen"] += n
            history["step_loss"].append(value)
            state["step"], state["pos"] = step + 1, b + 1
            if eval_every and (state["step"] % eval_every == 0 or state["step"] == total):
                history["curve"].append(_run_eval(eval_fn, model, state["step"]))
            bar.set_postfix(loss=f"{acc['loss_sum'] / acc['seen']:.4f}", stash_MB=f"{acc['peak'] / 1e6:.1f}",
                            **({} if loss_fn else {"acc": f"{acc['correct'] / acc['seen']:.3f}"}))
            if (checkpoint_every and state["step"] % checkpoint_every == 0 and b + 1 < end
                    and state["step"] < total):
                acc["seconds"] = time.perf_counter() - t0
                ck.save(state, batches.n, batch_size)
        history["train_loss"].append(acc["loss_sum"] / acc["seen"])
        if loss_fn is None:
            history["train_accuracy"].append(acc["correct"] / acc["seen"])
        history["stash_peak_bytes"].append(acc["peak"])
        if test_data is not None:
            ev = evaluate(model, test_data)
            history["test_loss"].append(ev["loss"])
            history["test_accuracy"].append(ev["accuracy"])
        if eval_fn is not None and not eval_every:
            history["curve"].append(_run_eval(eval_fn, model, state["step"]))
        history["seconds"].append(time.perf_counter() - t0)
        state.update(epoch=epoch + 1, pos=0, order=None, acc=None)
        if ck is not None:
            ck.save(state, batches.n, batch_size)
    return history


def _train_step(model, batch, loss_fn, rng, optimizer, clip_norm, step, where, checkpoint):
    """One forward, backward and update; returns (loss value, correct predictions)."""
    if loss_fn is None:
        *xs, y = batch
        logits = model(*model_inputs(xs))
        loss = F.cross_entropy(logits, y)
        correct = int((logits.data.argmax(axis=1) == y).sum())
        del logits
    else:
        loss = loss_fn(model, batch, rng)
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise TypeError(f"fit: loss_fn(model, batch_arrays, rng) must return a scalar Tensor, got "
                            + (f"a Tensor of shape {loss.shape}" if isinstance(loss, Tensor) else type(loss).__name__))
        correct = 0
    value = float(loss.data)
    if not math.isfinite(value):
        del loss
        raise FloatingPointError(
            f"fit: loss is {value} at step {step} ({where}); "
            + (f"the last good checkpoint {checkpoint} is untouched" if checkpoint else "no checkpoint was set"))
    optimizer.zero_grad()
    loss.backward()
    del loss
    if clip_norm is not None:
        clip_grad_norm(optimizer.params, clip_norm)
    optimizer.step()
    return value, correct
