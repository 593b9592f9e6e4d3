"""Reverse-mode automatic differentiation: ``Tensor``, ``Function``, ``Context``, the walk.

An op is a :class:`Function` subclass with two static methods::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = np.exp(x)
            ctx.save(y, role=EXACT)          # the one way to keep an array for backward
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved
            return grad * y

``Exp.apply(tensor)`` runs it.  When gradients are wanted, the op's :class:`Context` becomes a
node of the graph.  Nodes point at the nodes that produced their inputs, never at the user's
tensors, so an activation array lives on only if the stash keeps it.  ``Context`` refuses to
hold an ndarray as an attribute: whatever backward reads must go through ``ctx.save``, where
the active stash policy can count and compress it.

What backward reads is guarded: an array the stash keeps by reference is read-only, with the
arrays it is a view of, until its node's backward has run; a tensor whose array an op saved
carries a version (bumped by ``t.data = ...``, ``p.data -= ...``, ``t += x`` and
``load_state_dict``) that backward compares with the one seen at save time.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from . import _check
from .stash import guard as _guard
from .stash import roles as _roles
from .stash import store as _store

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Run the block without recording a graph: ops save nothing and outputs need no grad."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


class Context:
    """A node of the graph: the op that ran, its inputs' producers and its saved arrays.

    ``parents[i]`` is the node that produced input ``i``, the leaf :class:`Tensor` itself when
    the input is a leaf that requires grad, or ``None``.  ``needs_input_grad[i]`` tells the
    op's backward which gradients anyone will read; ``layer`` is the module scope it ran in.
    """

    def __init__(self, fn, parents, needs_input_grad, input_dtypes, layer="", input_shapes=()):
        d = self.__dict__
        d["fn"], d["parents"], d["needs_input_grad"] = fn, parents, needs_input_grad
        d["input_dtypes"], d["layer"], d["input_shapes"] = input_dtypes, layer, input_shapes
        d["_entries"] = []
        d["_inputs"] = ()     # the op's arguments, during forward only
        d["_versions"] = []   # (weakref to Tensor, version at save, position): checked by backward
        d["_guarded"] = []    # guard.Guarded records: arrays saved by reference, bases read-only

    def __setattr__(self, name, value):
        if isinstance(value, np.ndarray):
            raise TypeError(f"{self.fn.name}: keep arrays for backward with ctx.save(array, role=...), "
                            f"not as the attribute ctx.{name}")
        self.__dict__[name] = value

    def save(self, array: np.ndarray | None, role: str, row_size: int | None = None,
             feature_axis: int = -1) -> None:
        """Keep ``array`` for backward; ``role`` tells the stash policy what it is for.

        ``row_size`` is the length of one row (a token's features) for per-row policies;
        ``feature_axis`` is where a weight-gradient input keeps its features (1 for NCHW).  A NumPy
        scalar (what a ufunc returns for 0-d input) is kept as a 0-d array.  ``None`` keeps a
        placeholder (an array this call's gradients do not need), so that backward unpacks
        :attr:`saved` by position whatever ``needs_input_grad`` is, as in PyTorch.
        """
        if array is None:
            self._entries.append(None)
            return
        array = _as_array(array)
        writeable = isinstance(array, np.ndarray) and array.flags.writeable
        entry = _store.save(array, role, self.fn.name, row_size, feature_axis)  # refuses a non-array
        self._entries.append(entry)
        root = _guard.root(array)
        for i, t in enumerate(self._inputs):
            # the array is (a view of) an input tensor's: watch that tensor's version
            if isinstance(t, Tensor) and _guard.root(t._data) is root \
                    and all(j != i for _, _, j in self._versions):
                self._versions.append((weakref.ref(t), t._version, i))
                break
        guarded = _guard.guard_saved(entry, array, writeable)  # kept by reference: bases read-only
        if guarded is not None:
            self._guarded.append(guarded)

    def check_versions(self) -> None:
        """Raise if a tensor whose array this op saved was modified in place since."""
        for ref, version, i in self._versions:
            t = ref()
            if t is not None and t._version != version:
                where = f" in layer '{self.layer}'" if self.layer else ""
                raise RuntimeError(
                    f"backward: {self.fn.name}{where} saved its argument {self.fn._arg(i)!r} "
                    f"({type(t).__name__} of shape {t.shape}, {t.dtype}), which was modified in "
                    f"place after it was saved (version {version} -> {t._version}): an optimizer "
                    "step, load_state_dict or an in-place write ran between forward and backward; "
                    "run backward first, or run the forward again")

    @property
    def saved(self) -> tuple:
        """The saved arrays, in the order they were saved (``None`` where ``None`` was saved), as
        backward should read them: ``x, w = ctx.saved``."""
        if self._entries is None:
            raise self.freed_error()
        return tuple(None if e is None else e.unpack() for e in self._entries)

    @property
    def saved_entries(self) -> tuple:
        """The saved entries as packed (``entry.unpack()`` gives each array; ``None`` placeholders
        as in :attr:`saved`): for a backward that can use a packed form itself, such as a weight
        gradient from a sparse stash."""
        if self._entries is None:
            raise self.freed_error()
        return tuple(self._entries)

    def freed_error(self) -> RuntimeError:
        return RuntimeError(
            f"{self.fn.name}: this graph's saved arrays were freed by an earlier backward(); "
            "call backward(retain_graph=True) the first time to walk it twice")

    def release(self) -> None:
        """Free the saved arrays (once backward has read them) and make writeable again what
        saving them made read-only (bases first, then the arrays themselves)."""
        entries, self.__dict__["_entries"] = self._entries, None
        guarded, self.__dict__["_guarded"] = self._guarded, []
        _guard.unguard_bases(guarded)
        for e in entries or ():
            if e is not None:
                _store.release(e)
        _guard.restore_arrays(guarded)

    def __del__(self):
        try:
            if self._entries:
                self.release()
        except Exception:  # interpreter shutdown: nothing left to free
            pass


class _NoGradContext:
    """Stands in for a Context when no gradient is needed: saves nothing."""

    def __init__(self, n):
        self.needs_input_grad = (False,) * n

    def save(self, array, role, row_size=None, feature_axis=-1):
        pass


class Function:
    """Base class of every op.  Subclasses define ``forward`` and ``backward`` (static).

    ``forward(ctx, *args, **options)`` receives ndarrays for tensor arguments and returns one
    ndarray; ``backward(ctx, grad)`` returns one gradient (or ``None``) per positional argument.
    ``arg_names`` names the positional arguments for error messages; ``int_args`` lists the
    ones that may be integer tensors (labels, indices), every other tensor must be floating.
    """

    registry: dict[str, type] = {}
    name = "function"
    arg_names: tuple = ()
    int_args: frozenset = frozenset()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()
        Function.registry[cls.name] = cls
        _roles.OP_NAMES.add(cls.name)  # what stash policies may name an op by (exact_ops)

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs) -> "Tensor":
        raw, parents, needs, dtypes = [], [], [], []
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                data = a._data
                if data.dtype.kind != "f" and i not in cls.int_args:
                    raise TypeError(f"{cls.name}: argument {cls._arg(i)} must be a floating-point "
                                    f"tensor, got dtype {data.dtype} with shape {data.shape}")
                raw.append(data)
                dtypes.append(data.dtype)
                needs.append(a.requires_grad)
                parents.append(a._node if a._node is not None else (a if a.requires_grad else None))
            else:
                raw.append(a)
                dtypes.append(None)
                needs.append(False)
                parents.append(None)
        if _grad_enabled and any(needs):
            shapes = tuple(a.shape if isinstance(a, np.ndarray) else None for a in raw)
            ctx = Context(cls, tuple(parents), tuple(needs), tuple(dtypes),
                          _roles.current_scope().name, shapes)
            ctx.__dict__["_inputs"] = args
            try:
                y = cls.forward(ctx, *raw, **kwargs)
            except BaseException:
                ctx.release()  # what forward saved before failing goes now, not with the traceback
                raise
            finally:
                ctx.__dict__["_inputs"] = ()  # the graph never holds the user's tensors
            out = Tensor(_as_array(y), requires_grad=True)
            out._node = ctx
            return out
        return Tensor(_as_array(cls.forward(_NoGradContext(len(raw)), *raw, **kwargs)))

    @classmethod
    def _arg(cls, i):
        return cls.arg_names[i] if i < len(cls.arg_names) else f"#{i}"


class Tensor:
    """An ndarray with an optional gradient.

    ``Tensor(data)`` wraps ``data`` without copying an ndarray (its dtype is kept, and so is a
    NumPy scalar's, which becomes a 0-d array); Python numbers and lists of numbers become
    float32, integers included (``Tensor([1, 2, 3])`` and ``Tensor(2)`` are float32, unlike
    ``torch.tensor``): integer data (labels, indices) comes as an integer ndarray or with
    ``dtype=``; lists of True/False stay bool.  0-d
    tensors (``Tensor(2.0)``) work with every op.  ``requires_grad=True`` makes it a leaf whose ``.grad``
    receives gradients.  Arrays an op saves for backward are read-only until backward has run.
    """

    __slots__ = ("_data", "_version", "requires_grad", "_grad", "_node", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to the Tensor's reflected method

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.ndarray):
            if dtype is not None:
                data = data.astype(_check_dtype(dtype), copy=False)
        else:
            data = _to_array(data, dtype)
        if data.dtype.kind not in "biuf":
            raise TypeError(f"Tensor: data must be numeric (bool, integer or floating-point), got an "
                            f"array of dtype {data.dtype}; expected a number, a nested list of numbers "
                            "or a numeric ndarray")
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got dtype {data.dtype}")
        self._data = data
        self._version = 0
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self._node = None

    # -- plain properties ------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The ndarray.  Assigning to it (``p.data -= lr * g`` does) counts as an in-place
        change: a graph that saved this tensor then refuses to run backward."""
        return self._data

    @data.setter
    def data(self, value):
        if isinstance(value, np.generic):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise TypeError(f"Tensor.data: expected a numpy.ndarray, got {type(value).__name__}")
        self._data = value
        self._version += 1

    @property
    def grad(self):
        """The accumulated gradient: None, or a :class:`Grad` (an ndarray of this tensor's
        shape that this tensor alone holds, with PyTorch's ``zero_()``)."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None and not isinstance(value, Grad):
            value = np.asarray(value).view(Grad)
        self._grad = value

    version = property(lambda self: self._version,
                       doc="How many in-place changes this tensor has had (see backward's check).")

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: _Size(self.data.size, self.data.shape),
                    doc="The element count, as NumPy's ``a.size``; called, PyTorch's "
                        "``x.size()`` (the shape) or ``x.size(dim)`` (one length).")
    dtype = property(lambda self: self.data.dtype)

    is_leaf = property(lambda self: self._node is None,
                       doc="True unless an op that recorded a graph produced this tensor.")

    def numpy(self) -> np.ndarray:
        """The data (no copy)."""
        return self.data

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Turn gradient tracking on or off for this leaf, in place; returns the tensor."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only a leaf tensor's flag can be changed; use "
                               "detach() to cut a computed tensor from its graph")
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, "
                            f"got dtype {self.dtype}")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor(self.data)

    # -- Python and NumPy interop -------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)`` is ``t.data`` (no copy unless ``dtype`` or ``copy=True`` asks)."""
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def _scalar(self, kind: str):
        if self.data.size != 1:
            raise ValueError(f"{kind}(): only a one-element tensor converts to a Python {kind}, "
                             f"got a tensor of shape {self.shape}; reduce it first (t.sum(), "
                             "t.mean()) or index one element")
        return self.data.reshape(()).item()

    def item(self):
        """The value of a one-element tensor as a Python number."""
        return self._scalar("item")

    def __float__(self): return float(self._scalar("float"))
    def __int__(self): return int(self._scalar("int"))
    def __bool__(self): return bool(self._scalar("bool"))

    # Comparisons are not differentiable: they return boolean ndarrays (masks), not Tensors.
    def __lt__(self, o): return np.less(self.data, _raw(o))
    def __le__(self, o): return np.less_equal(self.data, _raw(o))
    def __gt__(self, o): return np.greater(self.data, _raw(o))
    def __ge__(self, o): return np.greater_equal(self.data, _raw(o))
    def __eq__(self, o): return NotImplemented if o is None else np.equal(self.data, _raw(o))
    def __ne__(self, o): return NotImplemented if o is None else np.not_equal(self.data, _raw(o))
    __hash__ = object.__hash__  # tensors hash by identity (use `is`, not `==`, to find one)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    def __repr__(self):
        g = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}, dtype={self.dtype}{g})"

    # -- backward ----------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``grad`` is required unless the tensor holds one element.  The graph's saved arrays are
        freed node by node as the walk passes them, unless ``retain_graph`` is true.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no input that "
                               "requires grad reached it, or it was computed under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward: tensor of shape {self.shape} is not a scalar; pass "
                                 f"grad= an array of shape {self.shape}")
            grad = np.ones_like(self.data)
        else:
            try:
                grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            except (TypeError, ValueError):
                raise TypeError(f"backward: grad must be an array of numbers of shape {self.shape}, "
                                f"got {type(grad).__name__}") from None
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad has shape {grad.shape}, expected {self.shape}")
        if self._node is None:
            _accumulate_leaf(self, grad, {id(grad), id(_guard.root(grad))})
            return
        _walk(self._node, grad, retain_graph)

    # -- operators (defined in minidd.functional) -----------------------------------------------
    def __add__(self, o): return F.add(self, o)
    def __radd__(self, o): return F.add(o, self)
    def __sub__(self, o): return F.sub(self, o)
    def __rsub__(self, o): return F.sub(o, self)
    def __mul__(self, o): return F.mul(self, o)
    def __rmul__(self, o): return F.mul(o, self)
    def __truediv__(self, o): return F.div(self, o)
    def __rtruediv__(self, o): return F.div(o, self)
    def __neg__(self): return F.neg(self)
    def __iadd__(self, o): return self._inplace(np.add, o, "+=")
    def __isub__(self, o): return self._inplace(np.subtract, o, "-=")
    def __imul__(self, o): return self._inplace(np.multiply, o, "*=")
    def __itruediv__(self, o): return self._inplace(np.true_divide, o, "/=")

    def _inplace(self, ufunc, o, op):
        """``t += x`` writes into ``t.data`` and counts a version: allowed for tensors that need
        no grad, or under ``no_grad()`` (an update); never into an array saved for backward."""
        if self.requires_grad and _grad_enabled:
            raise RuntimeError(f"Tensor {op}: in-place change of a tensor that requires grad is "
                               f"not recorded by autograd; write t = t {op[0]} x, or update it "
                               "inside minidd.no_grad() (as optimizers do)")
        if not self._data.flags.writeable:
            raise RuntimeError(f"Tensor {op}: this tensor's array (shape {self.shape}) is read-only: "
                               "an op saved it (or a view of it) for backward, and it stays "
                               "read-only until that graph's backward has run")
        try:
            ufunc(self._data, _raw(o), out=self._data, casting="same_kind")
        except (ValueError, TypeError) as e:
            raise type(e)(f"Tensor {op}: {e}") from None
        self._version += 1
        return self

    def __pow__(self, p): return F.pow(self, p)
    def __rpow__(self, base): return F.pow(base, self)
    def __abs__(self): return F.abs(self)
    def __matmul__(self, o): return F.matmul(self, o)
    def __rmatmul__(self, o): return F.matmul(o, self)
    def __getitem__(self, index): return F.getitem(self, index)

    # PyTorch's dim=/keepdim= are accepted as axis=/keepdims= (max/min refuse dim=: PyTorch's
    # returns (values, indices)); see minidd.functional._util.TORCH_KEYWORDS.
    def sum(self, *args, **kw): return F.sum(self, *args, **kw)
    def mean(self, *args, **kw): return F.mean(self, *args, **kw)
    def max(self, *args, **kw): return F.max(self, *args, **kw)
    def min(self, *args, **kw): return F.min(self, *args, **kw)
    def argmax(self, *args, **kw): return F.argmax(self, *args, **kw)
    def var(self, *args, **kw): return F.var(self, *args, **kw)
    def softmax(self, *args, **kw): return F.softmax(self, *args, **kw)
    def reshape(self, *shape): return F.reshape(self, shape[0] if len(shape) == 1 else shape)
    view = reshape  # PyTorch's view: a reshape (a view of the data whenever NumPy can make one)
    def transpose(self, *axes): return F.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    permute = transpose
    def squeeze(self, *args, **kw): return F.squeeze(self, *args, **kw)
    def unsqueeze(self, *args, **kw): return F.unsqueeze(self, *args, **kw)
    def flatten(self, *args, **kw): return F.flatten(self, *args, **kw)
    def clone(self): return F.clone(self)
    def astype(self, dtype): return F.astype(self, dtype)
    def float(self): return F.astype(self, np.float32)
    def double(self): return F.astype(self, np.float64)
    def half(self): return F.astype(self, np.float16)
    def numel(self): return self.data.size
    def abs(self): return F.abs(self)
    def clamp(self, min=None, max=None): return F.clamp(self, min, max)
    T = property(lambda self: F.transpose(self))
    def exp(self): return F.exp(self)
    def log(self): return F.log(self)
    def sqrt(self): return F.sqrt(self)
    def tanh(self): return F.tanh(self)
    def sigmoid(self): return F.sigmoid(self)
    def relu(self): return F.relu(self)


