"""Where the shipped data files are found.

Search order: the folder in ``$MINIDD_DATA_DIR``; the repository's ``datasets/`` (a source
checkout or ``pip install -e .``); ``<prefix>/share/minidd/datasets`` (where ``pip install .``
puts them).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def candidate_dirs() -> list[Path]:
    dirs = []
    env = os.environ.get("MINIDD_DATA_DIR")
    if env:
        dirs.append(Path(env))
    dirs.append(Path(__file__).resolve().parents[2] / "datasets")
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        dirs.append(Path(prefix) / "share" / "minidd" / "datasets")
    return dirs


def find(filename: str) -> Path:
    """The path of a shipped data file, or a ``FileNotFoundError`` that says where we looked."""
    dirs = candidate_dirs()
    for d in dirs:
        p = d / filename
        if p.is_file():
            return p
    looked = "\n  ".join(str(d / filename) for d in dirs)
    raise FileNotFoundError(
        f"data file {filename!r} not found. Looked in:\n  {looked}\n"
        "Reinstall minidd from its repository (`pip install .` ships datasets/), or set "
        "MINIDD_DATA_DIR to a folder that holds it.")
