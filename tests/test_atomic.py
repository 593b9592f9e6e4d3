"""minidd.atomic: atomic writes keep the old file on any failure and leave no temporary file."""
import errno
import os

import numpy as np
import pytest

from minidd import atomic


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_replaces_the_file_with_bytes_or_text(tmp_path):
    path = tmp_path / "a.json"
    atomic.atomic_write(path, b"old")
    atomic.atomic_write(path, "né\n")
    assert path.read_bytes() == "né\n".encode()
    assert _listing(tmp_path) == ["a.json"]


def test_the_file_gets_normal_permissions_not_mkstemps_0600(tmp_path):
    path = tmp_path / "a.txt"
    atomic.atomic_write(path, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_replace_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    atomic.atomic_write(path, "old")

    def broken(src, dst):
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OSError, match="cannot write .*a.txt") as e:
        atomic.atomic_write(path, "new")
    assert e.value.filename == str(path)
    assert path.read_text() == "old" and _listing(tmp_path) == ["a.txt"]


def test_an_exception_inside_open_atomic_keeps_the_old_file(tmp_path):
    path = tmp_path / "r.csv"
    atomic.atomic_write(path, "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic.open_atomic(path, "w") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old" and _listing(tmp_path) == ["r.csv"]


def test_a_missing_folder_is_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        atomic.atomic_write(tmp_path / "nope" / "a.txt", "x")


def test_bad_data_type_is_refused_naming_the_file(tmp_path):
    with pytest.raises(TypeError, match="a.txt.*bytes or str"):
        atomic.atomic_write(tmp_path / "a.txt", 3)
    assert _listing(tmp_path) == []


def test_atomic_savez_round_trips_and_cleans_up_on_failure(tmp_path):
    path = tmp_path / "ck.npz"
    atomic.atomic_savez(path, {"w": np.arange(3.0)})
    with np.load(path) as z:
        assert z["w"].tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(TypeError):
        atomic.atomic_savez(path, {"w": np.arange(2.0), 3: 1})   # a non-string key fails inside savez
    with np.load(path) as z:
        assert z["w"].tolist() == [0.0, 1.0, 2.0]
    assert _listing(tmp_path) == ["ck.npz"]


def test_append_line_appends_whole_lines(tmp_path):
    path = tmp_path / "runs.jsonl"
    atomic.append_line(path, '{"a": 1}')
    atomic.append_line(path, '{"a": 2}')
    assert path.read_text() == '{"a": 1}\n{"a": 2}\n'
    with pytest.raises(ValueError, match="newline"):
        atomic.append_line(path, "x\ny")


def test_a_target_that_is_a_folder_is_named_and_no_temporary_stays(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(OSError, match="cannot write .*out") as e:
        atomic.atomic_write(tmp_path / "out", "x")
    assert e.value.filename == str(tmp_path / "out") and _listing(tmp_path) == ["out"]
    with pytest.raises(IsADirectoryError, match="cannot write .*out"):
        atomic.append_line(tmp_path / "out", "x")


def test_atomic_copy_replaces_the_target_and_cleans_up_on_failure(tmp_path, monkeypatch):
    src, dst = tmp_path / "ck.npz", tmp_path / "ck.npz.prev"
    src.write_bytes(b"new")
    dst.write_bytes(b"old")
    atomic.atomic_copy(src, dst)
    assert dst.read_bytes() == b"new" and _listing(tmp_path) == ["ck.npz", "ck.npz.prev"]

    def no_links(a, b):
        raise OSError(errno.EPERM, "no hard links")
    monkeypatch.setattr(atomic.os, "link", no_links)   # the copy fallback
    src.write_bytes(b"newer")
    atomic.atomic_copy(src, dst)
    assert dst.read_bytes() == b"newer" and not os.path.samefile(src, dst)

    def broken(a, b):
        raise OSError(errno.EIO, "I/O error")
    monkeypatch.setattr(atomic.os, "replace", broken)
    with pytest.raises(OSError, match="cannot write .*ck.npz.prev"):
        atomic.atomic_copy(tmp_path / "ck.npz", dst)
    assert dst.read_bytes() == b"newer" and _listing(tmp_path) == ["ck.npz", "ck.npz.prev"]


def test_remove_stale_temps_removes_only_the_targets_temporaries(tmp_path):
    path = tmp_path / "run[1].npz"
    for name in (".run[1].npz.abc.tmp", ".other.npz.x.tmp", "run[1].npz"):
        (tmp_path / name).write_bytes(b"")
    atomic.remove_stale_temps(path)
    assert _listing(tmp_path) == [".other.npz.x.tmp", "run[1].npz"]


def test_check_writable_folder_raises_for_a_missing_folder_and_leaves_nothing(tmp_path):
    atomic.check_writable_folder(tmp_path / "a.npz")
    assert _listing(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        atomic.check_writable_folder(tmp_path / "nope" / "a.npz")
