"""Argument checks shared by the data functions: errors name the function and the argument."""
from __future__ import annotations

import math
import os
import numbers

import numpy as np


def check_int(v, name: str, who: str, minimum: int) -> int:
    """``v`` as an int >= ``minimum`` (NumPy integers accepted, bools refused)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ValueError(f"{who}: {name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def check_nonneg(v, name: str, who: str) -> float:
    """``v`` as a finite float >= 0."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {v!r}")
    return float(v)


def check_rng(rng, who: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who}: rng must be a numpy.random.Generator (for example "
                        f"numpy.random.default_rng(0)), got {type(rng).__name__}")
    return rng


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
