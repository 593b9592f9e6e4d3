"""Crash-safe file writes: every file minidd writes goes through this module.

* :func:`atomic_write` / :func:`open_atomic` / :func:`atomic_savez`: the new content goes to a
  temporary file in the target's folder, is flushed and fsynced, then renamed over the target
  (``os.replace``, atomic on POSIX) and the folder is fsynced.  A reader, or a process killed at
  any moment, sees either the old file or the new one, never a mix; on any failure (including
  ``KeyboardInterrupt``) the temporary file is removed and the old file is left as it was.
* A target that is a symbolic link is followed: the file it points to is replaced and the link
  stays (a rename over the link would turn it into a regular file and leave the target stale).
* :func:`atomic_copy`: the same for a copy of another file (a hard link where possible, so a
  large checkpoint is not copied byte by byte).
* :func:`remove_stale_temps` removes the temporary files a killed writer left next to a target;
  :func:`check_writable_folder` checks that a folder takes a new file before any work starts.
* :func:`append_line`: one ``O_APPEND`` write of a whole line, then fsync (``runs.jsonl``).  A kill
  can at worst leave a torn *last* line, which readers cut off.

Errors name the file being written: ``OSError`` of the same kind (``FileNotFoundError``,
``PermissionError``, ...) with ``filename`` set to the target.
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)
TEMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the OS allows (not on every filesystem)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _named(e: OSError, path: Path) -> OSError:
    """The same kind of OSError, naming the target rather than a temporary file."""
    return OSError(e.errno, f"cannot write {path}: {e.strerror or e}", str(path))


@contextlib.contextmanager
def open_atomic(path, mode: str = "wb", newline: str | None = None):
    """``with open_atomic(path, "w") as f: ...`` writes ``path`` atomically when the block ends.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8).  If the block raises, ``path`` is untouched
    and no temporary file is left behind.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"open_atomic: mode must be 'wb' or 'w', got {mode!r}")
    with _replacing(Path(path)) as (fd, _):
        with open(fd, mode, encoding=None if "b" in mode else "utf-8", newline=newline) as f:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results get normal permissions
            yield f
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def _replacing(path: Path):
    """``with _replacing(path) as (fd, tmp)``: a new temporary file next to ``path`` (open as
    ``fd``) that is renamed over ``path`` when the block ends, then the folder is fsynced.  If the
    block raises, the temporary file is removed and ``path`` is untouched; errors name ``path``.
    A ``path`` that is a symbolic link is followed: its target is replaced, the link kept."""
    path = followed(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise _named(e, path) from e
    try:
        yield fd, tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp):
            raise _named(e, path) from e
        raise
    _fsync_dir(path.parent)


def followed(path) -> Path:
    """``path``, or the file a symbolic link at ``path`` points to (through any chain of links;
    a dangling link gives its target, which the write creates)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def atomic_write(path, data: bytes | str) -> None:
    """Replace ``path`` by ``data`` (``str`` is written as UTF-8) atomically and durably."""
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise TypeError(f"atomic_write({str(path)!r}): data must be bytes or str, got {type(data).__name__}")
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open_atomic(path, "wb") as f:
        f.write(data)


def atomic_savez(path, arrays: dict) -> None:
    """``np.savez(path, **arrays)`` atomically (the file is ``path`` exactly, no ``.npz`` added)."""
    import numpy as np
    with open_atomic(path, "wb") as f:
        np.savez(f, **arrays)


def atomic_copy(src, dst) -> None:
    """Replace ``dst`` by the content of ``src`` atomically: a hard link where the filesystem
    allows (no data copied), else a copy; ``dst`` is never seen half-written."""
    with _replacing(Path(dst)) as (fd, tmp):
        os.close(fd)
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:  # no hard links here: copy, and make the copy durable
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())


def remove_stale_temps(path) -> None:
    """Remove the temporary files that writes of ``path`` killed midway left in its folder."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)


def check_writable_folder(path) -> None:
    """Raise the ``OSError`` that writing ``path`` would meet if its folder takes no new file
    (a probe file, removed at once, is made there)."""
    folder = Path(path).parent
    fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{Path(path).name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    os.unlink(probe)


def append_line(path, line: str) -> None:
    """Append ``line`` (no newline inside; one is added) as a single write, then fsync.  A file
    whose last line lacks its newline (a torn or hand-edited line) gets one first, so the new
    line stays a line of its own."""
    if "\n" in line:
        raise ValueError(f"append_line({str(path)!r}): the line must not contain a newline")
    path = Path(path)
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise _named(e, path) from e
    try:
        end = os.fstat(fd).st_size
        if end and os.pread(fd, 1, end - 1) != b"\n":
            data = b"\n" + data  # the last line lacks its newline: never glue onto it
        written = os.write(fd, data)
        if written != len(data):  # a full disk; the torn line is cut off by readers
            raise OSError(28, f"cannot write {path}: short write ({written} of {len(data)} bytes)", str(path))
        os.fsync(fd)
    finally:
        os.close(fd)
