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
from dataclasses import dataclass

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


@dataclass
class TrainState:
    """Where a :func:`fit` call is: what a checkpoint keeps of the loop (beside the model,
    optimizer, stash policy and generators), so that a resumed run continues bit-identically.

    ``epoch`` epochs are complete and ``step`` optimizer steps taken; ``pos`` batches of the
    current epoch's example ``order`` are done; ``acc`` holds the epoch's running sums
    (``loss_sum``, ``correct``, ``seen``, ``peak`` stash bytes, ``seconds``) and ``history`` is
    what :func:`fit` returns.
    """

    history: dict
    epoch: int = 0
    step: int = 0
    pos: int = 0
    order: np.ndarray | None = None
    acc: dict | None = None

    @classmethod
    def fresh(cls, custom_loss: bool) -> "TrainState":
        """Step 0: an empty history (no ``train_accuracy`` under a custom loss)."""
        keys = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "stash_peak_bytes",
                "seconds", "step_loss", "curve")
        return cls({k: [] for k in keys if not (custom_loss and k == "train_accuracy")})

    def start_epoch(self, order: np.ndarray) -> None:
        self.order = order
        self.acc = {"loss_sum": 0.0, "correct": 0, "seen": 0, "peak": 0, "seconds": 0.0}

    def record_step(self, loss: float, correct: int, n: int, stash_peak: int) -> None:
        """One optimizer step on ``n`` examples is done."""
        acc = self.acc
        acc["peak"] = max(acc["peak"], int(stash_peak))
        acc["loss_sum"] += loss * n
        acc["correct"] += correct
        acc["seen"] += n
        self.history["step_loss"].append(loss)
        self.step, self.pos = self.step + 1, self.pos + 1

    def end_epoch(self) -> None:
        self.epoch, self.pos, self.order, self.acc = self.epoch + 1, 0, None, None


@dataclass(frozen=True)
class _Options:
    """The checked arguments of one :func:`fit` call (see :func:`_check_fit`)."""

    epochs: int | None
    steps: int | None
    batch_size: int
    loss_fn: object
    test_data: tuple | None
    eval_fn: object
    eval_every: int | None
    clip_norm: float | None
    checkpoint: object
    checkpoint_every: int | None
    resume: bool
    progress: bool
    desc: str


def _check_fit(model, train_data, optimizer, rng, policy, *, epochs, steps, batch_size, loss_fn,
               test_data, eval_fn, eval_every, clip_norm, checkpoint, checkpoint_every, resume,
               progress, desc) -> _Options:
    """Every argument check of :func:`fit`, before anything runs: a ``TypeError`` for a wrong
    type, a ``ValueError`` for a wrong value or combination, each naming the argument."""
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

    def count(v, name):
        return None if v is None else _check.positive_int(v, f"fit: {name}")
    epochs, steps, batch_size = count(epochs, "epochs"), count(steps, "steps"), count(batch_size, "batch_size")
    eval_every = count(eval_every, "eval_every")
    if eval_every is not None and eval_fn is None:
        raise ValueError("fit: eval_every needs eval_fn(model) -> dict")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"fit: eval_fn must be callable model -> dict, got {type(eval_fn).__name__}")
    checkpoint_every = count(checkpoint_every, "checkpoint_every")
    if checkpoint_every is not None and checkpoint is None:
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
    return _Options(epochs, steps, batch_size, loss_fn, test_data, eval_fn, eval_every, clip_norm,
                    checkpoint, checkpoint_every, resume, progress, desc)


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
    o = _check_fit(model, train_data, optimizer, rng, policy, epochs=epochs, steps=steps,
                   batch_size=batch_size, loss_fn=loss_fn, test_data=test_data, eval_fn=eval_fn,
                   eval_every=eval_every, clip_norm=clip_norm, checkpoint=checkpoint,
                   checkpoint_every=checkpoint_every, resume=resume, progress=progress, desc=desc)
    loop = _Loop(model, train_data, optimizer, rng, policy or stash.Dense(), o)
    state = loop.start()
    while state.step < loop.total:
        loop.run_epoch(state)
    return state.history


