"""The character LM task: windows, bits/char on held-out text, the floor control, determinism."""
import math

import numpy as np
import pytest

from minidd import stash
from minidd.nn import CharLM
from minidd.study import charlm
from minidd.study.freeze import freeze, touched_layers, touched_weights
from minidd.study.recipes import config

TINY = dict(steps=30, dim=16, heads=2, layers=1, ff_dim=32, context=16, batch_size=8, lr=1e-2,
            warmup_steps=3, eval_every=15, eval_windows=8)


def test_windows_and_bits_per_char_of_a_uniform_model():
    stream = np.arange(50)
    np.testing.assert_array_equal(charlm.windows(stream, np.array([0, 7]), 3), [[0, 1, 2, 3], [7, 8, 9, 10]])
    model = CharLM(5, context=4, dim=8, heads=2, layers=1, ff_dim=8, rng=np.random.default_rng(0))
    for p in (model.head.weight, model.head.bias):
        p.data[...] = 0.0          # uniform logits: log2(5) bits for every symbol
    got = charlm.evaluate_lm(model, np.random.default_rng(0).integers(0, 5, 41), 4, 100)
    assert got["bits_per_char"] == pytest.approx(math.log2(5), rel=1e-6)
    with pytest.raises(ValueError, match="shorter than one window"):
        charlm.evaluate_lm(model, np.arange(4), 4, 1)


def test_tiny_char_lm_learns_is_deterministic_and_tunes_on_validation():
    hp = config("charlm", **TINY)
    _, a, _, ma = charlm.pretrain(hp, stash.Dense(), 0, train_limit=4000)
    _, b, _, mb = charlm.pretrain(hp, stash.Dense(), 0, train_limit=4000)
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert ma == mb and [c["step"] for c in a["curve"]] == [15, 30]
    assert a["curve"][-1]["val_bits_per_char"] == ma["val_bits_per_char"] < a["curve"][0]["val_bits_per_char"]
    assert ma["val_bits_per_char"] != ma["test_bits_per_char"]       # two different held-out texts
    assert ma["test_loss"] == pytest.approx(ma["test_bits_per_char"] * math.log(2))
    assert ma["test_bits_per_char"] < math.log2(96) and 0 < ma["test_accuracy"] < 1
    _, _, _, dd = charlm.pretrain(hp, stash.DeferredDropout(0.9), 0, train_limit=4000)
    assert dd["val_bits_per_char"] != ma["val_bits_per_char"]


def test_floor_freezes_exactly_the_weights_deferred_dropout_sparsifies():
    rng = np.random.default_rng(0)
    model = CharLM(12, context=8, dim=8, heads=2, layers=2, ff_dim=16, rng=rng)
    win = rng.integers(0, 12, (3, 9))
    with stash.use(stash.DeferredDropout(0.9)):
        loss = charlm.lm_loss(model, win)
        touched = {f"{r.layer}.weight" for r in stash.ledger().rows()
                   if r.role == stash.WEIGHT_GRAD_INPUT and r.kept < r.numel}
        del loss
    names = set(touched_weights(model))
    assert touched <= names and len(touched) == 8    # q, k and v share one stash entry
    assert names == {f"encoder.blocks.{b}.{m}.weight" for b in (0, 1)
                     for m in ("attn.q", "attn.k", "attn.v", "attn.out", "ff1", "ff2")}
    assert "head.weight" in touched_weights(model, keep_marked_dense=False)
    assert freeze(model, None) == []
    frozen = freeze(model, "touched_weights")
    assert [f"{n}.weight" for n in frozen] == touched_weights(model) and set(touched_weights(model)) == names
    n_touched = sum(p.size for n, p in model.named_parameters() if n in names)
    assert n_touched == 2 * (4 * 8 * 8 + 2 * 8 * 16) and n_touched / sum(p.size for p in model.parameters()) > 0.5
    charlm.lm_loss(model, win).backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n in names)
    assert model.head.weight.grad is not None and model.encoder.blocks[0].ff1.bias.grad is not None
    assert freeze(model, "touched") == frozen
    assert not model.encoder.blocks[0].ff1.bias.requires_grad
    assert freeze(model, "all") == frozen + ["head"] and not model.head.bias.requires_grad
    with pytest.raises(ValueError, match="freeze must be one of"):
        freeze(model, "head")


def test_floor_run_leaves_the_touched_weights_at_their_initial_values():
    hp = config("charlm", **{**TINY, "steps": 5, "eval_every": 5, "freeze": "touched"})
    model, _, _, _ = charlm.pretrain(hp, stash.Dense(), 3, train_limit=2000)
    init = CharLM(96, 16, 16, 2, 1, 32, rng=np.random.default_rng(3))
    params = dict(init.named_parameters())
    for n, p in model.named_parameters():
        same = np.array_equal(p.data, params[n].data)
        assert same == (n.rpartition(".")[0] in touched_layers(model)), n


def test_pretrain_refuses_an_incomplete_recipe():
    hp = config("charlm", **TINY)
    del hp["eval_windows"]
    with pytest.raises(ValueError, match=r"hp is missing \['eval_windows'\]"):
        charlm.pretrain(hp, stash.Dense(), 0)
