"""Where the shipped data files are found.

The files are package data of ``minidd`` (``minidd/datasets/``, provenance in the repository's
``datasets/README.md``), read with :mod:`importlib.resources`: the same in a source checkout,
after ``pip install -e .`` and after ``pip install .``, from any working directory.  A folder in
``$MINIDD_DATA_DIR`` is searched first and overrides them.
"""
from __future__ import annotations

import atexit
import contextlib
import os
from importlib import resources
from pathlib import Path

PACKAGE, FOLDER = "minidd", "datasets"
_extracted = contextlib.ExitStack()  # files of a zipped install, extracted once, removed at exit
atexit.register(_extracted.close)


def _packaged(filename: str):
    return resources.files(PACKAGE).joinpath(FOLDER).joinpath(filename)


def find(filename: str) -> Path:
    """The path of a shipped data file, or a ``FileNotFoundError`` that says where we looked."""
    looked = []
    env = os.environ.get("MINIDD_DATA_DIR")
    if env:
        p = Path(env) / filename
        if p.is_file():
            return p
        looked.append(f"{p} (MINIDD_DATA_DIR)")
    res = _packaged(filename)
    if res.is_file():
        return res if isinstance(res, Path) else _extracted.enter_context(resources.as_file(res))
    looked.append(f"{res} (package data of minidd)")
    shown = "\n  ".join(looked)
    raise FileNotFoundError(
        f"data file {filename!r} not found. Looked in:\n  {shown}\n"
        "Reinstall minidd (`pip install .` ships the data files as package data), or set "
        "MINIDD_DATA_DIR to a folder that holds it.")
