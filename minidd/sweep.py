"""Sweeps of recipe runs: configurations, presets, a resumable results store, parallel runs.

A sweep is the product models x policies x seeds.  Its results live in one folder:
``config.json`` (the sweep's configuration: a folder never mixes two) and ``runs.jsonl`` (one
line per finished run, appended atomically).  Rerunning a sweep into the same folder skips the
runs already there, so an interrupted sweep resumes without losing or duplicating a run.

Every run executes in a worker process with single-threaded BLAS, so that its numbers do not
depend on ``jobs`` (OpenBLAS sums in a different order with more threads).
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .measure import make_policy
from .recipes import RECIPES

DROPS_FULL = (0.5, 0.75, 0.9, 0.95)


@dataclass(frozen=True)
class SweepConfig:
    models: tuple
    policies: tuple
    seeds: tuple
    epochs: dict = field(default_factory=dict)        #: per model; missing: the recipe's
    train_limit: dict = field(default_factory=dict)   #: per model; missing: all training data

    def __post_init__(self):
        for m in self.models:
            if m not in RECIPES:
                raise ValueError(f"unknown model {m!r}; choose from {', '.join(RECIPES)}")
        for p in self.policies:
            make_policy(p)  # raises a clear error for a bad spec or drop rate
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ValueError(f"seeds must be non-negative ints, got {s!r}")
        if not (self.models and self.policies and self.seeds):
            raise ValueError("a sweep needs at least one model, policy and seed")

    def runs(self) -> list[tuple]:
        return [(m, p, s) for m in self.models for p in self.policies for s in self.seeds]

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


PRESETS = {
    "quick": SweepConfig(("mlp", "cnn", "bert", "mlm"),
                         ("dense", "zero_value", "deferred_dropout:0.5", "deferred_dropout:0.9"), (0,),
                         epochs={"mlp": 3, "cnn": 2, "bert": 1, "mlm": 100},
                         train_limit={"cnn": 4000, "bert": 2400}),
    "full": SweepConfig(("mlp", "cnn", "bert", "mlm"),
                        ("dense", "zero_value") + tuple(f"deferred_dropout:{d}" for d in DROPS_FULL),
                        (0, 1, 2)),
}


def key(run: dict | tuple) -> tuple:
    if isinstance(run, dict):
        return run["task"], run["spec"], run["seed"]
    return tuple(run)


class ResultsStore:
    """``config.json`` plus ``runs.jsonl`` in ``folder``; refuses a folder of another sweep."""

    def __init__(self, folder, config: SweepConfig):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path = self.folder / "config.json"
        self.runs_path = self.folder / "runs.jsonl"
        want = config.to_json()
        if self.config_path.exists():
            have = json.loads(self.config_path.read_text())
            if have != want:
                raise ValueError(
                    f"{self.folder} holds results of a different configuration ({have}); "
                    "choose another --out folder or delete this one, results are never mixed")
        else:
            tmp = self.config_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(want, indent=2))
            os.replace(tmp, self.config_path)

    def load(self) -> list[dict]:
        """Finished runs; a torn last line (a run killed mid-write) is cut off."""
        if not self.runs_path.exists():
            return []
        raw = self.runs_path.read_bytes()
        complete = raw[:raw.rfind(b"\n") + 1]
        if len(complete) != len(raw):
            with open(self.runs_path, "r+b") as f:
                f.truncate(len(complete))
        runs, seen = [], set()
        for line in complete.decode().splitlines():
            if line.strip():
                r = json.loads(line)
                if key(r) not in seen:
                    seen.add(key(r))
                    runs.append(r)
        return runs

    def append(self, result: dict) -> None:
        """Append one run as a single write of one line, then fsync."""
        data = (json.dumps(result, sort_keys=True) + "\n").encode()
        fd = os.open(self.runs_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def _worker_env():
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def run_sweep(config: SweepConfig, folder, jobs: int = 1, progress: bool = True,
              max_runs: int | None = None) -> list[dict]:
    """Run every missing run of ``config`` into ``folder``; return all its runs.

    ``max_runs`` stops after that many new runs (used to test interruption).
    """
    from . import measure

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int, got {jobs!r}")
    store = ResultsStore(folder, config)
    done = {key(r) for r in store.load()}
    todo = [r for r in config.runs() if r not in done][:max_runs]
    saved = {var: os.environ.get(var) for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    _worker_env()  # inherited by the spawned workers before they import NumPy
    try:
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool, \
                tqdm(total=len(config.runs()), initial=len(done), desc="sweep", disable=not progress) as bar:
            futures = {pool.submit(measure.run, m, p, s, config.epochs.get(m), config.train_limit.get(m),
                                   progress and jobs == 1): (m, p, s) for m, p, s in todo}
            for fut in cf.as_completed(futures):
                result = fut.result()
                store.append(result.to_dict())
                bar.set_postfix_str(f"{result.task} {result.spec} s{result.seed}: "
                                    f"acc {result.metrics['test_accuracy']:.4f}")
                bar.update(1)
    finally:
        for var, v in saved.items():
            if v is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = v
    return store.load()
