import numpy as np
import pytest

from minidd import stash
from minidd.data.text import CLS, MASK, PAD
from minidd.mlm import MaskedLM, mask_tokens, mlm_loss, pretrain


def test_masking_recipe_proportions():
    rng = np.random.default_rng(0)
    tok = rng.integers(4, 500, (400, 64))
    tok[:, 0] = CLS
    tok[:, 50:] = PAD
    inputs, rows, cols, targets = mask_tokens(tok, rng, 0.15, 500)
    eligible = (tok != PAD) & (tok != CLS)
    assert not (~eligible[rows, cols]).any()           # never [CLS] or padding
    assert abs(rows.size / eligible.sum() - 0.15) < 0.01
    got = inputs[rows, cols]
    assert abs((got == MASK).mean() - 0.8) < 0.02
    assert abs((got == targets).mean() - 0.1) < 0.02    # unchanged (and the rare random hit)
    assert abs(((got != MASK) & (got != targets)).mean() - 0.1) < 0.02
    assert np.array_equal(targets, tok[rows, cols])
    untouched = np.ones(tok.shape, bool)
    untouched[rows, cols] = False
    assert np.array_equal(inputs[untouched], tok[untouched])


def test_tiny_mlm_learns_and_is_deterministic():
    kw = dict(steps=40, dim=16, layers=1, max_len=32, train_limit=64, batch_size=16, lr=3e-3, eval_every=20)
    a = pretrain(stash.Dense(), 0, **kw)
    b = pretrain(stash.Dense(), 0, **kw)
    assert a["history"] == b["history"] and a["mlm_loss"] == b["mlm_loss"]
    losses = a["history"]["train_loss"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    curve = [c["mlm_loss"] for c in a["history"]["curve"]]
    assert curve[-1] < curve[0]
    dd = pretrain(stash.DeferredDropout(0.9), 0, **kw)
    assert dd["mlm_loss"] != a["mlm_loss"] and dd["stash"]["stash_bytes"] < a["stash"]["stash_bytes"]


def test_output_layer_is_tied_to_the_token_embedding():
    rng = np.random.default_rng(0)
    model = MaskedLM(40, max_len=8, dim=8, heads=2, layers=1, ff_dim=16, rng=rng)
    names = [n for n, _ in model.named_parameters()]
    assert not any("decoder" in n for n in names) and "out_bias" in names
    tok = rng.integers(4, 40, (3, 8))
    loss, _, _ = mlm_loss(model, tok, np.ones((3, 8), bool), rng)
    loss.backward()
    assert model.encoder.tok.weight.grad is not None


def test_bad_input_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"rate must be in \(0, 1\)"):
        mask_tokens(np.ones((2, 4), int), rng, 1.0)
    model = MaskedLM(40, max_len=8, dim=8, heads=2, layers=1, ff_dim=16, rng=rng)
    with pytest.raises(ValueError, match=r"sequence length 12 exceeds the position table \(8\)"):
        mlm_loss(model, rng.integers(4, 40, (2, 12)), np.ones((2, 12), bool), rng)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        pretrain(stash.Dense(), 0, steps=0)


def test_tied_output_layer_is_kept_dense_like_a_head():
    rng = np.random.default_rng(0)
    model = MaskedLM(40, max_len=8, dim=8, heads=2, layers=1, ff_dim=16, rng=rng)
    tok = rng.integers(4, 40, (3, 8))
    with stash.use(stash.DeferredDropout(0.9)):
        loss, _, _ = mlm_loss(model, tok, np.ones((3, 8), bool), rng)
        rows = {r.layer: r for r in stash.ledger().rows() if r.role == stash.WEIGHT_GRAD_INPUT}
        assert rows["decoder"].kept == rows["decoder"].nonzero          # head: dense
        assert rows["encoder.blocks.0.ff2"].kept < rows["encoder.blocks.0.ff2"].nonzero
        loss.backward()