class Grad(np.ndarray):
    """A leaf's ``.grad``: a plain ndarray plus PyTorch's in-place ``zero_()``.  Arithmetic on
    it gives plain ndarrays."""

    def zero_(self) -> "Grad":
        """Set every element to 0, in place (this leaf's own array: no other leaf sees it)."""
        self.fill(0)
        return self

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = tuple(a.view(np.ndarray) if isinstance(a, Grad) else a for a in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(a.view(np.ndarray) if isinstance(a, Grad) else a
                                  for a in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)


class _Size(int):
    """``t.size``: the element count (NumPy's meaning), callable as PyTorch's ``t.size()``."""

    def __new__(cls, count, shape):
        self = super().__new__(cls, count)
        self.shape = shape
        return self

    def __call__(self, dim=None):
        """The shape, or the length of axis ``dim``."""
        if dim is None:
            return self.shape
        if not -len(self.shape) <= _check.integer(dim, "size: dim") < len(self.shape):
            raise ValueError(f"size: dim {dim!r} is out of range for a tensor of shape {self.shape}")
        return self.shape[dim]


def _check_dtype(dtype) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"Tensor: dtype {dtype!r} is not a NumPy dtype (e.g. numpy.float32)") from None


def _to_array(data, dtype) -> np.ndarray:
    """``Tensor(data)`` for anything but an ndarray: a NumPy scalar keeps its dtype; Python
    numbers and lists of numbers, integers included, become float32 (or ``dtype``); True/False
    stay bool; text and ragged lists are refused."""
    if isinstance(data, (str, bytes)):
        raise TypeError(f"Tensor: data must be a number, a nested list of numbers or a numeric "
                        f"ndarray, got {type(data).__name__} {data[:20]!r}")
    if dtype is not None:
        dtype = _check_dtype(dtype)
    try:
        arr = np.asarray(data, dtype=dtype)
    except ValueError as e:
        if "inhomogeneous" in str(e) or "sequence" in str(e):
            raise ValueError(f"Tensor: data is a ragged nested list (rows of different lengths at "
                             f"one depth); every row at a depth needs the same length ({e})") from None
        raise ValueError(f"Tensor: cannot make an array of {type(data).__name__}: {e}") from None
    except TypeError as e:
        raise TypeError(f"Tensor: data must be a number, a nested list of numbers or a numeric "
                        f"ndarray, got {type(data).__name__} ({e})") from None
    if dtype is None and not isinstance(data, np.generic) and arr.dtype.kind in "iuf":
        arr = arr.astype(np.float32)  # Python ints too: integer data comes as an ndarray
    return arr


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _as_array(x):
    """NumPy ufuncs return a NumPy scalar for 0-d input: make it a 0-d array (dtype kept)."""
    return np.asarray(x) if isinstance(x, np.generic) else x


