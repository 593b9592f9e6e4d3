"""minidd: Deferred Dropout in pure NumPy.

A reverse-mode autodiff engine whose activation stash is a pluggable policy (``Dense``,
``ZeroValue``: the zero-compression baseline, ``DeferredDropout``: the paper's method).
"""
from . import functional, stash
from .autograd import Context, Function, Tensor, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, check_grad
from .graph import to_dot
from .stash import DeferredDropout, Dense, ZeroValue

__version__ = "0.1.0"
__all__ = ["Tensor", "Function", "Context", "no_grad", "is_grad_enabled", "functional", "stash",
           "Dense", "ZeroValue", "DeferredDropout", "check_grad", "GradcheckError", "to_dot"]
