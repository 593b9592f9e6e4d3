"""Argument checks particular to the data functions (texts, data file paths); numbers and
generators are checked by :mod:`minidd._check`."""
from __future__ import annotations

import os


def check_texts(texts, who: str) -> list:
    """A sequence of str (a single str would be read as one text per character)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{who}: texts must be a list of str, got a single {type(texts).__name__}; wrap it: [text]")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{who}: texts must be a list of str, got {type(texts).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{who}: texts[{i}] must be a str, got {type(t).__name__}")
    return texts


def check_file(path, who: str):
    """``path`` names an existing file (not a folder); ``FileNotFoundError`` if missing."""
    from .errors import DataFileError
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise TypeError(f"{who}: path must be a file path (str or os.PathLike), got {path!r}")
    if os.path.isdir(path):
        raise DataFileError(path, "is a folder, not a file")
    return path
