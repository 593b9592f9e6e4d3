"""conv2d and pooling options against independent references (PyTorch semantics).

A naive loop over output positions is the reference for stride, padding and dilation; where
torch is importable (an optional peer, never a dependency) forward and gradients are also
compared with it.
"""
import numpy as np
import pytest

from minidd import Tensor, functional as F

OPTIONS = [  # stride, padding, dilation
    (1, 0, 1), (1, 1, 1), (2, 1, 1), ((2, 1), (0, 2), 1), (1, (2, 1), (2, 1)), ((1, 3), 1, 2),
]


def naive_conv(x, w, b, stride, padding, dilation):
    (sh, sw), (ph, pw), (dh, dw) = (np.broadcast_to(v, 2) for v in (stride, padding, dilation))
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c, h, wd = xp.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (wd - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for r in range(ho):
        for s in range(wo):
            patch = xp[:, :, r * sh:r * sh + dh * (kh - 1) + 1:dh, s * sw:s * sw + dw * (kw - 1) + 1:dw]
            y[:, :, r, s] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return y


@pytest.mark.parametrize("stride, padding, dilation", OPTIONS)
def test_conv2d_matches_naive_loop(stride, padding, dilation, rng):
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    y = F.conv2d(Tensor(x), Tensor(w), Tensor(b), stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(y.data, naive_conv(x, w, b, stride, padding, dilation), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stride, padding, dilation", OPTIONS)
def test_conv2d_matches_torch(stride, padding, dilation, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    r = rng.standard_normal(naive_conv(x, w, b, stride, padding, dilation).shape)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = torch.nn.functional.conv2d(*ts, stride=stride, padding=padding, dilation=dilation)
    ty.backward(torch.tensor(r))
    ms = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    my = F.conv2d(*ms, stride=stride, padding=padding, dilation=dilation)
    my.backward(r)
    np.testing.assert_allclose(my.data, ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for m, t in zip(ms, ts):
        np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind, kernel, stride, padding", [
    ("max", 2, None, 0), ("max", (2, 3), None, (1, 1)), ("max", 3, (2, 1), 1),
    ("avg", (3, 2), None, 0), ("avg", 3, (1, 2), (1, 0)),
])
def test_pooling_matches_torch(kind, kernel, stride, padding, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 7, 8))
    tx = torch.tensor(x, requires_grad=True)
    tf = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    ty = tf(tx, kernel, stride, padding)
    r = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(r))
    mx = Tensor(x, requires_grad=True)
    my = (F.max_pool2d if kind == "max" else F.avg_pool2d)(mx, kernel, stride, padding)
    my.backward(r)
    np.testing.assert_allclose(my.data, ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(mx.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_max_pool_ties_go_to_the_first_maximum():
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[1, 0], [0, 0]]]])


def test_float32_stays_float32_through_conv_and_pool(rng):
    x = Tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    for s in (1, 2):
        y = F.max_pool2d(F.conv2d(x, w, stride=s, padding=1, dilation=(1, 2)), 2)
        y.backward(np.ones(y.shape, np.float32))
        assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32
        x.grad = w.grad = None


@pytest.mark.parametrize("kwargs, message", [
    (dict(stride=(1, 0)), "conv2d: stride must be an int >= 1 or a pair"),
    (dict(padding=(1, 1, 1)), "conv2d: padding must be an int >= 0 or a pair"),
    (dict(dilation=0), "conv2d: dilation must be an int >= 1"),
    (dict(dilation=True), "conv2d: dilation must be an int >= 1"),
    (dict(dilation=4), r"conv2d: kernel \(3, 3\) \(extent \(9, 9\)"),
])
def test_conv2d_bad_options_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        F.conv2d(Tensor(np.ones((1, 2, 6, 6))), Tensor(np.ones((3, 2, 3, 3))), **kwargs)


def test_pool_bad_stride_names_the_argument():
    with pytest.raises(ValueError, match="max_pool2d: stride must be"):
        F.max_pool2d(Tensor(np.ones((1, 1, 4, 4))), 2, stride=(2, -1))


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_blocks_of_samples_give_the_whole_batch_result(stride, rng, monkeypatch):
    """Convolution works through the batch in blocks; one sample per block must agree."""
    from minidd.functional import conv

    x, w, b = rng.standard_normal((5, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    r = rng.standard_normal(naive_conv(x, w, b, stride, 1, 1).shape)

    def run():
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = F.conv2d(*ts, stride=stride, padding=1)
        y.backward(r)
        return [y.data] + [t.grad for t in ts]

    whole = run()
    monkeypatch.setattr(conv, "_BLOCK_BYTES", 1)
    assert len(conv._blocks(5, 100)) == 5
    for a, b_ in zip(whole, run()):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole[0], naive_conv(x, w, b, stride, 1, 1), rtol=1e-10, atol=1e-12)
