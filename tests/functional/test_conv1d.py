"""conv1d / nn.Conv1d against a naive loop, its stash, its trace geometry and its bad input."""
import numpy as np
import pytest

from minidd import Tensor, functional as F, nn, stash
from minidd.trace import trace


def _naive(x, w, b, s, p, d):
    n, c, length = x.shape
    o, _, k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p)))
    lo = (length + 2 * p - d * (k - 1) - 1) // s + 1
    y = np.zeros((n, o, lo))
    for i in range(lo):
        seg = xp[:, :, i * s: i * s + d * (k - 1) + 1: d]       # (n, c, k)
        y[:, :, i] = np.einsum("nck,ock->no", seg, w) + b
    return y


@pytest.mark.parametrize("s,p,d", [(1, 0, 1), (2, 1, 1), (2, 1, 2), (3, 2, 1)])
def test_conv1d_matches_a_naive_loop(s, p, d, rng):
    x, w, b = rng.standard_normal((3, 2, 13)), rng.standard_normal((4, 2, 3)), rng.standard_normal(4)
    y = F.conv1d(Tensor(x), Tensor(w), Tensor(b), stride=s, padding=p, dilation=d)
    np.testing.assert_allclose(y.data, _naive(x, w, b, s, p, d), rtol=1e-10, atol=1e-10)


def test_conv1d_module_geometry_and_mnist1d_shapes(rng):
    net = nn.CNN1d(rng=rng)
    assert [m.kernel_size for m in (net.conv1, net.conv2, net.conv3)] == [(1, 5), (1, 3), (1, 3)]
    assert net.linear.in_features == 125 and net(Tensor(rng.standard_normal((4, 40)).astype(np.float32))).shape == (4, 10)
    bound = 1 / np.sqrt(1 * 5)   # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(net.conv1.weight.data).max() <= bound and net.conv1.weight.shape == (25, 1, 5)


def test_conv1d_saves_its_input_for_the_policy_and_traces_as_an_im2col_gemm(rng):
    net = nn.CNN1d(rng=rng)
    x, y = Tensor(rng.standard_normal((8, 40)).astype(np.float32)), rng.integers(0, 10, 8)
    with stash.use(stash.DeferredDropout(0.9)):
        loss = F.cross_entropy(net(x), y)
        rows = {r.layer: r for r in stash.ledger().rows() if r.role == stash.WEIGHT_GRAD_INPUT}
        loss.backward()
    assert rows["conv2"].shape == (8, 25, 1, 19) and rows["conv2"].kept < rows["conv2"].nonzero
    assert rows["conv1"].kept == rows["conv1"].nonzero  # the first layer is marked dense
    layers = {l["name"]: l for l in trace(net, lambda m: F.cross_entropy(m(x), y), 8)["layers"]}
    assert (layers["conv2"]["m"], layers["conv2"]["k"], layers["conv2"]["n"]) == (10, 75, 25)
    assert (layers["conv1"]["m"], layers["conv1"]["k"]) == (19, 5) and layers["conv1"]["keep_dense"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(stride=0), "conv1d: stride must be an int >= 1"),
    (dict(padding=-1), "conv1d: padding must be an int >= 0"),
    (dict(dilation=9), "conv1d: kernel 3 .extent 19 with dilation 9"),
])
def test_conv1d_bad_options_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        F.conv1d(Tensor(np.ones((1, 2, 6))), Tensor(np.ones((3, 2, 3))), **kwargs)
    with pytest.raises(ValueError, match="expected x .N, C, L."):
        F.conv1d(Tensor(np.ones((1, 2, 6, 1))), Tensor(np.ones((3, 2, 3))))
    with pytest.raises(ValueError, match="Conv1d: padding"):
        nn.Conv1d(2, 3, 3, padding=-1, rng=np.random.default_rng(0))
