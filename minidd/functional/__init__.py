"""The ops, as functions over :class:`~minidd.Tensor` (each one a small ``Function`` class)."""
from .attention import attention_context, attention_scores
from .activation import dropout, gelu, log_softmax, relu, softmax
from .conv import avg_pool2d, conv1d, conv2d, max_pool2d
from .dtype import astype, clone
from .elementwise import (abs, add, clamp, div, exp, log, maximum, minimum, mul, neg, pow, sigmoid,
                          sqrt, sub, tanh, where)
from .embedding import embedding
from .linalg import linear, matmul
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .normalization import batch_norm, layer_norm
from .reduction import argmax, max, mean, min, sum, var
from .tap import tap
from .shape import (concatenate, flatten, getitem, pad, permute, reshape, squeeze, stack,
                    transpose, unsqueeze)

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "tanh", "sigmoid", "maximum",
    "minimum", "abs", "clamp", "where",
    "sum", "mean", "max", "min", "argmax", "var", "reshape", "transpose", "permute", "getitem",
    "concatenate", "stack", "pad", "squeeze", "unsqueeze", "flatten", "matmul", "linear", "relu",
    "gelu", "softmax", "log_softmax", "dropout", "cross_entropy", "nll_loss", "mse_loss",
    "binary_cross_entropy_with_logits", "layer_norm", "batch_norm", "conv1d", "conv2d", "max_pool2d",
    "avg_pool2d", "embedding", "clone", "astype", "attention_context", "attention_scores", "tap",
]
