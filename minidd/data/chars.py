"""Character-level text: a tokenizer over the most frequent symbols, and the e-mail streams.

A character language model reads one long stream of symbols: the e-mail bodies of a split,
joined by a newline.  :func:`load_char_streams` cuts the e-mails with the same seeded
stratified split as :func:`~minidd.data.text.load_spam` (so the test e-mails are the other text
tasks' test e-mails), sets a validation slice of the *training* e-mails aside for tuning, fits
the tokenizer on the remaining training e-mails and encodes the three streams.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .. import _check
from .checks import check_texts
from .split import stratified_split
from .text import read_spam_corpus

UNK_CHAR = "\ufffd"   # the unknown symbol's printable stand-in
SEPARATOR = "\n"      # joins the e-mails of a stream


class CharTokenizer:
    """Id 0 is the unknown symbol; ids 1.. are the ``vocab_size - 1`` most frequent characters
    of the fitting texts (ties broken by code point: deterministic)."""

    def __init__(self, symbols: str):
        if not isinstance(symbols, str) or len(set(symbols)) != len(symbols) or UNK_CHAR in symbols:
            raise ValueError("CharTokenizer: symbols must be a str of distinct characters without "
                             f"the unknown symbol {UNK_CHAR!r}")
        self.symbols = symbols
        self.index = {c: i + 1 for i, c in enumerate(symbols)}
        self._table = None

    @classmethod
    def fit(cls, texts, vocab_size: int = 96) -> "CharTokenizer":
        vocab_size = _check.integer(vocab_size, "CharTokenizer.fit: vocab_size", least=2)
        counts = Counter()
        for t in check_texts(texts, "CharTokenizer.fit"):
            counts.update(t)
        counts.pop(UNK_CHAR, None)
        ranked = sorted(counts, key=lambda c: (-counts[c], ord(c)))
        return cls("".join(ranked[:vocab_size - 1]))

    def __len__(self):
        return len(self.symbols) + 1

    def encode(self, text: str) -> np.ndarray:
        """The ids (int64) of every character of ``text``; unknown characters give 0."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: text must be a str, got {type(text).__name__}")
        if self._table is None:
            self._table = {ord(c): chr(i) for c, i in self.index.items()}
        # str.translate maps each character in C; ids fit in one code point each
        mapped = text.translate(_Default(self._table))
        return np.frombuffer(mapped.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)

    def decode(self, ids) -> str:
        """The text of ``ids``; 0 (unknown) gives :data:`UNK_CHAR`."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu" or (ids.size and (ids.min() < 0 or ids.max() >= len(self))):
            raise ValueError(f"CharTokenizer.decode: ids must be integers in [0, {len(self)})")
        return "".join(UNK_CHAR if i == 0 else self.symbols[i - 1] for i in ids.ravel())


class _Default(dict):
    """A translate table that maps every character it does not hold to id 0."""

    def __missing__(self, key):
        return "\x00"


def load_char_streams(seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.1,
                      vocab_size: int = 96):
    """``(fit, validation, test, tokenizer)``: three int64 id streams of the e-mail bodies.

    The test e-mails are :func:`~minidd.data.text.load_spam`'s (same seed and fraction); the
    validation stream is the last ``val_fraction`` of the (shuffled) training e-mails, the fit
    stream the rest, and the tokenizer is fitted on the fit stream's e-mails only.
    """
    seed = _check.integer(seed, "load_char_streams: seed", least=0)
    for name, v in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        _check.number(v, f"load_char_streams: {name}", 0, 1, low_open=True, high_open=True)
    bodies, labels = read_spam_corpus()
    train, test = stratified_split(labels, test_fraction, np.random.default_rng(seed))
    n_val = max(1, int(round(val_fraction * len(train))))
    fit_ids, val_ids = train[:-n_val], train[-n_val:]
    tok = CharTokenizer.fit([bodies[i] for i in fit_ids], vocab_size)

    def stream(ids):
        return tok.encode(SEPARATOR.join(bodies[i] for i in ids))

    return stream(fit_ids), stream(val_ids), stream(test), tok
