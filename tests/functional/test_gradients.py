"""Every op's backward against central finite differences, in float64, over several shapes."""
import numpy as np
import pytest

import minidd
from minidd import functional as F


def _positive(shape):
    return lambda rng: np.asarray(rng.uniform(0.5, 2.0, shape))


def _normal(shape):
    return lambda rng: np.asarray(rng.standard_normal(shape))  # shape () gives a 0-d array


def _bn_train(x, g, b):
    return F.batch_norm(x, g, b, np.zeros(x.shape[1]), np.ones(x.shape[1]), training=True)


def _bn_eval(x, g, b):
    c = x.shape[1]
    return F.batch_norm(x, g, b, np.linspace(-0.5, 0.5, c), np.linspace(0.5, 2.0, c), training=False)


def _unit(shape):
    return lambda rng: np.asarray(rng.uniform(0.05, 0.95, shape))


_LABELS = np.array([0, 2, 1, 2, 0])
_IGNORED = np.array([0, -100, 1, 2, -100])
_COND = np.array([True, False, False, True])
_TOKENS = np.array([[0, 3, 3], [5, 1, 0]])

# (op name, function of Tensors, input makers); every op appears at least once.
CASES = [
    ("add", lambda a, b: a + b, [_normal((3, 4)), _normal((3, 4))]),
    ("add", lambda a, b: a + b, [_normal((2, 3, 4)), _normal((4,))]),
    ("add", lambda a, b: a + b, [_normal((3, 1)), _normal((1, 4))]),
    ("add", lambda a, b: a + b, [_normal(()), _normal(())]),
    ("add", lambda a, b: a + b, [_normal(()), _normal((2, 3))]),
    ("sub", lambda a, b: a - b, [_normal((2, 3, 4)), _normal((3, 1))]),
    ("sub", lambda a: 2.0 - a, [_normal((5,))]),
    ("sub", lambda a, b: a - b, [_normal((3,)), _normal(())]),
    ("mul", lambda a, b: a * b, [_normal((3, 4)), _normal((3, 4))]),
    ("mul", lambda a, b: a * b, [_normal((2, 3, 4)), _normal((1, 4))]),
    ("mul", lambda a: a * 3.0, [_normal((4,))]),
    ("mul", lambda a, b: a * b, [_normal(()), _normal(())]),
    ("mul", lambda a, b: a * b, [_normal(()), _normal((2, 3))]),
    ("div", lambda a, b: a / b, [_normal((3, 4)), _positive((3, 4))]),
    ("div", lambda a, b: a / b, [_normal((2, 3, 4)), _positive((4,))]),
    ("div", lambda a: a / 4.0, [_normal((4,))]),
    ("div", lambda b: 2.0 / b, [_positive((4,))]),
    ("div", lambda a, b: a / b, [_normal(()), _positive(())]),
    ("div", lambda a, b: a / b, [_normal((3,)), _positive(())]),
    ("neg", lambda a: -a, [_normal((3, 4))]),
    ("neg", lambda a: -a, [_normal(())]),
    ("pow", lambda a: a ** 3, [_normal((3, 4))]),
    ("pow", lambda a: a ** 0.5, [_positive((2, 5))]),
    ("pow", lambda a: a ** 3, [_normal(())]),
    ("pow_tensor", lambda a: 2.0 ** a, [_normal((3, 4))]),
    ("pow_tensor", lambda a, b: a ** b, [_positive((3, 4)), _normal((4,))]),
    ("pow_tensor", lambda a, b: a ** b, [_positive(()), _normal(())]),
    ("abs", abs, [_normal((3, 4))]),
    ("abs", F.abs, [_normal(())]),
    ("clamp", lambda a: a.clamp(-0.5, 0.5), [_normal((3, 4))]),
    ("clamp", lambda a: F.clamp(a, min=0.1), [_normal((2, 3))]),
    ("clamp", lambda a: F.clamp(a, max=0.0), [_normal(())]),
    ("where", lambda a, b: F.where(_COND, a, b), [_normal((3, 4)), _normal((4,))]),
    ("where", lambda a: F.where(a > 0, a, a * a), [_normal((2, 3))]),
    ("where", lambda a, b: F.where(np.array(True), a, b), [_normal(()), _normal(())]),
    ("exp", F.exp, [_normal((3, 4))]),
    ("exp", F.exp, [_normal(())]),
    ("exp", lambda a: a.sum().exp(), [_normal((3,))]),
    ("log", F.log, [_positive((3, 4))]),
    ("log", F.log, [_positive(())]),
    ("sqrt", F.sqrt, [_positive((2, 3, 2))]),
    ("sqrt", F.sqrt, [_positive(())]),
    ("tanh", F.tanh, [_normal((3, 4))]),
    ("tanh", F.tanh, [_normal(())]),
    ("sigmoid", F.sigmoid, [_normal((2, 3, 4))]),
    ("sigmoid", F.sigmoid, [_normal(())]),
    ("maximum", F.maximum, [_normal((3, 4)), _normal((3, 4))]),
    ("maximum", F.maximum, [_normal((2, 3, 4)), _normal((4,))]),
    ("maximum", F.maximum, [_normal(()), _normal(())]),
    ("maximum", F.maximum, [_normal((2, 3)), _normal(())]),
    ("minimum", F.minimum, [_normal((3, 4)), _normal((3, 4))]),
    ("minimum", F.minimum, [_normal((2, 3, 4)), _normal((4,))]),
    ("minimum", F.minimum, [_normal(()), _normal(())]),
    ("sum", lambda a: a.sum(), [_normal((3, 4))]),
    ("sum", lambda a: a.sum(axis=1), [_normal((2, 3, 4))]),
    ("sum", lambda a: a.sum(axis=(0, 2), keepdims=True), [_normal((2, 3, 4))]),
    ("sum", lambda a: a.sum(), [_normal(())]),
    ("mean", lambda a: a.mean(), [_normal((3, 4))]),
    ("mean", lambda a: a.mean(axis=-1, keepdims=True), [_normal((2, 3, 4))]),
    ("mean", lambda a: a.mean(), [_normal(())]),
    ("max", lambda a: a.max(), [_normal((3, 4))]),
    ("max", lambda a: a.max(axis=1), [_normal((2, 3, 4))]),
    ("max", lambda a: a.max(axis=(0, 2), keepdims=True), [_normal((2, 3, 4))]),
    ("max", lambda a: a.max(), [_normal(())]),
    ("min", lambda a: a.min(), [_normal((3, 4))]),
    ("min", lambda a: a.min(axis=(0, 2), keepdims=True), [_normal((2, 3, 4))]),
    ("min", lambda a: a.min(), [_normal(())]),
    ("var", lambda a: a.var(), [_normal((3, 4))]),
    ("var", lambda a: a.var(axis=0, ddof=1), [_normal((5, 3))]),
    ("var", lambda a: a.var() + a, [_normal(())]),
    ("reshape", lambda a: a.reshape(4, 3) * np.arange(12.0).reshape(4, 3), [_normal((3, 4))]),
    ("transpose", lambda a: a.T * np.arange(12.0).reshape(4, 3), [_normal((3, 4))]),
    ("transpose", lambda a: a.transpose(2, 0, 1), [_normal((2, 3, 4))]),
    ("reshape", lambda a: a.reshape(1, 1) * 2.0, [_normal(())]),
    ("reshape", lambda a: a.unsqueeze(1).squeeze() * np.arange(3.0), [_normal((3,))]),
    ("reshape", lambda a: F.squeeze(a, 0) * np.arange(4.0), [_normal((1, 4, 1))]),
    ("reshape", lambda a: a.flatten(1) * np.arange(12.0), [_normal((2, 3, 4))]),
    ("reshape", lambda a: a.unsqueeze(-1).flatten() * 2.0, [_normal(())]),
    ("transpose", lambda a: a.T, [_normal(())]),
    ("getitem", lambda a: a[1:, ::2], [_normal((3, 4))]),
    ("getitem", lambda a: a[np.array([0, 2, 2])], [_normal((3, 4))]),
    ("getitem", lambda a: a[:, np.array([1, 1, 3]), 0], [_normal((2, 4, 3))]),
    ("getitem", lambda a: a[None, None] * 2.0, [_normal(())]),
    ("getitem", lambda a: a[1, 2], [_normal((3, 4))]),
    ("concatenate", lambda a, b: F.concatenate([a, b], axis=1), [_normal((2, 3)), _normal((2, 2))]),
    ("stack", lambda a, b: F.stack([a, b], axis=-1), [_normal((2, 3)), _normal((2, 3))]),
    ("stack", lambda a, b: F.stack([a, b]), [_normal(()), _normal(())]),
    ("pad", lambda a: F.pad(a, ((1, 0), (2, 1))), [_normal((2, 3))]),
    ("pad", lambda a: F.pad(a, 1), [_normal(())]),
    ("clone", lambda a: F.clone(a) * 2.0, [_normal((2, 3))]),
    ("astype", lambda a: F.astype(F.astype(a, np.longdouble), a.dtype), [_normal((2, 3))]),
    ("matmul", F.matmul, [_normal((3, 4)), _normal((4, 5))]),
    ("matmul", F.matmul, [_normal((2, 3, 4)), _normal((2, 4, 5))]),
    ("matmul", F.matmul, [_normal((2, 2, 3, 4)), _normal((4, 2))]),
    ("matmul", F.matmul, [_normal((4,)), _normal((4,))]),
    ("matmul", F.matmul, [_normal((3, 4)), _normal((4,))]),
    ("matmul", F.matmul, [_normal((4,)), _normal((4, 5))]),
    ("matmul", F.matmul, [_normal((2, 3, 4)), _normal((4,))]),
    ("matmul", F.matmul, [_normal((3,)), _normal((2, 3, 4))]),
    ("linear", F.linear, [_normal((4, 3)), _normal((5, 3)), _normal((5,))]),
    ("linear", F.linear, [_normal((2, 3, 4)), _normal((2, 4))]),
    ("relu", F.relu, [_normal((3, 4))]),
    ("relu", F.relu, [_normal((2, 3, 4))]),
    ("relu", F.relu, [_normal(())]),
    ("gelu", F.gelu, [_normal((3, 4))]),
    ("gelu", lambda a: F.gelu(a, approximate="none"), [_normal((2, 3, 4))]),
    ("gelu", F.gelu, [_normal(())]),
    ("gelu", lambda a: F.gelu(a, approximate="none"), [_normal(())]),
    ("softmax", F.softmax, [_normal((3, 4))]),
    ("softmax", lambda a: F.softmax(a, axis=1), [_normal((2, 3, 4))]),
    # the causal mask of attention (a boolean constant) and a row with nothing to attend
    ("softmax", lambda a: F.softmax(a, mask=np.tri(4, dtype=bool)), [_normal((2, 4, 4))]),
    ("softmax", lambda a: F.softmax(a, mask=np.array([[True, False, True], [False] * 3])), [_normal((2, 3))]),
    ("log_softmax", F.log_softmax, [_normal((3, 4))]),
    ("log_softmax", lambda a: F.log_softmax(a, axis=0), [_normal((3, 2, 2))]),
    ("cross_entropy", lambda a: F.cross_entropy(a, _LABELS), [_normal((5, 3))]),
    ("cross_entropy", lambda a: F.cross_entropy(a, _IGNORED), [_normal((5, 3))]),
    ("cross_entropy", lambda a: F.cross_entropy(a, _LABELS, label_smoothing=0.2), [_normal((5, 3))]),
    ("cross_entropy", lambda a: F.cross_entropy(a, _IGNORED, label_smoothing=0.1, reduction="sum"), [_normal((5, 3))]),
    ("cross_entropy", lambda a: F.cross_entropy(a, _LABELS, reduction="none"), [_normal((5, 3))]),
    ("nll_loss", lambda a: F.nll_loss(F.log_softmax(a), _LABELS), [_normal((5, 3))]),
    ("nll_loss", lambda a: F.nll_loss(a, _IGNORED, reduction="sum"), [_normal((5, 3))]),
    ("nll_loss", lambda a: F.nll_loss(a, _IGNORED, reduction="none"), [_normal((5, 3))]),
    ("mse_loss", F.mse_loss, [_normal((3, 4)), _normal((3, 4))]),
    ("mse_loss", lambda a, b: F.mse_loss(a, b, reduction="sum"), [_normal(()), _normal(())]),
    ("mse_loss", lambda a: F.mse_loss(a, np.ones((2, 3)), reduction="none"), [_normal((2, 3))]),
    ("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, [_normal((3, 4)), _unit((3, 4))]),
    ("binary_cross_entropy_with_logits", lambda a, t: F.binary_cross_entropy_with_logits(a * 10.0, t, reduction="none"), [_normal((5,)), _unit((5,))]),
    ("binary_cross_entropy_with_logits", lambda a, t: F.binary_cross_entropy_with_logits(a, t, "sum"), [_normal(()), _unit(())]),
    ("layer_norm", F.layer_norm, [_normal((3, 4)), _normal((4,)), _normal((4,))]),
    ("layer_norm", F.layer_norm, [_normal((2, 3, 5)), _normal((5,)), _normal((5,))]),
    ("batch_norm", _bn_train, [_normal((4, 3)), _normal((3,)), _normal((3,))]),
    ("batch_norm", _bn_train, [_normal((2, 3, 3, 2)), _normal((3,)), _normal((3,))]),
    ("batch_norm", _bn_eval, [_normal((2, 3, 2, 2)), _normal((3,)), _normal((3,))]),
    ("conv2d", F.conv2d, [_normal((2, 3, 5, 5)), _normal((4, 3, 3, 3)), _normal((4,))]),
    ("conv2d", lambda x, w: F.conv2d(x, w, stride=2, padding=1), [_normal((2, 2, 6, 5)), _normal((3, 2, 3, 2))]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), [_normal((2, 3, 4, 4))]),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [_normal((1, 2, 5, 5))]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 2), [_normal((2, 3, 4, 4))]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, (3, 2), stride=1, padding=1), [_normal((1, 2, 4, 5))]),
    ("embedding", lambda w: F.embedding(_TOKENS, w), [_normal((6, 4))]),
    ("dropout", lambda a: F.dropout(a, 0.3, np.random.default_rng(7)), [_normal((4, 5))]),
    ("dropout", lambda a: F.dropout(a, 0.3, np.random.default_rng(7)), [_normal(())]),
    ("tap", lambda a: F.tap(a * 2.0, lambda g: None), [_normal((3, 4))]),
    ("attention_scores", F.attention_scores, [_normal((2, 3, 4, 2)), _normal((2, 3, 2, 4))]),
    ("attention_context", F.attention_context, [_normal((2, 3, 4, 4)), _normal((2, 3, 4, 2))]),
    ("attention_context", lambda s, v: F.attention_context(s, v, 0.2, np.random.default_rng(7),
                                                           mask=np.tri(4, dtype=bool)),
     [_normal((2, 4, 4)), _normal((2, 4, 3))]),
    ("attention_context", lambda s, v: F.attention_context(s, v, 0.3, np.random.default_rng(7)),
     [_normal((2, 5, 3)), _normal((2, 3, 4))]),
    # conv/pool options (PyTorch semantics): dilation, (height, width) stride and padding, on
    # the stride-1 path (widened col2im) and the strided path
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=(2, 1), dilation=(2, 1)),
     [_normal((2, 3, 6, 5)), _normal((4, 3, 3, 2)), _normal((4,))]),
    ("conv2d", lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(0, 2), dilation=2),
     [_normal((2, 2, 7, 6)), _normal((3, 2, 2, 3))]),
    ("conv2d", lambda x, w: F.conv2d(x, w, stride=(1, 3), padding=(1, 0)),
     [_normal((1, 2, 5, 8)), _normal((2, 2, 3, 2))]),
    # conv1d: conv2d on height 1 (MNIST-1D's geometry: kernel 5 stride 2 padding 1, and 3 / 2 / 1)
    ("conv2d", lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1), [_normal((2, 1, 11)), _normal((3, 1, 5)), _normal((3,))]),
    ("conv2d", lambda x, w: F.conv1d(x, w, stride=1, padding=2, dilation=2), [_normal((2, 3, 7)), _normal((2, 3, 3))]),
    ("max_pool2d", lambda x: F.max_pool2d(x, (2, 3), stride=(1, 2), padding=(1, 1)), [_normal((2, 2, 5, 6))]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, (3, 2), stride=(2, 1), padding=(1, 0)), [_normal((1, 3, 6, 4))]),
]


@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)])
def test_backward_matches_finite_differences(case, rng):
    name, fn, makers = CASES[case]
    err = minidd.check_grad(fn, [m(rng) for m in makers], rng=rng)
    assert err < 1e-5


def test_every_op_has_a_gradient_case():
    tested = {name for name, _, _ in CASES}
    missing = set(minidd.Function.registry) - tested
    assert not missing, f"ops without a gradient test: {sorted(missing)}"


def test_ops_keep_float64(rng):
    for name, fn, makers in CASES:
        args = [minidd.Tensor(m(rng)) for m in makers]
        assert fn(*args).dtype == np.float64, name


def test_ops_keep_float32_by_default(rng):
    for name, fn, makers in CASES:
        args = [minidd.Tensor(m(rng).astype(np.float32)) for m in makers]
        assert fn(*args).dtype == np.float32, name
