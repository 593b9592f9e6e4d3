"""``Module``, ``Parameter`` and ``Sequential``, in the style users know from PyTorch."""
from __future__ import annotations

import os
import tempfile
import weakref
from collections import OrderedDict

import numpy as np

from ..autograd import Tensor
from ..stash.roles import scope


class Parameter(Tensor):
    """A leaf tensor that a :class:`Module` registers as trainable (float32 by default)."""

    __slots__ = ()

    def __init__(self, data, dtype=np.float32):
        super().__init__(np.ascontiguousarray(data, dtype=dtype), requires_grad=True)

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of layers and models.

    Attributes that are :class:`Parameter` or :class:`Module` are registered by name;
    ``register_buffer`` adds non-trainable state (BatchNorm's running statistics).  Calling a
    module runs ``forward`` inside a stash scope named after the module's attribute path
    (``encoder.0.attn.q``), so the ledger and per-layer policies see layer names.  Set
    ``stash_dense = True`` on a module to ask lossy stash policies to leave it dense.
    """

    stash_dense = False

    def __init__(self):
        d = self.__dict__
        d["_parameters"], d["_modules"], d["_buffers"] = OrderedDict(), OrderedDict(), OrderedDict()
        d["training"], d["_name"], d["_parent"] = True, "", None

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before setting attributes")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            value.__dict__["_name"], value.__dict__["_parent"] = name, weakref.ref(self)
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, array: np.ndarray) -> None:
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    @property
    def qualified_name(self) -> str:
        """Dotted path from the outermost module that holds this one (``encoder.blocks.0.attn``)."""
        parts, m = [], self
        while m is not None and m._parent is not None:
            parts.append(m._name)
            m = m._parent()
        return ".".join(reversed(parts))

    def __call__(self, *args, **kwargs):
        with scope(self.qualified_name, keep_dense=self.stash_dense, absolute=True):
            return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- traversal ---------------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self):
        for mname, m in self.named_modules():
            for pname, p in m._parameters.items():
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        for mname, m in self.named_modules():
            for bname, b in m._buffers.items():
                yield (f"{mname}.{bname}" if mname else bname), b

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def train(self, mode: bool = True):
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, by dotted name."""
        out = OrderedDict((n, p.data.copy()) for n, p in self.named_parameters())
        out.update((n, b.copy()) for n, b in self.named_buffers())
        return out

    def load_state_dict(self, state) -> None:
        """Copy ``state`` into the parameters and buffers; names and shapes must match exactly."""
        targets = OrderedDict((n, p.data) for n, p in self.named_parameters())
        targets.update(self.named_buffers())
        missing = [n for n in targets if n not in state]
        unexpected = [n for n in state if n not in targets]
        wrong = [f"{n}: expected {targets[n].shape}, got {np.shape(state[n])}"
                 for n in targets if n in state and np.shape(state[n]) != targets[n].shape]
        if missing or unexpected or wrong:
            raise ValueError(f"load_state_dict: checkpoint does not match {type(self).__name__}: "
                             f"missing {missing}, unexpected {unexpected}, shape mismatches {wrong}")
        for n, arr in targets.items():
            arr[...] = state[n]

    def save(self, path) -> None:
        """Write the state dict to ``path`` (.npz), atomically."""
        atomic_savez(path, self.state_dict())

    def load(self, path) -> None:
        """Load a file written by :meth:`save`; errors name the file and what is wrong."""
        from ..checkpoint import read_npz
        state = read_npz(path, "model file")
        try:
            self.load_state_dict(state)
        except ValueError as e:
            raise ValueError(f"model file {path}: {e}") from None

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for name, m in self._modules.items():
            lines.append("  " + f"({name}): {m!r}".replace("\n", "\n  "))
        return "\n".join(lines) + ")" if len(lines) > 1 else f"{type(self).__name__}()"


def atomic_savez(path, arrays: dict) -> None:
    """``np.savez`` to a temporary file in the same folder, then rename over ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ..."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x
