"""minidd traces feed the hardware model (the one contract between the two packages)."""
import numpy as np
import pytest

import hardware as H
from minidd import Tensor, functional as F, nn, stash
from minidd.trace import trace


def test_mlp_trace_measures_relu_sparsity(rng):
    model = nn.MLP((20, 64, 64, 3), rng=rng)
    x, y = rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 3, 32)
    t = trace(model, lambda m: F.cross_entropy(m(Tensor(x)), y), batch=32)
    w = H.workload_from_dict(t)
    gemms = [layer for layer in w.layers if layer.kind == "gemm"]
    assert [(g.name, g.m, g.k, g.n) for g in gemms] == [("layers.0", 1, 20, 64), ("layers.2", 1, 64, 64),
                                                         ("layers.4", 1, 64, 3)]
    assert gemms[0].keep_dense and gemms[2].keep_dense and not gemms[1].keep_dense
    assert not gemms[0].input_grad and gemms[1].input_grad
    assert gemms[0].stash[0].natural_sparsity == 0.0
    assert 0.3 < gemms[1].stash[0].natural_sparsity < 0.7   # a ReLU output
    assert H.simulate_step(H.TPUV3, w, batch=32).cycles > 0


def test_cnn_and_bert_traces(rng):
    cnn = nn.CNN(channels=(4, 8), rng=rng)
    x, y = rng.standard_normal((2, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 2)
    w = H.workload_from_dict(trace(cnn, lambda m: F.cross_entropy(m(Tensor(x)), y), batch=2))
    conv = next(layer for layer in w.layers if layer.name == "layers.4")
    assert (conv.m, conv.k, conv.n) == (14 * 14, 4 * 9, 8)
    assert conv.conv == (14, 14, 3, 1, 1)  # the geometry for block skipping on im2col
    bert = nn.MiniBERT(50, dim=16, heads=2, layers=1, ff_dim=32, rng=rng)
    tok, lab = rng.integers(0, 50, (3, 7)), rng.integers(0, 2, 3)
    w = H.workload_from_dict(trace(bert, lambda m: F.cross_entropy(m(tok), lab), batch=3))
    k = next(layer for layer in w.layers if layer.name.endswith("attn.k"))
    assert k.shares_stash_with.endswith("attn.q") and not k.stash
    c = H.compare(H.TPUV3, w, H.Policy("deferred_dropout", 0.9), batch=8)
    assert c.stash_reduction > 1.1


def test_trace_refuses_a_bad_batch(rng):
    with pytest.raises(ValueError, match="batch must be a positive int"):
        trace(nn.MLP((4, 2), rng=rng), lambda m: None, batch=0)


def test_trace_records_the_policy_config_and_row_size(rng):
    model = nn.MLP((20, 64, 64, 3), rng=rng)
    x, y = rng.standard_normal((8, 20)).astype(np.float32), rng.integers(0, 3, 8)
    pol = stash.DeferredDropout(0.75, selection="sample", value_dtype="bfloat16")
    t = trace(model, lambda m: F.cross_entropy(m(Tensor(x)), y), batch=8, policy=pol)
    assert t["policy"] == pol.config()
    hp = H.policy_from_config(t["policy"])
    assert (hp.kind, hp.drop, hp.selection, hp.value_bytes) == ("deferred_dropout", 0.75, "sample", 2)
    w = H.workload_from_dict(t)
    assert next(g for g in w.layers if g.name == "layers.2").stash[0].row_elements == 64


def test_a_non_square_or_dilated_conv_traces_as_a_plain_gemm(rng):
    conv = nn.Conv2d(2, 4, (3, 1), stride=(2, 1), padding=(1, 0), dilation=(1, 1), rng=rng)
    model = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, rng=rng), conv)
    x = rng.standard_normal((2, 2, 9, 5)).astype(np.float32)
    w = H.workload_from_dict(trace(model, lambda m: m(Tensor(x)).sum(), batch=2))
    square, tall = (layer for layer in w.layers if layer.kind == "gemm")
    assert square.conv == (9, 5, 3, 1, 1)
    assert (tall.m, tall.k, tall.n) == (5 * 5, 2 * 3 * 1, 4) and tall.conv == ()   # ho = (9 + 2 - 3) // 2 + 1
