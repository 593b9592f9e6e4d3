"""Argument checks for the whole package: one wording, one rule for the exception.

A value of the wrong *type* raises ``TypeError``, a value of the right type but out of range (or
not among the choices) raises ``ValueError``; both say ``"<name> must be <form>, got <value>"``,
where ``name`` is the argument as the caller knows it, prefixed by the function or class
(``"DeferredDropout: block"``).  Every check returns the value normalised (a NumPy integer becomes
an ``int``, a number a ``float``), so a caller writes ``self.block = integer(block, ..., least=1)``.
Booleans are never numbers here: ``True`` is refused where an int or a float is expected.
"""
from __future__ import annotations

import difflib
import math
import numbers

import numpy as np


def _fail(value, name: str, form: str, wrong_type: bool, hint: str = ""):
    cls = TypeError if wrong_type else ValueError
    raise cls(f"{name} must be {form}, got {value!r}{hint}")


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _bound(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _int_form(least, most) -> str:
    if most is not None:
        return f"an int in [{least}, {most}]" if least is not None else f"an int <= {most}"
    return "an int" if least is None else f"an int >= {least}"


def integer(value, name: str, least: int | None = None, most: int | None = None, *,
            form: str | None = None) -> int:
    """``value`` as an ``int`` in ``[least, most]`` (either bound may be left out).

    NumPy integers are accepted, bools and floats are not (``TypeError``).  ``form`` replaces the
    generated description (``"an int >= 2"``, ``"an int in [1, 8]"``).
    """
    form = form or _int_form(least, most)
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        _fail(value, name, form, True)
    if (least is not None and value < least) or (most is not None and value > most):
        _fail(value, name, form, False)
    return int(value)


def positive_int(value, name: str) -> int:
    """A count, a size, a number of steps: an int >= 1, described as "a positive int"."""
    return integer(value, name, least=1, form="a positive int")


def positive(value, name: str) -> float:
    """A learning rate, an epsilon, a norm bound: a finite number > 0."""
    return number(value, name, 0, low_open=True)


def _number_form(low, high, low_open, high_open) -> str:
    if low is not None and high is not None:
        return (f"a number in {'(' if low_open else '['}{_bound(low)}, "
                f"{_bound(high)}{')' if high_open else ']'}")
    if low is not None:
        if low == 0:
            return "a positive number" if low_open else "a finite number >= 0"
        return f"a finite number {'>' if low_open else '>='} {_bound(low)}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {_bound(high)}"
    return "a finite number"


def number(value, name: str, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False, finite: bool = True,
           form: str | None = None) -> float:
    """``value`` as a ``float`` between ``low`` and ``high`` (each bound closed unless
    ``low_open`` / ``high_open``; either may be left out).

    Any real number is accepted (Python or NumPy), a bool or a non-number is not (``TypeError``);
    NaN and infinities are out of range (``ValueError``) unless ``finite=False``.  ``form``
    replaces the description.
    """
    form = form or _number_form(low, high, low_open, high_open)
    if _is_bool(value) or not isinstance(value, numbers.Real):
        _fail(value, name, form, True)
    v = float(value)
    if (finite and not math.isfinite(v)) \
            or (low is not None and (v <= low if low_open else v < low)) \
            or (high is not None and (v >= high if high_open else v > high)):
        _fail(value, name, form, False)
    return v


def fraction(value, name: str) -> float:
    """A drop rate or probability: a number in ``[0, 1)``."""
    return number(value, name, 0.0, 1.0, high_open=True)


def flag(value, name: str) -> bool:
    """``value`` as a ``bool`` (NumPy bools accepted); anything else is a ``TypeError``."""
    if not _is_bool(value):
        _fail(value, name, "True or False", True)
    return bool(value)


def choice(value, name: str, choices):
    """``value`` if it is one of ``choices`` (with a did-you-mean when it is close to one).

    A value of another type than every choice (an int where names are expected) is a
    ``TypeError``; an unknown one of the right type a ``ValueError``.
    """
    choices = tuple(choices)
    try:
        if value in choices:
            return value
    except TypeError:  # unhashable or incomparable: certainly not a choice
        pass
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    wrong_type = not any(isinstance(value, type(c)) for c in choices)
    _fail(value, name, f"one of {choices}", wrong_type, hint)


def rng(value, name: str) -> np.random.Generator:
    """A seeded ``numpy.random.Generator`` (every random draw in minidd comes from one)."""
    if not isinstance(value, np.random.Generator):
        raise TypeError(f"{name} must be a numpy.random.Generator, got {type(value).__name__} "
                        "(make one with numpy.random.default_rng(seed))")
    return value


def instance(value, name: str, types, form: str):
    """``value`` if it is an instance of ``types``, else a ``TypeError`` saying ``form``."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {form}, got {type(value).__name__}")
    return value
