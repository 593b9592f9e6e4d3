import numpy as np
import pytest

import minidd
from minidd import Tensor, functional as F, nn, stash


def test_named_parameters_and_qualified_layer_names(rng):
    bert = nn.MiniBERT(30, dim=8, heads=2, layers=2, ff_dim=16, rng=rng)
    names = dict(bert.named_parameters())
    assert "encoder.blocks.1.attn.q.weight" in names and "head.bias" in names
    tok = rng.integers(0, 30, (2, 5))
    loss = F.cross_entropy(bert(tok), np.array([0, 1]))
    layers = {r.layer for r in stash.ledger().rows()}
    assert "encoder.blocks.1.attn.q" in layers and "encoder.blocks.0.ff2" in layers
    loss.backward()


def test_state_dict_roundtrips_exactly_through_npz(rng, tmp_path):
    a = nn.CNN(channels=(4, 8), rng=rng)
    b = nn.CNN(channels=(4, 8), rng=np.random.default_rng(99))
    a.layers[1].running_mean[:] = 0.5  # buffers travel too
    a.save(tmp_path / "ck.npz")
    b.load(tmp_path / "ck.npz")
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_mismatched_checkpoint_is_refused_clearly(rng):
    a = nn.MLP((4, 8, 2), rng=rng)
    b = nn.MLP((4, 9, 2), rng=rng)
    with pytest.raises(ValueError, match=r"layers.0.weight: expected \(8, 4\), got \(9, 4\)"):
        a.load_state_dict(b.state_dict())
    state = a.state_dict()
    state["extra"] = np.zeros(1)
    del state["layers.2.bias"]
    with pytest.raises(ValueError, match=r"missing \['layers.2.bias'\], unexpected \['extra'\]"):
        a.load_state_dict(state)


def test_train_eval_switches_dropout_and_batchnorm(rng):
    m = nn.Sequential(nn.Linear(4, 4, rng=rng), nn.Dropout(0.5, rng=rng))
    x = Tensor(np.ones((3, 4), np.float32))
    m.eval()
    assert not m[1].training
    np.testing.assert_array_equal(m(x).data, m(x).data)
    m.train()
    assert m[1].training


@pytest.mark.parametrize("model, x, match", [
    (lambda r: nn.MLP((784, 10), rng=r), np.zeros((2, 100), np.float32), r"MLP: input has shape \(2, 100\), expected \(N, 784\)"),
    (lambda r: nn.CNN(rng=r), np.zeros((2, 3, 28, 28), np.float32), r"CNN: input has shape \(2, 3, 28, 28\), expected \(N, 1, 28, 28\)"),
    (lambda r: nn.MiniBERT(10, max_len=4, dim=8, heads=2, layers=1, ff_dim=8, rng=r), np.zeros((2, 6), np.int64), "sequence length 6 exceeds the position table \\(4\\)"),
])
def test_wrong_input_shapes_are_named(model, x, match, rng):
    with pytest.raises(ValueError, match=match):
        m = model(rng)
        m(Tensor(x) if x.dtype.kind == "f" else x)


def test_layer_arguments_are_checked(rng):
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        nn.Linear(3, 4, rng=None)
    with pytest.raises(ValueError, match="out_features must be a positive int"):
        nn.Linear(3, 0, rng=rng)
    with pytest.raises(ValueError, match="dim 10 is not divisible by heads 3"):
        nn.MultiHeadSelfAttention(10, 3, rng=rng)
    with pytest.raises(TypeError, match="item 0 is a int"):
        nn.Sequential(3)


def test_attention_ignores_padding(rng):
    attn = nn.MultiHeadSelfAttention(8, 2, rng=rng)
    x = rng.standard_normal((1, 4, 8)).astype(np.float32)
    mask = np.array([[True, True, False, False]])
    y1 = attn(Tensor(x), mask).data
    x2 = x.copy()
    x2[0, 2:] = 100.0  # change only the padded positions
    y2 = attn(Tensor(x2), mask).data
    np.testing.assert_allclose(y1[0, :2], y2[0, :2], rtol=1e-5, atol=1e-6)


def test_module_list_and_dict_register_their_children(rng):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3, rng=rng), nn.Tanh()])
            self.blocks.append(nn.Linear(3, 2, rng=rng))
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1, rng=rng), "b": nn.Identity()})

        def forward(self, x):
            for m in self.blocks:
                x = m(x)
            return self.heads["a"](x) + self.heads["b"](x).sum(axis=1, keepdims=True)

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.2.weight", "blocks.2.bias",
                     "heads.a.weight", "heads.a.bias"]
    assert len(net.blocks) == 3 and isinstance(net.blocks[1], nn.Tanh) and "b" in net.heads
    assert net.children() == [net.blocks, net.heads]
    out = net(Tensor(rng.standard_normal((4, 3)).astype(np.float32)))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert {r.layer for r in stash.ledger().rows()} == set()  # freed by backward
    with pytest.raises(TypeError, match="ModuleList: item 3 is a int"):
        net.blocks.append(3)
    with pytest.raises(ValueError, match="ModuleDict: key must be a non-empty str without dots"):
        net.heads["x.y"] = nn.Identity()
    with pytest.raises(KeyError, match="no module named 'c'"):
        net.heads["c"]