class _Loop:
    """The fixed parts of one :func:`fit` call, its epoch and step, and its hooks: evaluation,
    checkpoint and progress after each step, the epoch's records after each epoch (the NaN stop
    is in :func:`_train_step`)."""

    def __init__(self, model, train_data, optimizer, rng, policy, options: _Options):
        self.model, self.optimizer, self.rng, self.policy, self.o = model, optimizer, rng, policy, options
        self.batches = BatchIterator(train_data, options.batch_size, rng=rng, shuffle=True)
        per_epoch = len(self.batches)
        self.total = options.steps if options.steps is not None else options.epochs * per_epoch
        self.n_epochs = options.epochs if options.epochs is not None else math.ceil(options.steps / per_epoch)
        self.ck = None if options.checkpoint is None else \
            Checkpoint(options.checkpoint, model, optimizer, policy, rng)
        self.ledger = stash.ledger()

    def start(self) -> TrainState:
        """Step 0, or the state a checkpoint holds (``resume=True``), checked against this call."""
        o, ck = self.o, self.ck
        if ck is not None and not o.resume:
            ck.check_replaceable()
        loaded = ck.load(self.batches.n, o.batch_size) if o.resume else None
        state = TrainState.fresh(o.loss_fn is not None) if loaded is None else TrainState(**loaded)
        if o.resume and state.step > self.total:
            raise ValueError(f"fit: checkpoint {o.checkpoint} is at step {state.step}, past this call's budget of "
                             f"{self.total} steps; resume with at least that many (or another checkpoint path)")
        if ("train_accuracy" in state.history) != (o.loss_fn is None):
            raise ValueError(f"fit: checkpoint {o.checkpoint} was trained with "
                             + ("the default loss; resume without loss_fn" if o.loss_fn
                                else "a custom loss_fn; resume with it"))
        return state

    def run_epoch(self, state: TrainState) -> None:
        """The rest of the current epoch (all of it unless resumed mid-epoch), within the budget."""
        if state.pos == 0:
            state.start_epoch(self.batches.order())
        t0 = time.perf_counter() - state.acc["seconds"]
        self.model.train()
        per_epoch = len(self.batches)
        end = min(per_epoch, state.pos + self.total - state.step)
        bar = tqdm(range(state.pos, end), desc=f"{self.o.desc} {state.epoch + 1}/{self.n_epochs}",
                   disable=not self.o.progress, leave=False, initial=state.pos, total=per_epoch)
        for b in bar:
            self.step(state, b)
            self.evaluation_hook(state)
            self.progress_hook(state, bar)
            self.checkpoint_hook(state, b + 1 < end, t0)
        self.end_epoch(state, t0)

    def step(self, state: TrainState, b: int) -> None:
        """Batch ``b`` of the epoch's order: one forward, backward and update under the policy."""
        batch = self.batches.batch(state.order, b)
        self.policy.set_step(state.step)
        self.ledger.reset_peak()
        with stash.use(self.policy):
            value, correct = _train_step(self.model, batch, self.o.loss_fn, self.rng, self.optimizer,
                                         self.o.clip_norm, state.step,
                                         f"epoch {state.epoch + 1}, batch {b + 1}", self.o.checkpoint)
        state.record_step(value, correct, len(batch[0]), self.ledger.peak)

    def evaluation_hook(self, state: TrainState) -> None:
        o = self.o
        if o.eval_every and (state.step % o.eval_every == 0 or state.step == self.total):
            state.history["curve"].append(_run_eval(o.eval_fn, self.model, state.step))

    def progress_hook(self, state: TrainState, bar) -> None:
        acc = state.acc
        bar.set_postfix(loss=f"{acc['loss_sum'] / acc['seen']:.4f}", stash_MB=f"{acc['peak'] / 1e6:.1f}",
                        **({} if self.o.loss_fn else {"acc": f"{acc['correct'] / acc['seen']:.3f}"}))

    def checkpoint_hook(self, state: TrainState, mid_epoch: bool, t0: float) -> None:
        """Every ``checkpoint_every`` steps inside an epoch (its end is saved by :meth:`end_epoch`)."""
        every = self.o.checkpoint_every
        if every and state.step % every == 0 and mid_epoch and state.step < self.total:
            state.acc["seconds"] = time.perf_counter() - t0
            self.ck.save(vars(state), self.batches.n, self.o.batch_size)

    def end_epoch(self, state: TrainState, t0: float) -> None:
        """The epoch's records (train, test and ``eval_fn`` scores, stash peak, seconds), then a
        checkpoint."""
        o, history, acc = self.o, state.history, state.acc
        history["train_loss"].append(acc["loss_sum"] / acc["seen"])
        if o.loss_fn is None:
            history["train_accuracy"].append(acc["correct"] / acc["seen"])
        history["stash_peak_bytes"].append(acc["peak"])
        if o.test_data is not None:
            ev = evaluate(self.model, o.test_data)
            history["test_loss"].append(ev["loss"])
            history["test_accuracy"].append(ev["accuracy"])
        if o.eval_fn is not None and not o.eval_every:
            history["curve"].append(_run_eval(o.eval_fn, self.model, state.step))
        history["seconds"].append(time.perf_counter() - t0)
        state.end_epoch()
        if self.ck is not None:
            self.ck.save(vars(state), self.batches.n, o.batch_size)


def _nan_stop(value: float, step: int, where: str, checkpoint) -> FloatingPointError:
    """The NaN stop: training ends at a NaN or Inf loss, naming the step and the checkpoint
    (which was last written before that step, so it still holds good parameters)."""
    return FloatingPointError(
        f"fit: loss is {value} at step {step} ({where}); "
        + (f"the last good checkpoint {checkpoint} is untouched" if checkpoint else "no checkpoint was set"))


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
        del loss  # the graph goes before the error does
        raise _nan_stop(value, step, where, checkpoint)
    optimizer.zero_grad()
    loss.backward()
    del loss
    if clip_norm is not None:
        clip_grad_norm(optimizer.params, clip_norm)
    optimizer.step()
    return value, correct
