import numpy as np
import pytest

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