def test_apply_and_requires_grad_freeze(rng):
    mlp = nn.MLP((4, 5, 3), rng=rng)
    seen = []
    assert mlp.apply(lambda m: seen.append(type(m).__name__)) is mlp
    assert seen[-1] == "MLP" and seen.count("Linear") == 2
    mlp.apply(lambda m: m.weight.data.fill(0.5) if isinstance(m, nn.Linear) else None)
    assert all((m.weight.data == 0.5).all() for m in mlp.modules() if isinstance(m, nn.Linear))
    mlp.layers[0].requires_grad_(False)
    loss = mlp(Tensor(np.ones((2, 4), np.float32))).sum()
    loss.backward()
    assert mlp.layers[0].weight.grad is None and mlp.layers[2].weight.grad is not None


@pytest.mark.parametrize("layer, x, fn", [
    (nn.Tanh(), np.linspace(-2, 2, 6).reshape(2, 3), np.tanh),
    (nn.Sigmoid(), np.linspace(-2, 2, 6).reshape(2, 3), lambda a: 1 / (1 + np.exp(-a))),
    (nn.Identity(), np.arange(6.0).reshape(2, 3), lambda a: a),
    (nn.Flatten(), np.arange(24.0).reshape(2, 3, 4), lambda a: a.reshape(2, 12)),
    (nn.Flatten(0, 1), np.arange(24.0).reshape(2, 3, 4), lambda a: a.reshape(6, 4)),
    (nn.AvgPool2d(2), np.arange(32.0).reshape(1, 2, 4, 4),
     lambda a: a.reshape(1, 2, 2, 2, 2, 2).mean(axis=(3, 5))),
])
def test_simple_layers_compute_their_function(layer, x, fn):
    np.testing.assert_allclose(layer(Tensor(x.astype(np.float32))).data, fn(x), rtol=1e-6)


def test_batchnorm1d_normalises_per_channel_and_checks_shape(rng):
    bn = nn.BatchNorm1d(3)
    x = rng.standard_normal((8, 3, 5)).astype(np.float32) * 4 + 2
    y = bn(Tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2)), 1, rtol=1e-3)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): input has shape \(2, 3, 4, 4\), expected \(N, C\) or \(N, C, L\) with C = 3"):
        bn(Tensor(np.ones((2, 3, 4, 4), np.float32)))


# -- the dtype rule ------------------------------------------------------------------------------
@pytest.mark.parametrize("model, x, layer", [
    (lambda r: nn.MLP((4, 3, 2), rng=r), np.ones((2, 4)), r"Linear 'layers.0'"),
    (lambda r: nn.Linear(4, 2, rng=r), np.ones((2, 4)), r"Linear:"),
    (lambda r: nn.CNN(channels=(2,), image_size=4, rng=r), np.ones((1, 1, 4, 4)), r"Conv2d 'layers.0'"),
    (lambda r: nn.LayerNorm(4), np.ones((2, 4)), r"LayerNorm:"),
])
def test_float64_input_to_float32_layer_is_refused(model, x, layer, rng):
    m = model(rng)
    with pytest.raises(TypeError, match=layer + r".*input 0 has dtype float64 but the layer's "
                                               r"parameters are float32"):
        m(Tensor(x))                      # x is float64: an ndarray keeps its dtype
    assert len(stash.ledger()) == 0


def test_model_to_float64_runs_in_float64(rng):
    m = nn.CNN(channels=(2,), image_size=4, num_classes=3, rng=rng).to(np.float64)
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m.layers[1].running_mean.dtype == np.float64
    x = Tensor(rng.standard_normal((2, 1, 4, 4)))
    loss = F.cross_entropy(m(x), np.array([0, 2]))
    assert loss.dtype == np.float64
    loss.backward()
    assert all(p.grad.dtype == np.float64 for p in m.parameters())
    with pytest.raises(TypeError, match="float32 but the layer's parameters are float64"):
        m(Tensor(np.ones((2, 1, 4, 4), np.float32)))


def test_grads_have_their_tensors_dtype_when_dtypes_mix():
    a = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b = Tensor(np.array([3.0, 4.0], np.float64), requires_grad=True)
    y = (a * b).sum()                    # NumPy promotes the forward to float64
    assert y.dtype == np.float64
    y.backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])
    c = Tensor(np.ones(2, np.float32), requires_grad=True)
    (F.exp(c) * b).sum().backward()      # through an intermediate node too
    assert c.grad.dtype == np.float32


def test_load_state_dict_refuses_a_dtype_mismatch_unless_cast(rng):
    m = nn.MLP((3, 2), rng=rng)
    state64 = {k: v.astype(np.float64) + 1 for k, v in m.state_dict().items()}
    before = m.state_dict()
    with pytest.raises(TypeError, match=r"layers.0.weight: model has float32, checkpoint has float64.*cast=True"):
        m.load_state_dict(state64)
    assert all(np.array_equal(before[k], v) for k, v in m.state_dict().items())  # nothing written
    m.load_state_dict(state64, cast=True)
    assert m.layers[0].weight.dtype == np.float32
    np.testing.assert_allclose(m.layers[0].weight.data, before["layers.0.weight"] + 1, rtol=1e-6)


