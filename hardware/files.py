"""Reading the files the model takes (chip configs, workloads, traces) with errors that name
the file and what is wrong with it, instead of a bare library traceback."""
from __future__ import annotations

import json
import os


class InputFileError(ValueError):
    """A chip config, workload or trace file that cannot be used; the message names the file."""


def read_text(path, what: str) -> str:
    """The text of ``path``; ``what`` says what the file should be (for the message)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file (expected {what})") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, expected {what}") from None
    except UnicodeDecodeError as e:
        raise InputFileError(f"{path}: not UTF-8 text (byte {e.start}); expected {what}") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read {what}: {e.strerror}") from None


def read_json(path, what: str):
    """Parsed JSON of ``path``; a syntax error names the file, line and column."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(f"{os.fspath(path)}: not valid JSON ({e.msg} at line {e.lineno}, "
                             f"column {e.colno}); expected {what}") from None
