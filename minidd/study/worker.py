"""One sweep run in a process of its own.

:func:`execute` starts a fresh Python process for one run (a *job*, plain JSON data), sends it
the job on its standard input and reads the run's :class:`~minidd.study.results.RunResult` back from
its standard output.  One run per process buys three guarantees:

* **A lost process costs only its own run.**  A run that raises, or a process that dies (killed,
  out of memory), comes back as a ``"failed"`` result naming the cause; no other run is touched.
* **Nothing outlives the sweep.**  The process keeps its standard input open and ends itself
  (``os._exit``) the moment it reads end-of-file there, which happens when whoever started it
  goes away, even by ``kill -9``.  It runs in its own session, so a terminal's Ctrl-C reaches
  only the sweep, which then stops its processes itself (:meth:`Processes.stop`).
* **Numbers do not depend on the executor or the process count.**  Every process starts with
  single-threaded BLAS (``OPENBLAS_NUM_THREADS=1`` ...), set before NumPy loads: OpenBLAS sums in
  a different order with more threads.

The same :func:`execute` runs on the local thread pool and as a Dask task on a cluster's worker.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

from .results import RunResult

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); from minidd.study.worker import main; main()"


def single_threaded_env() -> dict:
    """This process's environment with every BLAS thread count set to 1."""
    return {**os.environ, **{v: "1" for v in BLAS_THREAD_VARS}}


class Processes:
    """Starts run processes and can stop all that are running (used by one sweep)."""

    def __init__(self):
        self._live: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def execute(self, job: dict) -> str:
        """Run ``job`` in a new process; its result as one JSON line (``"failed"`` if it died)."""
        package_root = str(Path(__file__).resolve().parents[1])
        with self._lock:
            if self._stopping:
                return _failed(job, "the sweep was stopped before this run started")
            proc = subprocess.Popen([sys.executable, "-c", _BOOTSTRAP, package_root],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    env=single_threaded_env(), start_new_session=True, close_fds=True)
            self._live.add(proc)
        try:
            try:
                proc.stdin.write(json.dumps(job).encode() + b"\n")
                proc.stdin.flush()
            except BrokenPipeError:
                pass  # the process died at start; its exit code says why
            out = proc.stdout.read()
            code = proc.wait()
        finally:
            proc.stdin.close()  # end-of-file: a process still running ends itself
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with self._lock:
                self._live.discard(proc)
        line = out.decode("utf-8", "replace").strip()
        if code == 0 and line:
            return line
        if code < 0:
            why = f"the run's process was killed by {signal.Signals(-code).name}"
        else:
            why = f"the run's process exited with code {code} without a result (its error output is above)"
        return _failed(job, why)

    def stop(self) -> None:
        """Kill every running run process and start no more."""
        with self._lock:
            self._stopping = True
            live = list(self._live)
        for proc in live:
            if proc.poll() is None:
                proc.kill()


def execute(job: dict) -> str:
    """:meth:`Processes.execute` for one job (what a Dask task runs on a cluster worker)."""
    return Processes().execute(job)


def _failed(job: dict, error: str) -> str:
    return RunResult.failed(job["key"], job["task"], job["policy"], job["spec"], job["seed"], error,
                            settings=job["settings"]).to_json()


def _exit_when_orphaned():
    """Block until standard input closes (the parent is gone), then end this process at once."""
    sys.stdin.buffer.read()
    os._exit(3)


def main() -> None:
    """The run process: read one job from stdin, run it, write its result line to stdout."""
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)           # anything the run prints goes to stderr, not into the result channel
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.buffer.readline())
    threading.Thread(target=_exit_when_orphaned, daemon=True).start()
    logging.basicConfig(level=job.get("log_level", logging.WARNING), format="%(message)s")
    t0 = time.perf_counter()
    try:
        result = run_job(job)
    except BaseException:  # noqa: BLE001 - every failure becomes the run's record
        result = RunResult.failed(job["key"], job["task"], job["policy"], job["spec"], job["seed"],
                                  traceback.format_exc(), settings=job["settings"],
                                  timings={"seconds": time.perf_counter() - t0})
    result_out.write(result.to_json() + "\n")
    result_out.flush()
    sys.stderr.flush()
    os._exit(0)


def run_job(job: dict) -> RunResult:
    """Call the job's runner (``"module:function"``) and stamp the sweep's identity on its result."""
    for folder in reversed(job.get("sys_path", [])):
        sys.path.insert(0, folder)
    module, _, name = job["runner"].partition(":")
    runner = getattr(importlib.import_module(module), name)
    t0 = time.perf_counter()
    settings = job["settings"]
    extra = {"hp": settings["hp"]} if "hp" in settings else {}   # an arm's recipe overrides
    raw = runner(job["task"], job["spec"], job["seed"], epochs=settings.get("epochs"),
                 train_limit=settings.get("train_limit"), **extra)
    if not isinstance(raw, RunResult):
        raise TypeError(f"runner {job['runner']} returned {type(raw).__name__}, expected a RunResult")
    timings = {"seconds": time.perf_counter() - t0, **raw.timings}
    arm = {"arm": settings["arm"]} if "arm" in settings else {}
    return replace(raw, key=job["key"], policy=job["policy"], spec=job["spec"], timings=timings,
                   settings={**raw.settings, **arm})

