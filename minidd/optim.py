"""Optimizers (SGD, Adam, AdamW), learning-rate schedules and gradient clipping.

Updates are written into each parameter's array in place; ``.grad`` arrays are never written
(gradients handed to several leaves may share memory), clipping replaces them instead.  The
updates use NumPy ufuncs only (no other BLAS than NumPy's: scipy's bundles a second OpenBLAS
whose thread pool a ``threadpoolctl`` limit set before it loads does not reach).
"""
from __future__ import annotations

import math

import numpy as np

from . import _check
from .nn.module import Module, Parameter


class Optimizer:
    """Base class: holds the parameters, the base learning rate and an optional schedule.

    ``lr_schedule`` is a callable ``step -> multiplier`` (see :func:`warmup_cosine`); the rate
    used at step ``t`` is ``lr * lr_schedule(t)``.
    """

    def __init__(self, params, lr, lr_schedule=None):
        who = type(self).__name__
        if isinstance(params, Module):
            raise TypeError(f"{who}: params must be the parameters, got the {type(params).__name__} "
                            f"itself; pass model.parameters()")
        if callable(params):
            raise TypeError(f"{who}: params is the method {getattr(params, '__qualname__', params)!r}, "
                            "not its result; call it: model.parameters()")
        try:
            self.params = list(params)
        except TypeError:
            raise TypeError(f"{who}: params must be an iterable of Parameters (model.parameters()), "
                            f"got {type(params).__name__}") from None
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        first = {}
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__}: params[{i}] is a {type(p).__name__}, not a Parameter")
            if first.setdefault(id(p), i) != i:
                raise ValueError(f"{who}: params[{i}] is the same Parameter as params[{first[id(p)]}]; "
                                 "it would be updated twice per step")
        self.lr = _check.positive(lr, f"{type(self).__name__}: lr")
        if lr_schedule is not None and not callable(lr_schedule):
            raise TypeError(f"{type(self).__name__}: lr_schedule must be callable step -> factor")
        self.lr_schedule = lr_schedule
        self.step_count = 0

    @property
    def current_lr(self) -> float:
        if self.lr_schedule is None:
            return self.lr
        factor = self.lr_schedule(self.step_count)
        try:
            return self.lr * _check.number(factor, "lr_schedule", 0)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{type(self).__name__}: lr_schedule({self.step_count}) returned {factor!r}; "
                          "it must return a finite number >= 0") from None

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        lr = self.current_lr
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._update(i, p, p.grad, lr)
        self.step_count += 1

    def _update(self, i, p, g, lr):
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Optimizer state as flat arrays (for checkpoints): ``kind`` (the class name),
        ``step_count`` and each buffer as ``<name>.<parameter index>``."""
        out = {"kind": np.array(type(self).__name__), "step_count": np.array(self.step_count)}
        for name, bufs in self._buffers().items():
            for i, b in enumerate(bufs):
                if b is not None:
                    out[f"{name}.{i}"] = b.copy()
        return out

    def check_state_dict(self, state: dict) -> None:
        """Raise ``ValueError`` naming the problem if ``state`` is not a state of this optimizer
        (another kind, unknown buffers, parameter indices or shapes that do not match)."""
        who = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state, dict):
            raise TypeError(f"{who}: state must be a dict from state_dict(), got {type(state).__name__}")
        kind = str(state["kind"]) if "kind" in state else None
        if kind is not None and kind != type(self).__name__:
            raise ValueError(f"{who}: the state is from {kind}, this optimizer is {type(self).__name__}; "
                             f"its buffers would be dropped")
        if "step_count" not in state:
            raise ValueError(f"{who}: the state has no 'step_count' entry")
        count = np.asarray(state["step_count"])
        if count.shape != () or count.dtype.kind not in "iu" or count < 0:
            raise ValueError(f"{who}: 'step_count' must be an int >= 0, got {state['step_count']!r}")
        buffers = self._buffers()
        for key, arr in state.items():
            if key in ("kind", "step_count"):
                continue
            name, _, index = key.rpartition(".")
            if name not in buffers or not index.isdigit() or int(index) >= len(self.params):
                raise ValueError(f"{who}: unexpected entry {key!r} (this optimizer has buffers "
                                 f"{sorted(buffers)} for {len(self.params)} parameters)")
            if np.shape(arr) != self.params[int(index)].shape:
                raise ValueError(f"{who}: {key} has shape {np.shape(arr)}, expected {self.params[int(index)].shape}")

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (checked first: nothing changes if it does not fit)."""
        self.check_state_dict(state)
        self.step_count = int(state["step_count"])
        for name, bufs in self._buffers().items():
            for i in range(len(bufs)):
                key = f"{name}.{i}"
                if key in state:
                    bufs[i] = np.asarray(state[key]).astype(self.params[i].dtype, copy=True)

    def _buffers(self) -> dict:
        return {}


