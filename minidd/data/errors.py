"""The error every data-file reader raises: it names the file and what is wrong with it."""
from __future__ import annotations

import zipfile
import zlib

# what NumPy, zipfile, gzip and json raise on damaged files (gzip.BadGzipFile is an OSError,
# json.JSONDecodeError and UnicodeDecodeError are ValueErrors)
READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class DataFileError(ValueError):
    """A data file that exists but cannot be used (truncated, corrupt, or not in the expected
    form).  ``path`` is the file; the message names it, the problem and the fix."""

    def __init__(self, path, problem: str):
        super().__init__(f"data file {path}: {problem}. If it is a shipped file, reinstall minidd "
                         "(or point MINIDD_DATA_DIR at a good copy)")
        self.path = path


def open_npz(path, entries: str):
    """``np.load(path)`` of an ``.npz`` archive, or a :class:`DataFileError` naming the file:
    not readable, or a single ``.npy`` array (``entries`` says what the archive should hold)."""
    import numpy as np
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except READ_ERRORS as e:
        raise DataFileError(path, f"not a readable .npz archive ({type(e).__name__}: {e}); it may be "
                                  "truncated or corrupt") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise DataFileError(path, f"holds a single .npy array; expected an .npz archive with {entries}")
    return f