def _as_grad(g, dtype) -> np.ndarray:
    """A gradient as an ndarray of its tensor's dtype (0-d results come back as NumPy scalars;
    mixed-precision ops hand back the wider dtype)."""
    g = np.asarray(g)
    return g if dtype is None or g.dtype == dtype else g.astype(dtype)


def _accumulate_leaf(t: Tensor, g: np.ndarray, shared: set, held=frozenset()) -> None:
    """Add ``g`` to ``t.grad``.  A first gradient is kept as it is only when no one else can see
    it (``shared`` and ``held`` hold the ids of arrays the walk has handed out or the user passed
    in): every leaf owns its ``.grad``, so ``a.grad.fill(0)`` never changes ``b.grad``."""
    if t.grad is not None:
        t.grad = np.asarray(t.grad + _as_grad(g, t.dtype))  # out of place: t.grad may be held
        return
    g = np.asarray(g)
    root = _guard.root(g)
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)            # a fresh array: ours
    elif not g.flags.writeable or any(k in shared or k in held for k in (id(g), id(root))):
        g = g.copy()                     # a broadcast view, or an array someone else holds
    shared.update((id(g), id(_guard.root(g))))
    t.grad = g


def _check_shape(node: Context, i: int, g) -> None:
    """Raise when backward's gradient for argument ``i`` is not shaped like that argument."""
    want = node.input_shapes[i] if i < len(node.input_shapes) else None
    if want is not None and np.shape(g) != want:
        where = f" in layer '{node.layer}'" if node.layer else ""
        raise RuntimeError(
            f"{node.fn.name}.backward{where} returned a gradient of shape {np.shape(g)} for its "
            f"argument {node.fn._arg(i)!r} of shape {want}: each gradient must have its "
            "argument's shape (sum over broadcast axes: minidd.functional._util.unbroadcast)")