#: Elements per step of the in-place update (256 KB of float32: the scratch stays in cache and is
#: reused by the allocator, where a parameter-sized ``lr * g`` costs page faults every step).
_CHUNK = 1 << 16


def _subtract_scaled(p: Parameter, lr: float, g: np.ndarray) -> None:
    """``p.data -= lr * g`` (the same roundings) through a small scratch buffer instead of a
    parameter-sized temporary.  Assigning ``p.data`` afterwards bumps its version, as the
    in-place operator did."""
    data = p.data
    if not (data.dtype.kind == "f" and g.dtype == data.dtype and data.flags.c_contiguous
            and data.flags.writeable and g.shape == data.shape):
        p.data -= lr * g
        return
    flat, gf = data.reshape(-1), np.ravel(g)
    scale = data.dtype.type(lr)
    buf = np.empty(min(_CHUNK, flat.size), data.dtype)
    for i in range(0, flat.size, _CHUNK):
        b, d = buf[:min(_CHUNK, flat.size - i)], flat[i:i + _CHUNK]
        np.subtract(d, np.multiply(gf[i:i + _CHUNK], scale, out=b), out=d)
    p.data = data


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay."""

    def __init__(self, params, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, lr_schedule=None):
        super().__init__(params, lr, lr_schedule)
        self.momentum = _check.fraction(momentum, "SGD: momentum")
        self.weight_decay = _check.number(weight_decay, "SGD: weight_decay", 0, form="a number >= 0")
        if nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.velocity = [None] * len(self.params)

    def _update(self, i, p, g, lr):
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if self.momentum:
            v = self.velocity[i]
            if v is None:
                v = self.velocity[i] = np.array(g, dtype=p.dtype)
            else:
                v *= self.momentum
                v += g
            g = g + self.momentum * v if self.nesterov else v
        _subtract_scaled(p, lr, g)

    def _buffers(self):
        return {"velocity": self.velocity}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; ``weight_decay`` is L2 added to the gradient."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, lr_schedule=None):
        super().__init__(params, lr, lr_schedule)
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise ValueError(f"{type(self).__name__}: betas must be a pair (beta1, beta2), got {betas!r}")
        b1, b2 = betas
        who = type(self).__name__
        self.beta1, self.beta2 = _check.fraction(b1, f"{who}: betas[0]"), _check.fraction(b2, f"{who}: betas[1]")
        self.eps = _check.positive(eps, f"{who}: eps")
        self.weight_decay = _check.number(weight_decay, f"{who}: weight_decay", 0, form="a number >= 0")
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def _update(self, i, p, g, lr):
        if self.weight_decay and not self.decoupled:
            g = g + self.weight_decay * p.data
        m, v = self.m[i], self.v[i]
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * (g * g)
        t = self.step_count + 1
        step = lr * math.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        if self.weight_decay and self.decoupled:
            p.data *= 1 - lr * self.weight_decay
        num = np.multiply(m, step)  # p.data -= step * m / (sqrt(v) + eps), on two temporaries
        den = np.sqrt(v)
        den += self.eps
        num /= den
        p.data -= num

    def _buffers(self):
        return {"m": self.m, "v": self.v}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter)."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, lr_schedule=None):
        super().__init__(params, lr, betas, eps, weight_decay, lr_schedule)


def warmup_cosine(warmup_steps: int, total_steps: int, final: float = 0.0):
    """Multiplier: linear warm-up from 0 to 1 over ``warmup_steps``, then cosine decay to
    ``final`` at ``total_steps``."""
    _check_schedule(warmup_steps, total_steps)

    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        frac = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * frac))
    return factor


def warmup_linear(warmup_steps: int, total_steps: int, final: float = 0.0):
    """Multiplier: linear warm-up, then linear decay to ``final`` at ``total_steps``."""
    _check_schedule(warmup_steps, total_steps)

    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        frac = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 1 - (1 - final) * frac
    return factor


def clip_grad_norm(params, max_norm: float) -> float:
    """Scale the gradients so their global L2 norm is at most ``max_norm``; returns the norm
    before clipping."""
    max_norm = _check.positive(max_norm, "clip_grad_norm: max_norm")
    params = [p for p in params if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in params))
    if total > max_norm:
        scale = max_norm / (total + 1e-6)
        for p in params:
            p.grad = p.grad * p.grad.dtype.type(scale)
    return total


def _check_schedule(warmup, total):
    try:
        _check.integer(warmup, "warmup_steps", least=0)
        _check.integer(total, "total_steps", least=1)
    except (TypeError, ValueError) as e:
        raise type(e)(f"schedule: warmup_steps must be an int >= 0 and total_steps an int >= 1, "
                      f"got {warmup!r} and {total!r}") from None

