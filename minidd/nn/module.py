"""``Module``, ``Parameter`` and ``Sequential``, in the style users know from PyTorch."""
from __future__ import annotations

import weakref
from collections import OrderedDict

import numpy as np

from ..autograd import Tensor
from ..atomic import atomic_savez
from ..stash.roles import scope


class Parameter(Tensor):
    """A leaf tensor that a :class:`Module` registers as trainable (float32 by default)."""

    __slots__ = ()
    is_parameter = True  # x @ W by one makes x a weight-gradient input (functional.linalg)

    def __init__(self, data, dtype=np.float32):
        super().__init__(np.asarray(data, dtype=dtype, order="C"), requires_grad=True)  # 0-d stays 0-d

    def __repr__(self):
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of layers and models.

    Attributes that are :class:`Parameter` or :class:`Module` are registered by name;
    ``register_buffer`` adds non-trainable state (BatchNorm's running statistics).  Calling a
    module runs ``forward`` inside a stash scope named after the module's attribute path
    (``encoder.0.attn.q``), so the ledger and per-layer policies see layer names.  Set
    ``stash_dense = True`` on a module to ask lossy stash policies to leave it dense.

    Dtype rule (PyTorch's): a module with parameters refuses a floating-point input of another
    dtype (``TypeError`` naming the layer and both dtypes) instead of silently running a float32
    model in float64; ``to(dtype)`` casts a model; ``load_state_dict`` refuses a dtype mismatch
    unless ``cast=True``.  Gradients always have their tensor's dtype.
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
        if self._parameters:
            self._check_input_dtypes(args)
        with scope(self.qualified_name, keep_dense=self.stash_dense, absolute=True):
            return self.forward(*args, **kwargs)

    def _check_input_dtypes(self, args) -> None:
        """The dtype rule: a layer's floating-point inputs must have its parameters' dtype (no
        silent promotion of a float32 model to float64; cast the input or call ``to``)."""
        want = next(iter(self._parameters.values())).dtype
        for i, a in enumerate(args):
            got = getattr(a, "dtype", None)
            if isinstance(a, (Tensor, np.ndarray)) and got.kind == "f" and got != want:
                who = f"{type(self).__name__} '{self.qualified_name}'" if self.qualified_name \
                    else type(self).__name__
                raise TypeError(f"{who}: input {i} has dtype {got} but the layer's parameters are "
                                f"{want}; cast the input (Tensor(x, dtype=np.{want})) or the model "
                                f"(model.to(np.{got}))")

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # -- traversal ---------------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def children(self):
        """The direct submodules, in the order they were set."""
        return list(self._modules.values())

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule (children first) and on this module; returns
        this module (for initialisation: ``model.apply(init_fn)``)."""
        for m in self._modules.values():
            m.apply(fn)
        fn(self)
        return self

    def requires_grad_(self, requires_grad: bool = True):
        """Turn gradient tracking on or off for every parameter (freezing); returns the module."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

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

    def to(self, dtype):
        """Cast every floating-point parameter and buffer to ``dtype`` (e.g. ``np.float64`` for
        a gradient check), in place; gradients are dropped.  Returns the module."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: dtype must be floating-point, got {dtype}")
        for m in self.modules():
            for p in m._parameters.values():
                p.data, p.grad = p.data.astype(dtype), None
            for name, b in list(m._buffers.items()):
                if b.dtype.kind == "f":
                    m.register_buffer(name, b.astype(dtype))
        return self

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter and buffer, by dotted name."""
        out = OrderedDict((n, p.data.copy()) for n, p in self.named_parameters())
        out.update((n, b.copy()) for n, b in self.named_buffers())
        return out

    def load_state_dict(self, state, *, cast: bool = False) -> None:
        """Copy ``state`` into the parameters and buffers; names and shapes must match exactly,
        and so must dtypes unless ``cast=True`` (then values are cast to the model's dtypes)."""
        targets = OrderedDict((n, p.data) for n, p in self.named_parameters())
        targets.update(self.named_buffers())
        missing = [n for n in targets if n not in state]
        unexpected = [n for n in state if n not in targets]
        wrong = [f"{n}: expected {targets[n].shape}, got {np.shape(state[n])}"
                 for n in targets if n in state and np.shape(state[n]) != targets[n].shape]
        if missing or unexpected or wrong:
            raise ValueError(f"load_state_dict: checkpoint does not match {type(self).__name__}: "
                             f"missing {missing}, unexpected {unexpected}, shape mismatches {wrong}")
        kinds = [f"{n}: model has {targets[n].dtype}, checkpoint has {np.asarray(state[n]).dtype}"
                 for n in targets if np.asarray(state[n]).dtype != targets[n].dtype]
        if kinds and not cast:
            raise TypeError(f"load_state_dict: dtypes differ ({'; '.join(kinds)}); pass cast=True "
                            "to cast the checkpoint to the model's dtypes, or model.to(dtype) first")
        for n, arr in targets.items():
            arr[...] = state[n]
        for p in self.parameters():
            p._version += 1  # an in-place change: a graph built before this refuses backward

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


class _Indexed(Module):
    """Children "0", "1", ... read as a sequence: ``len``, indexing (slices too) and iteration."""

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())


class ModuleList(_Indexed):
    """A list of modules, registered as children "0", "1", ... (no ``forward`` of its own)."""

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: item {len(self)} is a {type(module).__name__}, "
                            "not a Module")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self


class ModuleDict(Module):
    """Modules by name (names are attribute-like: no dots), in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        for name, m in dict(modules or {}).items():
            self[name] = m

    def __setitem__(self, name: str, module: Module) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"ModuleDict: key must be a non-empty str without dots, got {name!r}")
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: item {name!r} is a {type(module).__name__}, not a Module")
        setattr(self, name, module)

    def __getitem__(self, name: str) -> Module:
        try:
            return self._modules[name]
        except KeyError:
            raise KeyError(f"ModuleDict: no module named {name!r}; have {list(self._modules)}") from None

    def __contains__(self, name):
        return name in self._modules

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Sequential(_Indexed):
    """Modules applied in order; children are named "0", "1", ..."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x
