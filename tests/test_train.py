import numpy as np
import pytest

from minidd import nn, stash
from minidd.data import gaussian_clusters, marker_sequences
from minidd.optim import SGD, AdamW
from minidd.train import evaluate, fit


def _run(seed, epochs=3, policy=None, checkpoint=None, resume=False):
    data_rng = np.random.default_rng(0)
    x, y = gaussian_clusters(400, dim=10, classes=3, rng=data_rng)
    rng = np.random.default_rng(seed)
    model = nn.MLP((10, 32, 32, 3), rng=rng)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    hist = fit(model, (x[:300], y[:300]), optimizer=opt, epochs=epochs, batch_size=32, rng=rng,
               policy=policy, test_data=(x[300:], y[300:]), checkpoint=checkpoint, resume=resume,
               progress=False)
    return model, opt, hist


def test_same_seed_is_bit_identical_and_learns():
    m1, _, h1 = _run(5, policy=stash.DeferredDropout(0.8))
    m2, _, h2 = _run(5, policy=stash.DeferredDropout(0.8))
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert all(np.array_equal(s1[k], s2[k]) for k in s1)
    assert h1["test_accuracy"] == h2["test_accuracy"] and h1["train_loss"] == h2["train_loss"]
    assert h1["test_accuracy"][-1] > 0.9
    m3, _, _ = _run(6)
    assert not np.array_equal(m3.state_dict()["layers.0.weight"], s1["layers.0.weight"])
    assert all(b > 0 for b in h1["stash_peak_bytes"])


def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path):
    ck = str(tmp_path / "ck.npz")
    full, _, hist_full = _run(1, epochs=4)
    _run(1, epochs=2, checkpoint=ck)                 # "interrupted" after 2 epochs
    resumed, _, hist = _run(1, epochs=4, checkpoint=ck, resume=True)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert hist["test_accuracy"] == hist_full["test_accuracy"]


def test_nan_loss_names_the_step_and_keeps_the_checkpoint(tmp_path):
    ck = tmp_path / "ck.npz"
    x, y = gaussian_clusters(64, dim=4, classes=2, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    model = nn.MLP((4, 8, 2), rng=rng)
    opt = SGD(model.parameters(), lr=0.1)
    fit(model, (x, y), optimizer=opt, epochs=1, batch_size=16, rng=rng, checkpoint=str(ck), progress=False)
    before = ck.read_bytes()
    x_bad = x.copy()
    x_bad[20] = np.nan
    with pytest.raises(FloatingPointError, match=r"loss is nan at step \d+ \(epoch 1, batch \d+\); the last good checkpoint"):
        fit(model, (x_bad, y), optimizer=opt, epochs=1, batch_size=16, rng=np.random.default_rng(1),
            checkpoint=str(ck), progress=False)
    assert ck.read_bytes() == before
    assert len(stash.ledger()) == 0


def test_bad_data_and_labels_are_refused():
    rng = np.random.default_rng(0)
    model = nn.MLP((4, 2), rng=rng)
    opt = SGD(model.parameters(), lr=0.1)
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        fit(model, (x, np.full(8, 5)), optimizer=opt, epochs=1, batch_size=4, rng=rng, progress=False)
    with pytest.raises(ValueError, match=r"train_data\[0\] must be an ndarray with 7 rows \(as many as the labels\)"):
        fit(model, (x, np.zeros(7, int)), optimizer=opt, epochs=1, batch_size=4, rng=rng, progress=False)
    with pytest.raises(ValueError, match="labels \\(the last array\\) must be integers"):
        evaluate(model, (x, np.zeros(8)))


def test_mini_bert_learns_a_sequence_task():
    rng = np.random.default_rng(0)
    tok, mask, y = marker_sequences(512, seq_len=12, vocab=24, rng=rng)
    model = nn.MiniBERT(24, max_len=12, dim=32, heads=2, layers=1, ff_dim=64, dropout=0.0, rng=rng)
    opt = AdamW(model.parameters(), lr=3e-3)
    hist = fit(model, (tok[:400], mask[:400], y[:400]), optimizer=opt, epochs=6, batch_size=32,
               rng=rng, policy=stash.DeferredDropout(0.5), test_data=(tok[400:], mask[400:], y[400:]),
               progress=False)
    assert hist["test_accuracy"][-1] > 0.9
