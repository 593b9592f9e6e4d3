"""The ops, as functions over :class:`~minidd.Tensor` (each one a small ``Function`` class)."""
from .activation import dropout, gelu, log_softmax, relu, softmax
from .conv import avg_pool2d, conv2d, max_pool2d
from .elementwise import add, div, exp, log, maximum, mul, neg, pow, sigmoid, sqrt, sub, tanh
from .embedding import embedding
from .linalg import linear, matmul
from .loss import cross_entropy
from .normalization import batch_norm, layer_norm
from .reduction import max, mean, sum, var
from .shape import concatenate, getitem, pad, permute, reshape, stack, transpose

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "tanh", "sigmoid", "maximum",
    "sum", "mean", "max", "var", "reshape", "transpose", "permute", "getitem", "concatenate",
    "stack", "pad", "matmul", "linear", "relu", "gelu", "softmax", "log_softmax", "dropout",
    "cross_entropy", "layer_norm", "batch_norm", "conv2d", "max_pool2d", "avg_pool2d", "embedding",
]
