"""SpamAssassin e-mails (``datasets/spamassassin_bodies.jsonl.gz``) and a word-level tokenizer.

Word level, because spam is told by its words ("click", "free", "$", "remove") and a vocabulary
of a few thousand words covers most of each e-mail's first 128 tokens; bytes would make those 128
positions cover only a line or two, and byte-pair encoding adds a training stage that buys little
for a classifier this size.
"""
from __future__ import annotations

import gzip
import json
import re
from collections import Counter

import numpy as np

from .. import _check
from .checks import check_file, check_texts
from .errors import READ_ERRORS, DataFileError
from .files import find
from .split import stratified_split

PAD, UNK, CLS, MASK = 0, 1, 2, 3
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[MASK]")
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[$!?%@]")


def words(text: str) -> list[str]:
    """Lower-cased words, numbers and the symbols ``$ ! ? % @``."""
    return _TOKEN.findall(text.lower())


class WordTokenizer:
    """Maps words to ids: the ``vocab_size - 4`` most frequent words of the fitting texts after
    the specials ``[PAD] [UNK] [CLS] [MASK]`` (ties broken alphabetically: deterministic)."""

    def __init__(self, vocab: list[str]):
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}

    @classmethod
    def fit(cls, texts, vocab_size: int = 8000, min_count: int = 2) -> "WordTokenizer":
        vocab_size = _check.integer(vocab_size, "WordTokenizer.fit: vocab_size", least=len(SPECIALS) + 1)
        min_count = _check.integer(min_count, "WordTokenizer.fit: min_count", least=1)
        texts = check_texts(texts, "WordTokenizer.fit")
        counts = Counter(w for t in texts for w in words(t))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(list(SPECIALS) + ranked[:vocab_size - len(SPECIALS)])

    def __len__(self):
        return len(self.vocab)

    def encode(self, texts, max_len: int = 128):
        """Token ids (B, max_len) int64 starting with [CLS], padded with [PAD]; and the mask of
        real tokens (B, max_len) bool."""
        max_len = _check.integer(max_len, "WordTokenizer.encode: max_len", least=2)
        texts = check_texts(texts, "WordTokenizer.encode")
        ids = np.full((len(texts), max_len), PAD, dtype=np.int64)
        for row, t in enumerate(texts):
            toks = [CLS] + [self.index.get(w, UNK) for w in words(t)[:max_len - 1]]
            ids[row, :len(toks)] = toks
        return ids, ids != PAD


def read_spam_corpus(path=None):
    """All 5,875 e-mails: (bodies as a list of str, labels int64 with 1 = spam).

    ``path`` (default: the shipped ``spamassassin_bodies.jsonl.gz``) is gzip-compressed JSON
    lines, each an object with a str ``"body"`` and a ``"label"`` of 0 or 1.  A damaged file or
    line raises :class:`DataFileError` naming the file (and line)."""
    path = find("spamassassin_bodies.jsonl.gz") if path is None else check_file(path, "read_spam_corpus")
    bodies, labels = [], []
    lineno = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                body, label = _email(json.loads(line))
                bodies.append(body)
                labels.append(label)
    except FileNotFoundError:
        raise
    except _BadLine as e:
        raise DataFileError(path, f"line {lineno}: {e}") from None
    except json.JSONDecodeError as e:
        raise DataFileError(path, f"line {lineno} is not JSON ({e})") from None
    except READ_ERRORS as e:
        raise DataFileError(path, f"cannot be read as gzip-compressed UTF-8 text after line {lineno} "
                                  f"({type(e).__name__}: {e}); it may be truncated or corrupt") from None
    if not bodies:
        raise DataFileError(path, "holds no e-mails")
    return bodies, np.array(labels, dtype=np.int64)


class _BadLine(Exception):
    pass


def _email(row):
    if not isinstance(row, dict):
        raise _BadLine(f"expected a JSON object with \"body\" and \"label\", got {type(row).__name__}")
    missing = [k for k in ("body", "label") if k not in row]
    if missing:
        raise _BadLine(f"the object has no {' or '.join(map(repr, missing))} (keys: {sorted(row)})")
    if not isinstance(row["body"], str):
        raise _BadLine(f"\"body\" must be a string, got {type(row['body']).__name__}")
    if row["label"] not in (0, 1) or isinstance(row["label"], (bool, float)):
        raise _BadLine(f"\"label\" must be 0 (ham) or 1 (spam), got {row['label']!r}")
    return row["body"], row["label"]


def load_spam(seed: int = 0, test_fraction: float = 0.2, max_len: int = 128, vocab_size: int = 8000):
    """Seeded stratified split; the tokenizer is fitted on the training bodies only.

    Returns ``((tok_train, mask_train, y_train), (tok_test, mask_test, y_test), tokenizer)``.
    """
    seed = _check.integer(seed, "load_spam: seed", least=0)
    _check.number(test_fraction, "load_spam: test_fraction", 0, 1, low_open=True, high_open=True)
    _check.integer(max_len, "load_spam: max_len", least=2)
    _check.integer(vocab_size, "load_spam: vocab_size", least=len(SPECIALS) + 1)
    bodies, labels = read_spam_corpus()
    train, test = stratified_split(labels, test_fraction, np.random.default_rng(seed))
    tok = WordTokenizer.fit([bodies[i] for i in train], vocab_size)
    t_tr, m_tr = tok.encode([bodies[i] for i in train], max_len)
    t_te, m_te = tok.encode([bodies[i] for i in test], max_len)
    return (t_tr, m_tr, labels[train]), (t_te, m_te, labels[test]), tok
