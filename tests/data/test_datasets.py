import numpy as np
import pytest

from minidd import data
from minidd.data import files


def test_missing_file_says_where_it_looked_and_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDD_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="(?s)nope.npz.*Looked in:.*MINIDD_DATA_DIR"):
        files.find("nope.npz")


def test_data_dir_env_takes_precedence(monkeypatch, tmp_path):
    (tmp_path / "mnist10k.npz").write_bytes(b"x")
    monkeypatch.setenv("MINIDD_DATA_DIR", str(tmp_path))
    assert files.find("mnist10k.npz") == tmp_path / "mnist10k.npz"


def test_mnist_split_is_stratified_seeded_and_scaled():
    (xtr, ytr), (xte, yte) = data.load_mnist(seed=0)
    assert xtr.shape == (8000, 1, 28, 28) and xte.shape == (2000, 1, 28, 28)
    assert xtr.dtype == np.float32 and 0.0 <= xtr.min() and xtr.max() <= 1.0
    per_class = np.array([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])
    assert np.abs(np.bincount(yte) - per_class * 0.2).max() <= 0.5
    (xtr2, ytr2), _ = data.load_mnist(seed=0)
    assert np.array_equal(xtr, xtr2) and np.array_equal(ytr, ytr2)
    (_, ytr3), _ = data.load_mnist(seed=1)
    assert not np.array_equal(ytr, ytr3)
    (flat, _), _ = data.load_mnist(flatten=True)
    assert flat.shape == (8000, 784)


def test_tokenizer_is_fitted_on_training_texts_only():
    tok = data.WordTokenizer.fit(["free money now", "free offer", "meeting at noon"], vocab_size=10, min_count=1)
    assert tok.vocab[:4] == list(data.text.SPECIALS) and tok.vocab[4] == "free"
    ids, mask = tok.encode(["free zebra", ""], max_len=4)
    assert ids.tolist() == [[data.CLS, tok.index["free"], data.UNK, data.PAD], [data.CLS, 0, 0, 0]]
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]
    with pytest.raises(ValueError, match="max_len must be an int >= 2"):
        tok.encode(["x"], max_len=1)


def test_spam_split():
    tr, te, tok = data.load_spam(seed=0)
    assert tr[0].shape == (4700, 128) and te[0].shape == (1175, 128) and len(tok) == 8000
    assert abs(tr[2].mean() - 1763 / 5875) < 0.01 and abs(te[2].mean() - 1763 / 5875) < 0.01
    assert (tr[0][:, 0] == data.CLS).all()
    assert tr[1].dtype == bool and (tr[1] == (tr[0] != data.PAD)).all()


def test_synthetic_tasks_and_batches_are_seeded():
    a = data.gaussian_clusters(100, rng=np.random.default_rng(3))
    b = data.gaussian_clusters(100, rng=np.random.default_rng(3))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    x, y = data.spirals(50, rng=np.random.default_rng(0))
    assert x.shape == (50, 2) and set(np.unique(y)) <= {0, 1, 2}
    tok, mask, lab = data.marker_sequences(40, rng=np.random.default_rng(0))
    assert ((tok == 4).any(axis=1) == (lab == 1)).all()
    it = data.BatchIterator((x, y), 16, rng=np.random.default_rng(1))
    batches = list(it)
    assert len(it) == len(batches) == 4 and sum(len(b[1]) for b in batches) == 50
    order = np.concatenate([b[1] for b in batches])
    assert sorted(order.tolist()) == sorted(y.tolist())
    with pytest.raises(ValueError, match="array 1 has 3 rows"):
        data.BatchIterator((x, y[:3]), 4, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="shuffle=True needs rng"):
        data.BatchIterator((x, y), 4)


def test_char_tokenizer_and_streams():
    from minidd.data.chars import UNK_CHAR, CharTokenizer, load_char_streams
    tok = CharTokenizer.fit(["abca", "bab"], vocab_size=3)   # a and b; c is unknown
    assert tok.symbols == "ab" and len(tok) == 3
    np.testing.assert_array_equal(tok.encode("abcz"), [1, 2, 0, 0])
    assert tok.decode([1, 0, 2]) == "a" + UNK_CHAR + "b"
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(["a"])
    fit, val, test, tok = load_char_streams(vocab_size=96)
    assert len(tok) == 96 and fit.dtype == np.int64 and fit.max() < 96
    # the tokenizer saw the fit e-mails only; the three streams are disjoint e-mails
    bodies, labels = data.read_spam_corpus()
    _, test_ids = data.stratified_split(labels, 0.2, np.random.default_rng(0))   # load_spam's test e-mails
    assert len(test) == sum(len(bodies[i]) + 1 for i in test_ids) - 1
    assert len(fit) + len(val) + len(test) == sum(len(b) + 1 for b in bodies) - 3
    assert 0.05 < len(val) / (len(fit) + len(val)) < 0.2
    assert (fit == 0).mean() < 5e-3   # the 95 most frequent symbols cover all but 0.2%


def test_mnist1d_is_the_standard_split_and_validation_is_carved_from_training():
    (x, y), (xt, yt) = data.load_mnist1d()
    assert x.shape == (4000, 40) and xt.shape == (1000, 40) and x.dtype == np.float32
    assert np.bincount(yt).tolist() == [102, 104, 89, 106, 106, 98, 99, 96, 98, 102]
    (a, b), (v, w), (t, u) = data.load_mnist1d(validation=500)
    assert len(b) + len(w) == 4000 and 490 <= len(w) <= 510 and np.array_equal(t, xt)
    rows = {r.tobytes() for r in x}
    assert all(r.tobytes() in rows for r in v)                  # validation comes from training
    with pytest.raises(ValueError, match="validation=4000 leaves no training"):
        data.load_mnist1d(validation=4000)


def test_read_mnist1d_names_a_bad_file(tmp_path):
    p = tmp_path / "m.npz"
    np.savez(p, x=np.zeros((3, 40)), y=np.zeros(3, np.uint8), x_test=np.zeros((2, 39)), y_test=np.zeros(2, np.uint8))
    with pytest.raises(data.DataFileError, match="'x_test' is float64 \\(2, 39\\)"):
        data.read_mnist1d(p)
