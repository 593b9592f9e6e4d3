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