def _pending_counts(root: Context) -> dict:
    """How many consumers each node of the graph below ``root`` has."""
    pending: dict[Context, int] = {}
    stack, seen = [root], {root}
    while stack:
        node = stack.pop()
        for p in node.parents:
            if isinstance(p, Context):
                pending[p] = pending.get(p, 0) + 1
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
    return pending


def _run_node(node: Context, g) -> tuple:
    """Run one node's backward, checking what it returns."""
    if node._entries is None:
        raise node.freed_error()
    node.check_versions()
    in_grads = node.fn.backward(node, g)
    if not isinstance(in_grads, tuple):
        in_grads = (in_grads,)
    if len(in_grads) != len(node.parents):
        raise RuntimeError(f"{node.fn.name}.backward returned {len(in_grads)} gradients "
                           f"for {len(node.parents)} inputs")
    for i, ig in enumerate(in_grads):
        if ig is not None and node.parents[i] is not None:
            _check_shape(node, i, ig)
    return in_grads


def _walk(root: Context, grad: np.ndarray, retain_graph: bool) -> None:
    """Iterative, deterministic backward walk: a node runs once all its consumers have.

    ``held`` counts, per array id, the pending node gradients that are (views of) it, and
    ``shared`` holds the ids of arrays given to leaves or passed in by the user: a leaf copies
    a gradient only when it finds it there (see :func:`_accumulate_leaf`)."""
    pending = _pending_counts(root)
    grads: dict[Context, np.ndarray] = {root: grad}
    owned: set[Context] = set()  # nodes whose accumulated grad is our own array
    shared, held = {id(grad), id(_guard.root(grad))}, {}
    ready = [root]
    while ready:
        node = ready.pop()
        g = grads.pop(node, None)
        in_grads = ()
        if g is not None:
            _hold(held, g, -1)
            in_grads = _run_node(node, g)
        if not retain_graph:
            node.release()
        owned.discard(node)
        for i, p in enumerate(node.parents):
            if p is None:
                continue
            ig = in_grads[i] if in_grads else None
            if isinstance(p, Tensor):
                if ig is not None:
                    _accumulate_leaf(p, ig, shared, held)
                continue
            if ig is not None:
                ig = _as_grad(ig, node.input_dtypes[i])
                acc = grads.get(p)
                if acc is None:
                    grads[p] = ig
                    _hold(held, ig, 1)
                elif p in owned:
                    acc += ig
                else:
                    _hold(held, acc, -1)
                    grads[p] = acc + ig
                    _hold(held, grads[p], 1)
                    owned.add(p)
            pending[p] -= 1
            if pending[p] == 0:
                ready.append(p)


def _hold(held: dict, a: np.ndarray, step: int) -> None:
    """Count (``step`` 1) or uncount (-1) a pending node gradient and the array it views."""
    for key in {id(a), id(_guard.root(a))}:
        n = held.get(key, 0) + step
        if n > 0:
            held[key] = n
        else:
            held.pop(key, None)


from . import functional as F  # noqa: E402  (the operators above call into it)
