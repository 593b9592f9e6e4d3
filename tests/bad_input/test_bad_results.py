"""The results store and the Dask connection under bad input: lines are checked against the
sweep and never glued, NaN metrics and another sweep's lines are set aside (their runs redone),
and a scheduler that does not answer, or is an HTTP server, is a clear error within a bound."""
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from minidd import atomic
from minidd.study import sweep as S
from minidd.study.results import ResultsFileError, RunResult
from minidd.study.sweep import SweepConfig, run_sweep

HERE = Path(__file__).resolve().parents[1] / "study"
CFG = SweepConfig(("mlp",), ("dense",), (0, 1), epochs={"mlp": 1}, train_limit={"mlp": 8})


def _sweep(folder, cfg=CFG):
    return run_sweep(cfg, folder, progress=False, runner="sweep_fakes:run", runner_path=(HERE,))


def test_append_never_glues_onto_a_last_line_without_newline(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text('{"a": 1}')              # a complete line, its newline lost
    atomic.append_line(path, '{"b": 2}')
    assert path.read_text().splitlines() == ['{"a": 1}', '{"b": 2}']


def test_a_sweep_resumes_from_a_runs_file_whose_last_newline_is_missing(tmp_path):
    _sweep(tmp_path)
    runs = tmp_path / "runs.jsonl"
    lines = runs.read_text().splitlines()
    runs.write_text(lines[0])                # second run lost, first without its newline
    results = _sweep(tmp_path)
    assert len(results) == 2 and all(r.ok for r in results)
    kept = runs.read_text().splitlines()
    assert len(kept) == 2 and all(json.loads(line) for line in kept)


def test_nan_metrics_are_not_a_finished_run():
    good = dict(key="mlp|dense|0", task="mlp", policy={"policy": "dense"}, spec="dense", seed=0)
    for metrics in ({"test_accuracy": float("nan"), "test_loss": 1.0},
                    {"test_accuracy": 0.5, "test_loss": 1.0, "val_accuracy": float("inf")}):
        line = json.dumps({"schema": 1, **good, "metrics": metrics})
        with pytest.raises(ResultsFileError, match=r"line 3: an ok run.* finite"):
            RunResult.from_json(line, source="runs.jsonl line 3")


def test_nan_line_and_another_sweeps_line_are_set_aside_and_redone(tmp_path, caplog):
    other = tmp_path / "other"
    _sweep(other, SweepConfig(("mlp",), ("dense",), (0, 1), epochs={"mlp": 3}, train_limit={"mlp": 8}))
    _sweep(tmp_path / "mine")
    mine = tmp_path / "mine" / "runs.jsonl"
    first, second = mine.read_text().splitlines()
    nan = json.loads(first)
    nan["metrics"]["test_accuracy"] = float("nan")
    foreign = (other / "runs.jsonl").read_text().splitlines()[1]   # same key, epochs 3
    mine.write_text(json.dumps(nan) + "\n" + foreign + "\n")
    results = _sweep(tmp_path / "mine")
    assert [r.settings["epochs"] for r in results] == [1, 1] and all(r.ok for r in results)
    damaged = (tmp_path / "mine" / "runs.damaged.txt").read_text()
    assert "NaN" in damaged and '"epochs": 3' in damaged
    assert "was run with epochs 3, not this sweep's 1: a line from another sweep" in caplog.text
    assert "finite number metrics['test_accuracy'], got nan" in caplog.text


class _Server:
    """A local TCP server on 127.0.0.1 that accepts and then stays silent, or answers as an
    HTTP server does once it has read a request."""

    def __init__(self, http):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.http, self.conns, self.stop = http, [], False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(conn)
            if self.http:
                conn.settimeout(5)
                try:
                    conn.recv(1 << 16)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("http", [False, True], ids=["silent", "http"])
def test_a_server_that_is_not_a_scheduler_is_a_clear_error_within_the_bound(http, monkeypatch):
    monkeypatch.setattr(S, "DASK_HANDSHAKE_SECONDS", 0.5)
    server = _Server(http)
    try:
        t0 = time.monotonic()
        with pytest.raises(ValueError, match=r"Dask scheduler 'tcp://127.0.0.1:\d+' accepted the "
                                             r"connection but sent no Dask handshake within 0.5 s"):
            S._probe_scheduler(server.address)
        assert time.monotonic() - t0 < 3
    finally:
        server.close()


def test_a_server_that_answers_garbage_is_refused(monkeypatch):
    monkeypatch.setattr(S, "DASK_HANDSHAKE_SECONDS", 2.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    port = sock.getsockname()[1]

    def answer():
        conn, _ = sock.accept()
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        time.sleep(0.5)
        conn.close()

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        with pytest.raises(ValueError, match=r"answered b'HTTP/1.0', which is not a Dask handshake"):
            S._probe_scheduler(f"tcp://127.0.0.1:{port}")
    finally:
        t.join()
        sock.close()


def test_the_sweep_command_names_a_silent_scheduler_and_writes_nothing(tmp_path, monkeypatch, capsys):
    pytest.importorskip("distributed")
    from minidd.study import cli
    monkeypatch.setattr(S, "DASK_HANDSHAKE_SECONDS", 0.5)
    server = _Server(http=False)
    out = tmp_path / "out"
    try:
        code = cli.main(["--executor", "dask", "--scheduler", server.address, "--out", str(out),
                         "--no-progress"])
    finally:
        server.close()
    err = capsys.readouterr().err
    assert code == 2 and "sent no Dask handshake within 0.5 s" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("address, exc, match", [
    (8786, TypeError, r"scheduler must be an address string"),
    ("tcp://127.0.0.1:port", ValueError, r"expected tcp://host:port, the port a number"),
])
def test_a_malformed_scheduler_address_is_named(address, exc, match):
    with pytest.raises(exc, match=match):
        S._probe_scheduler(address)