def test_a_0d_parameter_trains_like_micrograds_neuron():
    w, b = nn.Parameter(0.5), nn.Parameter(0.0)
    assert w.shape == () and w.dtype == np.float32
    x, target = Tensor(2.0), 1.0
    for _ in range(50):
        loss = (F.tanh(w * x + b) - target) ** 2
        w.grad = b.grad = None
        loss.backward()
        for p in (w, b):
            p.data -= 0.1 * p.grad
    assert float(loss) < 0.01 and w.version == 50


# -- tuple geometry, as in PyTorch ---------------------------------------------------------------
def test_conv2d_takes_height_width_pairs_like_torch(rng):
    torch = pytest.importorskip("torch")
    conv = nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), rng=rng).to(np.float64)
    assert conv.weight.shape == (3, 2, 3, 2) and conv.kernel_size == (3, 2) and conv.dilation == (1, 2)
    assert repr(conv) == "Conv2d(2, 3, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2))"
    x = rng.standard_normal((2, 2, 7, 6))
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(conv.weight.data),
                                      torch.from_numpy(conv.bias.data), stride=(2, 1), padding=(1, 0),
                                      dilation=(1, 2)).numpy()
    np.testing.assert_allclose(conv(Tensor(x)).data, want, rtol=1e-10, atol=1e-12)
    assert nn.Conv2d(2, 3, 3, rng=rng).kernel_size == (3, 3)          # an int means a square kernel
    with pytest.raises(ValueError, match=r"Conv2d: kernel_size must be an int >= 1 or a pair of them, got \(3, 0\)"):
        nn.Conv2d(2, 3, (3, 0), rng=rng)
    with pytest.raises(ValueError, match=r"Conv2d: dilation must be an int >= 1 or a pair of them, got \(1, 2, 3\)"):
        nn.Conv2d(2, 3, 3, dilation=(1, 2, 3), rng=rng)


@pytest.mark.parametrize("layer, torch_layer", [
    (nn.MaxPool2d((2, 3), stride=(1, 2), padding=(1, 1)), "MaxPool2d"),
    (nn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 0)), "AvgPool2d"),
])
def test_pooling_passes_height_width_pairs_through(layer, torch_layer, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 2, 6, 7))
    kernel, stride, padding = layer.args
    want = getattr(torch.nn, torch_layer)(kernel, stride, padding)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(layer(Tensor(x)).data, want, rtol=1e-12)


def test_causal_attention_sees_no_later_position(rng):
    attn = nn.MultiHeadSelfAttention(8, 2, rng=rng)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    y1 = attn(Tensor(x), causal=True).data
    x2 = x.copy()
    x2[:, 3:] += 10.0  # change only positions 3 and 4
    y2 = attn(Tensor(x2), causal=True).data
    np.testing.assert_array_equal(y1[:, :3], y2[:, :3])
    assert not np.allclose(y1[:, 3:], y2[:, 3:])
    full = attn(Tensor(x)).data   # without the mask, the first position sees the later ones
    assert not np.allclose(full[:, 0], y1[:, 0])
    with pytest.raises(TypeError, match="causal must be a bool"):
        attn(Tensor(x), causal=1)


def test_causal_attention_backward_matches_finite_differences(rng):
    attn = nn.MultiHeadSelfAttention(4, 2, rng=rng).to(np.float64)
    r = rng.standard_normal((2, 3, 4))
    err = minidd.check_grad(lambda x: (attn(x, np.array([[True] * 3, [True, True, False]]), causal=True) * r).sum(),
                            [rng.standard_normal((2, 3, 4))], rng=rng)
    assert err < 1e-5


def test_causal_mask_is_not_a_float_activation(rng):
    # the mask is a boolean constant of the softmax, never saved: the stash holds the same arrays
    # with and without it (the masked scores add no saved (T, T) float array)
    attn = nn.MultiHeadSelfAttention(8, 2, rng=rng)
    x = Tensor(rng.standard_normal((2, 6, 8)).astype(np.float32))
    saved = []
    for causal in (False, True):
        out = attn(x, causal=causal).sum()
        saved.append(sorted((r.role, r.nbytes) for r in stash.ledger().rows()))
        out.backward()
    assert saved[0] == saved[1]
    assert all(role != stash.INDEX for role, _ in saved[1])


def test_char_lm_is_causal_and_marks_its_head_dense(rng):
    lm = nn.CharLM(11, context=8, dim=8, heads=2, layers=1, ff_dim=16, rng=rng)
    tokens = rng.integers(0, 11, (2, 8))
    y1 = lm(tokens).data
    t2 = tokens.copy()
    t2[:, 5:] = (t2[:, 5:] + 1) % 11
    y2 = lm(t2).data
    assert y1.shape == (2, 8, 11)
    np.testing.assert_array_equal(y1[:, :5], y2[:, :5])
    assert lm.head.stash_dense and not lm.encoder.blocks[0].ff1.stash_dense
