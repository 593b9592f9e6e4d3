"""Bad data files and arguments for minidd.data: each a clear error naming the file or argument.

Damaged copies of the shipped files are made in tmp_path and found through MINIDD_DATA_DIR."""
import gzip
import json

import numpy as np
import pytest

from minidd import data
from minidd.data import DataFileError, files


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDD_DATA_DIR", str(tmp_path))
    return tmp_path


def _mnist_bytes():
    return files.find("mnist10k.npz").read_bytes()


def _spam_lines(n=20):
    with gzip.open(files.find("spamassassin_bodies.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [next(f) for _ in range(n)]


# -- MNIST npz ------------------------------------------------------------------------------------

def test_truncated_mnist_names_the_file(data_dir):
    raw = _mnist_bytes()
    (data_dir / "mnist10k.npz").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(DataFileError, match=r"data file .*mnist10k\.npz: .*truncated or corrupt"):
        data.load_mnist()


def test_mnist_with_a_damaged_member_names_the_file(data_dir):
    raw = bytearray(_mnist_bytes())
    raw[len(raw) // 3:len(raw) // 3 + 64] = bytes(64)   # zeroed bytes inside the compressed images
    (data_dir / "mnist10k.npz").write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"mnist10k\.npz: .*(truncated or corrupt)"):
        data.load_mnist()


def test_mnist_that_is_not_an_archive_names_the_file(data_dir):
    (data_dir / "mnist10k.npz").write_text("<html>404 Not Found</html>")
    with pytest.raises(DataFileError, match=r"mnist10k\.npz: not a readable .npz archive"):
        data.load_mnist()
    np.save(data_dir / "x.npy", np.zeros(3))
    (data_dir / "x.npy").rename(data_dir / "mnist10k.npz")
    with pytest.raises(DataFileError, match=r"mnist10k\.npz: holds a single .npy array"):
        data.load_mnist()


@pytest.mark.parametrize("arrays, problem", [
    ({"images": np.zeros((5, 28, 28), np.uint8)}, r"has no \['labels'\] entry"),
    ({"images": np.zeros((5, 784), np.uint8), "labels": np.zeros(5, np.uint8)}, r"'images' is uint8 \(5, 784\)"),
    ({"images": np.zeros((5, 28, 28), np.float32), "labels": np.zeros(5, np.uint8)}, r"'images' is float32"),
    ({"images": np.zeros((5, 28, 28), np.uint8), "labels": np.zeros(4, np.uint8)}, r"'labels' is uint8 \(4,\); expected 5"),
    ({"images": np.zeros((5, 28, 28), np.uint8), "labels": np.full(5, 12)}, r"'labels' range over 12\.\.12; expected 0\.\.9"),
])
def test_mnist_with_wrong_entries_names_the_file_and_the_entry(data_dir, arrays, problem):
    np.savez(data_dir / "mnist10k.npz", **arrays)
    with pytest.raises(DataFileError, match=r"mnist10k\.npz: " + problem):
        data.load_mnist(test_size=2)


def test_mnist_test_size_is_checked_against_the_file(data_dir):
    np.savez(data_dir / "mnist10k.npz", images=np.zeros((5, 28, 28), np.uint8), labels=np.arange(5))
    with pytest.raises(ValueError, match="test_size=5 leaves no training images out of 5"):
        data.load_mnist(test_size=5)
    with pytest.raises(TypeError, match="test_size must be an int"):
        data.load_mnist(test_size=True)


# -- SpamAssassin jsonl.gz ------------------------------------------------------------------------

def _write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(lines)


def test_truncated_spam_corpus_names_the_file(data_dir):
    raw = files.find("spamassassin_bodies.jsonl.gz").read_bytes()
    (data_dir / "spamassassin_bodies.jsonl.gz").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(DataFileError, match=r"spamassassin_bodies\.jsonl\.gz: cannot be read as gzip.*truncated or corrupt"):
        data.read_spam_corpus()


def test_spam_corpus_that_is_not_gzip_names_the_file(data_dir):
    (data_dir / "spamassassin_bodies.jsonl.gz").write_text('{"body": "x", "label": 0}\n')
    with pytest.raises(DataFileError, match=r"spamassassin_bodies\.jsonl\.gz: cannot be read as gzip"):
        data.load_spam()


def test_corrupt_gzip_data_names_the_file(data_dir):
    raw = bytearray(files.find("spamassassin_bodies.jsonl.gz").read_bytes())
    raw[5000:5100] = bytes(100)
    (data_dir / "spamassassin_bodies.jsonl.gz").write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"spamassassin_bodies\.jsonl\.gz: .*(truncated or corrupt|line \d+)"):
        data.read_spam_corpus()


@pytest.mark.parametrize("bad_line, problem", [
    ('{"group": "ham", "label": 0}\n', r"line 3: the object has no 'body'"),
    ('{"body": "hi"}\n', r"line 3: the object has no 'label'"),
    ('{"body": 5, "label": 0}\n', r'line 3: "body" must be a string, got int'),
    ('{"body": "hi", "label": "spam"}\n', r'line 3: "label" must be 0 \(ham\) or 1 \(spam\), got \'spam\''),
    ('["hi", 1]\n', r"line 3: expected a JSON object"),
    ('{"body": "hi", "lab\n', r"line 3 is not JSON"),
])
def test_a_bad_line_names_the_file_and_line(data_dir, bad_line, problem):
    lines = _spam_lines(4)
    _write_gz(data_dir / "spamassassin_bodies.jsonl.gz", lines[:2] + [bad_line] + lines[2:])
    with pytest.raises(DataFileError, match=r"spamassassin_bodies\.jsonl\.gz: " + problem):
        data.read_spam_corpus()


def test_an_empty_corpus_names_the_file(data_dir):
    _write_gz(data_dir / "spamassassin_bodies.jsonl.gz", [])
    with pytest.raises(DataFileError, match=r"spamassassin_bodies\.jsonl\.gz: holds no e-mails"):
        data.read_spam_corpus()


def test_an_explicit_corpus_path_is_read_and_named(tmp_path):
    path = tmp_path / "mine.jsonl.gz"
    _write_gz(path, [json.dumps({"body": "free money", "label": 1}) + "\n"])
    bodies, labels = data.read_spam_corpus(path)
    assert bodies == ["free money"] and labels.tolist() == [1]
    with pytest.raises(FileNotFoundError):
        data.read_spam_corpus(tmp_path / "nope.jsonl.gz")


# -- batching and splitting -----------------------------------------------------------------------

def test_batch_iterator_arguments_are_named():
    x, y = np.zeros((6, 2)), np.zeros(5, int)
    with pytest.raises(ValueError, match="BatchIterator: array 1 has 5 rows, array 0 has 6"):
        data.BatchIterator((x, y), 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="BatchIterator: batch_size must be a positive int, got 0"):
        data.BatchIterator((x,), 0, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="BatchIterator: shuffle=True needs rng"):
        data.BatchIterator((x,), 2, rng=0)


def test_batch_iterator_refuses_a_single_array_and_lists():
    with pytest.raises(TypeError, match=r"BatchIterator: arrays must be a tuple of arrays, such as \(x, y\), got a single ndarray"):
        data.BatchIterator(np.zeros((6, 2)), 2, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="BatchIterator: array 1 must be a numpy.ndarray with one row per example, got list"):
        data.BatchIterator((np.zeros((3, 2)), [0, 1, 2]), 2, rng=np.random.default_rng(0))
    assert len(data.BatchIterator((np.zeros((6, 2)),), np.int32(4), shuffle=False)) == 2


@pytest.mark.parametrize("call, error, message", [
    (lambda r: data.gaussian_clusters(10, dim=0, rng=r), ValueError, "gaussian_clusters: dim must be an int >= 1, got 0"),
    (lambda r: data.gaussian_clusters(10, classes=2.5, rng=r), TypeError, "gaussian_clusters: classes must be an int >= 1, got 2.5"),
    (lambda r: data.gaussian_clusters(10, spread=-1, rng=r), ValueError, "gaussian_clusters: spread must be a finite number >= 0, got -1"),
    (lambda r: data.gaussian_clusters("10", rng=r), TypeError, "gaussian_clusters: n must be an int >= 1, got '10'"),
    (lambda r: data.spirals(0, rng=r), ValueError, "spirals: n must be an int >= 1, got 0"),
    (lambda r: data.spirals(5, noise=float("nan"), rng=r), ValueError, "spirals: noise must be a finite number >= 0, got nan"),
    (lambda r: data.marker_sequences(5, seq_len=1, rng=r), ValueError, "marker_sequences: seq_len must be an int >= 2, got 1"),
    (lambda r: data.marker_sequences(5, vocab=5, rng=r), ValueError, "marker_sequences: vocab must be an int >= 6, got 5"),
])
def test_synthetic_task_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call(np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        data.spirals(5, rng=3)


def test_tokenizer_arguments_are_named():
    with pytest.raises(TypeError, match=r"WordTokenizer.fit: texts must be a list of str, got a single str; wrap it: \[text\]"):
        data.WordTokenizer.fit("free money now")
    with pytest.raises(TypeError, match=r"WordTokenizer.fit: texts\[1\] must be a str, got int"):
        data.WordTokenizer.fit(["a", 3])
    with pytest.raises(ValueError, match="WordTokenizer.fit: min_count must be an int >= 1, got 0"):
        data.WordTokenizer.fit(["a"], min_count=0)
    with pytest.raises(ValueError, match="WordTokenizer.fit: vocab_size must be an int >= 5, got 4"):
        data.WordTokenizer.fit(["a"], vocab_size=4)
    tok = data.WordTokenizer.fit(["free money", "free"], vocab_size=10, min_count=1)
    with pytest.raises(TypeError, match="WordTokenizer.encode: texts must be a list of str, got a single str"):
        tok.encode("free money")
    with pytest.raises(TypeError, match="WordTokenizer.encode: texts must be a list of str, got int"):
        tok.encode(5)


def test_loader_arguments_are_named_before_reading():
    with pytest.raises(TypeError, match="load_mnist: seed must be an int >= 0, got 'a'"):
        data.load_mnist(seed="a")
    with pytest.raises(ValueError, match="load_spam: seed must be an int >= 0, got -1"):
        data.load_spam(seed=-1)
    with pytest.raises(ValueError, match=r"load_spam: test_fraction must be a number in \(0, 1\), got 1"):
        data.load_spam(test_fraction=1)
    with pytest.raises(ValueError, match="load_spam: max_len must be an int >= 2, got 1"):
        data.load_spam(max_len=1)


def test_stratified_split_arguments_are_named():
    with pytest.raises(ValueError, match="stratified_split: test_fraction must be in \\(0, 1\\)"):
        data.stratified_split(np.zeros(4, int), 1.5, np.random.default_rng(0))
    with pytest.raises(TypeError, match="stratified_split: rng must be a numpy.random.Generator"):
        data.stratified_split(np.zeros(4, int), 0.5, 0)
    with pytest.raises(TypeError, match="stratified_split: test_fraction must be in \\(0, 1\\), got '0.2'"):
        data.stratified_split(np.zeros(4, int), "0.2", np.random.default_rng(0))
    with pytest.raises(ValueError, match="stratified_split: labels must be a non-empty 1-D array"):
        data.stratified_split(np.zeros((2, 2), int), 0.5, np.random.default_rng(0))


def test_reader_paths_are_checked(tmp_path):
    for read in (data.read_mnist, data.read_spam_corpus):
        with pytest.raises(TypeError, match=f"{read.__name__}: path must be a file path \\(str or os.PathLike\\), got 5"):
            read(5)
        with pytest.raises(DataFileError, match=f"data file {tmp_path}: is a folder, not a file"):
            read(tmp_path)
        with pytest.raises(FileNotFoundError, match="nope"):
            read(tmp_path / "nope")
