import numpy as np
import pytest

from minidd import stash
from minidd.data.text import CLS, MASK, PAD
from minidd.study.mlm import MaskedLM, ScaledAdamW, make_optimizer, mask_tokens, mlm_loss, pretrain
from minidd.study.freeze import touched_weights
from minidd.study.recipes import config


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


TINY = dict(steps=40, dim=16, layers=1, heads=2, ff_dim=32, max_len=32, batch_size=16, lr=3e-3,
            warmup_steps=4, eval_every=20, vocab_size=300)


def test_tiny_mlm_learns_and_is_deterministic():
    hp = config("mlm", **TINY)
    _, a, _, _ = pretrain(hp, stash.Dense(), 0, train_limit=64)
    _, b, _, _ = pretrain(hp, stash.Dense(), 0, train_limit=64)
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    losses = a["step_loss"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5
    curve = [c["mlm_loss"] for c in a["curve"]]
    assert [c["step"] for c in a["curve"]] == [20, 40] and curve[-1] < curve[0]
    _, dd, _, _ = pretrain(hp, stash.DeferredDropout(0.9), 0, train_limit=64)
    assert dd["curve"][-1] != a["curve"][-1]


def test_pretrain_refuses_an_incomplete_recipe():
    hp = config("mlm", **TINY)
    del hp["mask_rate"]
    with pytest.raises(ValueError, match=r"hp is missing \['mask_rate'\]"):
        pretrain(hp, stash.Dense(), 0)


def test_lower_rate_control_scales_exactly_the_weights_deferred_dropout_sparsifies():
    rng = np.random.default_rng(0)
    model = MaskedLM(40, max_len=8, dim=8, heads=2, layers=2, ff_dim=16, dropout=0.0, rng=rng)
    tok = rng.integers(4, 40, (3, 8))
    with stash.use(stash.DeferredDropout(0.9)):   # which weights does DD actually touch?
        kept_alive = mlm_loss(model, tok, np.ones((3, 8), bool), np.random.default_rng(1))
        touched = {f"{r.layer}.weight" for r in stash.ledger().rows()
                   if r.role == stash.WEIGHT_GRAD_INPUT and r.kept < r.numel}
        del kept_alive
    expected = {f"encoder.blocks.{b}.{m}.weight" for b in (0, 1)
                for m in ("attn.q", "attn.k", "attn.v", "attn.out", "ff1", "ff2")}
    assert touched <= expected == set(touched_weights(model))   # q, k and v share one stash entry
    assert len(touched) == 8
    hp = config("mlm", steps=10, lr=1e-2, warmup_steps=0, encoder_lr_scale=0.3)
    opt = make_optimizer(model, hp)
    assert isinstance(opt, ScaledAdamW)
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    loss, _, _ = mlm_loss(model, tok, np.ones((3, 8), bool), np.random.default_rng(1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    # Adam's first step moves every element by about lr (sign of the gradient): 0.3 lr on the scaled ones
    moved = {n: np.median(np.abs(p.data - before[n])) for n, p in model.named_parameters()}
    for n in expected:
        assert moved[n] == pytest.approx(0.3e-2, rel=0.05)
    assert moved["transform.weight"] == pytest.approx(1e-2, rel=0.05)
    state = opt.state_dict()
    opt.load_state_dict(state)
    assert all(np.array_equal(state[k], v) for k, v in opt.state_dict().items())


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
        pretrain(config("mlm", steps=0), stash.Dense(), 0)


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
