"""Sweeps of recipe runs: configurations, presets, a locked and resumable results store, executors.

A sweep is the product tasks x policies x seeds, plus any *arms* (:class:`Arm`: a task under a
policy with recipe overrides, such as weight decay, dropout or frozen layers) x the same seeds;
a study (:mod:`minidd.study.studies`) is a sweep of arms.  Its results live in one folder:

``config.json``       the sweep's configuration, the minidd version and every recipe's
                      hyperparameters: a folder never mixes two configurations;
``runs.jsonl``        one :class:`~minidd.study.results.RunResult` per line, appended as runs finish
                      (ok or failed); rerunning the same command skips the ok runs and retries
                      the failed ones;
``runs.damaged.txt``  lines of ``runs.jsonl`` that could not be read, set aside (their runs
                      are redone);
``sweep.lock``        held (``fcntl.flock``) while a sweep runs in the folder.

Each run executes in a process of its own (:mod:`minidd.study.worker`) with single-threaded BLAS, on
a local thread pool (``executor="local"``, ``jobs`` at once) or as a task on a Dask cluster
(``executor="dask"``): the numbers are the same either way.
"""
from __future__ import annotations

import concurrent.futures as cf
import errno
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .. import __version__, _check, atomic, stash
from . import recipes
from .results import ResultsFileError, RunResult, run_key
from .worker import Processes, execute

log = logging.getLogger(__name__)

DROPS_FULL = (0.5, 0.75, 0.9, 0.95)
DEFAULT_RUNNER = "minidd.study.measure:run"
EXECUTORS = ("local", "dask")
DASK_CONNECT_TIMEOUT = "10s"
#: Wall-clock bound on the connection and handshake probe of a scheduler (see _probe_scheduler).
DASK_HANDSHAKE_SECONDS = 10.0
CONFIG, RUNS, DAMAGED, LOCK = "config.json", "runs.jsonl", "runs.damaged.txt", "sweep.lock"


@dataclass(frozen=True)
class Arm:
    """One arm of a study: ``task`` trained under the policy ``spec`` with the recipe overrides
    ``hp`` (``recipes.config(task, **hp)`` must accept them), named ``name`` in keys and tables
    (``task|name|seed``; no ``|`` in it).  ``floor`` names the arm whose runs are this arm's
    floor in the retained fraction R (``""``: none)."""
    name: str
    task: str
    spec: str
    hp: dict = field(default_factory=dict)
    floor: str = ""

    def __post_init__(self):
        for f in ("name", "task", "spec", "floor"):
            if not isinstance(getattr(self, f), str):
                raise TypeError(f"Arm: {f} must be a str, got {getattr(self, f)!r}")
        if not self.name or "|" in self.name:
            raise ValueError(f"Arm: name must be a non-empty str without '|', got {self.name!r}")
        if not isinstance(self.hp, dict):
            raise TypeError(f"Arm {self.name!r}: hp must be a dict of recipe overrides, got {self.hp!r}")
        if self.task not in recipes.RECIPES:
            raise ValueError(f"Arm {self.name!r}: unknown task {self.task!r}; choose from {', '.join(recipes.RECIPES)}")
        recipes.config(self.task, **self.hp)   # a clear error for an unknown hyperparameter
        object.__setattr__(self, "spec", stash.format_spec(self.spec))


@dataclass(frozen=True)
class SweepConfig:
    """What a sweep runs: ``models`` (recipe names) x ``policies`` (specs) x ``seeds``, then
    every one of ``arms`` (:class:`Arm`) x ``seeds``; ``models`` must list every arm's task
    (:meth:`of_arms` builds a sweep of arms alone).

    Policies are specs (``stash.parse_spec``'s grammar, ``random_k:<drop>`` for the random-k
    control among them), stored canonical (``stash.format_spec``); two specs of one policy are refused.  ``epochs`` and ``train_limit`` map a model to its budget (epochs, or steps for
    ``mlm``) and training subset; a model missing from them gets the recipe's default.
    """
    models: tuple
    policies: tuple
    seeds: tuple
    epochs: dict = field(default_factory=dict)
    train_limit: dict = field(default_factory=dict)
    arms: tuple = ()

    @classmethod
    def of_arms(cls, arms, seeds, epochs=None, train_limit=None) -> "SweepConfig":
        """A sweep of ``arms`` x ``seeds`` alone (no product of policies)."""
        tasks = tuple(dict.fromkeys(a.task for a in arms))
        return cls(tasks, (), seeds, epochs or {}, train_limit or {}, tuple(arms))

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        for name in ("models", "policies", "seeds", "arms"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise TypeError(f"SweepConfig: {name} must be a list or tuple, got {value!r}")
            set_(name, tuple(value))
        if not (self.models and (self.policies or self.arms) and self.seeds):
            raise ValueError("a sweep needs at least one model, policy (or arm) and seed")
        self._check_arms()
        for m in self.models:
            if m not in recipes.RECIPES:
                raise ValueError(f"unknown model {m!r}; choose from {', '.join(recipes.RECIPES)}")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models are listed twice: {list(self.models)}")
        canonical, by_key = [], {}
        for text in self.policies:
            if not isinstance(text, str):
                raise TypeError(f"SweepConfig: policies must be spec strings (stash.format_spec(policy) "
                                f"gives a policy's), got {text!r}")
            k = stash.format_spec(text)  # a clear error for a bad spec or option
            if k in by_key:
                raise ValueError(f"policies {by_key[k]!r} and {text!r} are the same policy; list it once")
            by_key[k] = text
            canonical.append(k)
        set_("policies", tuple(canonical))
        set_("seeds", tuple(_check.integer(s, "each seed", least=0, form="a non-negative int") for s in self.seeds))
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds are listed twice: {list(self.seeds)}")
        for name in ("epochs", "train_limit"):
            value = getattr(self, name)
            if not isinstance(value, dict):
                raise TypeError(f"SweepConfig: {name} must be a dict model -> int, got {value!r}")
            for m in value:
                if m not in self.models:
                    raise ValueError(f"{name} names model {m!r}, which is not in the sweep {list(self.models)}")
            set_(name, {m: _check.positive_int(value[m], f"{name}[{m!r}]") for m in self.models if m in value})

    def _check_arms(self):
        seen = set(self.policies)
        for a in self.arms:
            if not isinstance(a, Arm):
                raise TypeError(f"SweepConfig: arms must be Arm records, got {a!r}")
            if a.task not in self.models:
                raise ValueError(f"arm {a.name!r} trains {a.task!r}, which is not in the sweep's models {list(self.models)}")
            if (a.task, a.name) in seen or a.name in self.policies:
                raise ValueError(f"arm name {a.name!r} is used twice for {a.task!r}; arm names are unique per task")
            seen.add((a.task, a.name))
        for a in self.arms:
            if a.floor and (a.task, a.floor) not in seen:
                raise ValueError(f"arm {a.name!r}: its floor {a.floor!r} is not an arm of {a.task!r}")

    def runs(self) -> list[tuple]:
        """Every run as ``(model, label, seed)``, in a fixed order; the label is the policy spec
        of a product run, the arm's name of an arm's run."""
        return ([(m, p, s) for m in self.models for p in self.policies for s in self.seeds]
                + [(a.task, a.name, s) for a in self.arms for s in self.seeds])

    def arm(self, model: str, label: str) -> Arm:
        """The arm a run label names (a product run is the arm of its spec, no overrides)."""
        for a in self.arms:
            if a.task == model and a.name == label:
                return a
        return Arm(stash.format_spec(label), model, label)

    def key(self, model: str, label: str, seed: int) -> str:
        if any(a.task == model and a.name == label for a in self.arms):
            return run_key(model, label, seed)
        return run_key(model, stash.format_spec(label), seed)

    def to_json(self) -> dict:
        d = json.loads(json.dumps(asdict(self)))
        if not self.arms:
            del d["arms"]   # a sweep without arms keeps the configuration record it always had
        return d


# Selections a systolic array can skip (hardware/README.md): blocks of 128 along the reduction
# dimension (block=128 is the default: one streamed vector of a 128-row array) and whole rows (tokens / positions).
STRUCTURED = ("deferred_dropout:0.9,structure=block", "deferred_dropout:0.9,structure=row")

PRESETS = {
    "quick": SweepConfig(("mlp", "cnn", "bert", "mlm"),
                         ("dense", "zero_value", "deferred_dropout:0.5", "deferred_dropout:0.9",
                          STRUCTURED[0]), (0,),
                         epochs={"mlp": 3, "cnn": 2, "bert": 1, "mlm": 100},
                         train_limit={"cnn": 4000, "bert": 2400}),
    "full": SweepConfig(("mlp", "cnn", "bert", "mlm"),
                        ("dense", "zero_value") + tuple(f"deferred_dropout:{d}" for d in DROPS_FULL)
                        + STRUCTURED,
                        (0, 1, 2)),
}


def from_preset(preset: str, models=None, policies=None, drops=None, seeds=None, epochs: int | None = None,
                train_limit: int | None = None) -> SweepConfig:
    """A preset with overrides.  ``None`` means "the preset's"; every other value is used as
    given (``epochs=0`` is refused, not taken for "not given").  ``drops`` is short for
    ``dense``, ``zero_value`` and ``deferred_dropout:<d>`` for each ``d > 0``; give it or
    ``policies``, not both.  ``epochs`` / ``train_limit`` apply to every model."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if policies is not None and drops is not None:
        raise ValueError("give policies or drop rates, not both (drop rates are short for "
                         "dense, zero_value and deferred_dropout:<drop>)")
    base = PRESETS[preset]
    models = tuple(models) if models is not None else base.models
    if drops is not None:
        policies = ("dense", "zero_value") + tuple(f"deferred_dropout:{d:g}" for d in drops if d > 0)
    return SweepConfig(
        models, tuple(policies) if policies is not None else base.policies,
        tuple(seeds) if seeds is not None else base.seeds,
        {m: epochs for m in models} if epochs is not None else {m: e for m, e in base.epochs.items() if m in models},
        ({m: train_limit for m in models} if train_limit is not None
         else {m: n for m, n in base.train_limit.items() if m in models}))


def recipe_hyperparameters(model: str) -> dict:
    """The recipe's hyperparameters (``recipes.config(model)``), recorded in ``config.json`` so a
    changed recipe is a different configuration."""
    return recipes.config(model)


def config_record(config: SweepConfig) -> dict:
    """What ``config.json`` holds: the sweep, the minidd version, every recipe's hyperparameters."""
    return {**config.to_json(), "minidd_version": __version__,
            "recipes": json.loads(json.dumps({m: recipe_hyperparameters(m) for m in config.models}))}


class SweepLocked(RuntimeError):
    """Another sweep is running in the folder."""


def _ours(name: str) -> bool:
    """Files a sweep may have left in a folder before writing its config (lock, temporaries)."""
    return name == LOCK or (name.startswith(".") and name.endswith(atomic.TEMP_SUFFIX))


def claim_folder(folder: Path) -> None:
    """Create ``folder``, or accept it if it is empty or holds a ``config.json`` (a sweep's);
    refuse a folder holding anything else, naming those files: they were not written by a sweep."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise OSError(e.errno, f"cannot use output folder {folder}: {e.strerror}", str(folder)) from None
    if CONFIG in names:
        return
    foreign = [n for n in names if not _ours(n)]
    if foreign:
        shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
        raise ValueError(f"output folder {folder} holds files a sweep did not write ({shown}) and no "
                         f"{CONFIG}; choose an empty or new folder (nothing there was changed)")


class ResultsStore:
    """A sweep's folder (see the module docstring).  Use as a context manager: entering claims
    the folder, checks ``config.json`` (before touching anything), takes the lock, writes
    ``config.json`` if it is new and removes stale temporary files of killed writes."""

    def __init__(self, folder, config: SweepConfig):
        self.folder = Path(folder)
        self.config = config
        self.record = config_record(config)
        self.config_path, self.runs_path = self.folder / CONFIG, self.folder / RUNS
        self.damaged_path, self.lock_path = self.folder / DAMAGED, self.folder / LOCK
        self._lock_fd = None

    def __enter__(self) -> "ResultsStore":
        claim_folder(self.folder)
        self._check_config(write=False)  # a folder of another configuration: refused untouched
        self._lock()
        try:
            self._check_config(write=True)
            for p in self.folder.iterdir():
                if _ours(p.name) and p.name != LOCK:
                    p.unlink()  # a temporary file of a killed write: the lock says no one writes it
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc):
        self._unlock()

    def _lock(self):
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise OSError(e.errno, f"cannot lock the sweep folder {self.folder} ({self.lock_path}): "
                                   f"{e.strerror}", str(self.lock_path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise SweepLocked(f"{self.folder} is in use by another sweep ({holder}); wait for it to "
                                  "finish or stop it, then run the same command again to resume") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._lock_fd = fd

    def _unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _check_config(self, write: bool):
        if not self.config_path.exists():
            if write:
                atomic.atomic_write(self.config_path, json.dumps(self.record, indent=2) + "\n")
            return
        try:
            have = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ResultsFileError(f"{self.config_path}: cannot read the sweep's configuration ({e}); "
                                   "it is not a minidd sweep folder or the file is damaged") from None
        if not isinstance(have, dict):
            raise ResultsFileError(f"{self.config_path}: expected a JSON object (a sweep's configuration), "
                                   f"got {type(have).__name__}; choose another --out folder")
        if have != self.record:
            diff = sorted(k for k in set(have) | set(self.record) if have.get(k) != self.record.get(k))
            raise ValueError(
                f"{self.folder} holds results of a different configuration (differs in: "
                f"{', '.join(diff)}; see {self.config_path}); choose another --out folder or delete "
                "this one, results are never mixed")

    def load(self) -> dict[str, RunResult]:
        """The folder's runs by key: an ok record wins over failed ones, else the latest failure.

        Lines that cannot be read (a torn last line of a killed write, a damaged or foreign line)
        are moved to ``runs.damaged.txt`` with a warning; their runs count as not done."""
        if not self.runs_path.exists():
            return {}
        try:
            raw = self.runs_path.read_bytes()
        except OSError as e:
            raise OSError(e.errno, f"cannot read {self.runs_path}: {e.strerror}", str(self.runs_path)) from None
        keys = {self.config.key(*run) for run in self.config.runs()}
        lines = raw.split(b"\n")
        good, bad, runs = [], [], {}
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                r = RunResult.from_json(line.decode("utf-8"), source=f"{self.runs_path} line {n}")
                if r.key not in keys:
                    raise ResultsFileError(f"{self.runs_path} line {n}: run {r.key!r} is not a run of this sweep")
                foreign = _other_settings(r, self.config)
                if foreign:
                    raise ResultsFileError(f"{self.runs_path} line {n}: run {r.key!r} was run with "
                                           f"{foreign}: a line from another sweep")
            except (ResultsFileError, UnicodeDecodeError) as e:
                torn = " (a torn last line: the sweep was killed while writing it)" if n == len(lines) else ""
                bad.append((line, f"{e}{torn}"))
                continue
            good.append(line)
            if r.key not in runs or not runs[r.key].ok:
                runs[r.key] = r  # an ok record wins over failed ones, and the first ok one counts
        if bad:
            with atomic.open_atomic(self.damaged_path, "wb") as f:
                if self.damaged_path.exists():
                    f.write(self.damaged_path.read_bytes())
                for line, _ in bad:
                    f.write(line + b"\n")
            atomic.atomic_write(self.runs_path, b"".join(g + b"\n" for g in good))
            for _, why in bad:
                log.warning("%s; set aside in %s, its run will be redone", why, self.damaged_path)
        return runs

    def append(self, result: RunResult) -> None:
        """Append one run as a single write of one line, then fsync."""
        atomic.append_line(self.runs_path, result.to_json())


def _other_settings(r: RunResult, config: SweepConfig) -> str:
    """What in ``r.settings`` disagrees with this sweep's budget for its model, or ''."""
    want_epochs, want_limit = config.epochs.get(r.task), config.train_limit.get(r.task)
    s = r.settings
    if "train_limit" in s and s["train_limit"] != want_limit:
        return f"train_limit {s['train_limit']!r}, not this sweep's {want_limit!r}"
    if "epochs" in s and s["epochs"] != want_epochs:
        return f"epochs {s['epochs']!r}, not this sweep's {want_epochs!r}"
    hp = s.get("hp")
    if isinstance(hp, dict) and r.task in recipes.RECIPES:
        name = "steps" if "steps" in hp else "epochs"
        arm_hp = config.arm(r.task, r.key.split("|")[1]).hp   # an arm may set its own budget
        want = want_epochs or arm_hp.get(name) or recipes.config(r.task).get(name)
        if name in hp and hp[name] != want:
            return f"{name} {hp[name]!r}, not this sweep's {want!r}"
    return ""


def _connect(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("executor 'dask' needs dask.distributed: pip install \"minidd[distributed]\"") from None
    _probe_scheduler(scheduler)
    try:
        return Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError, TypeError, MemoryError) as e:
        raise ValueError(f"cannot connect to the Dask scheduler {scheduler!r}: "
                         f"{type(e).__name__}: {e}") from None


def _probe_scheduler(scheduler) -> None:
    """Connect to a ``tcp://`` scheduler and read the first 8 bytes of its handshake (a Dask
    scheduler sends it unasked: the message length), all within ``DASK_HANDSHAKE_SECONDS``; a
    server that accepts and stays silent (an HTTP server waits for a request) or answers with
    something else is refused with a ValueError instead of hanging or failing deep in Dask."""
    if not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be an address string such as 'tcp://host:8786', got {scheduler!r}")
    scheme, _, rest = scheduler.rpartition("://")
    if scheme not in ("", "tcp"):
        return  # tls://, inproc://, ...: Dask's own timeout applies
    host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "8786")
    if not port.isdigit():
        raise ValueError(f"scheduler {scheduler!r}: expected tcp://host:port, the port a number")
    where = f"the Dask scheduler {scheduler!r}"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=DASK_HANDSHAKE_SECONDS) as so:
            so.settimeout(DASK_HANDSHAKE_SECONDS)
            head = b""
            while len(head) < 8:
                chunk = so.recv(8 - len(head))
                if not chunk:
                    raise ValueError(f"{where} closed the connection before its handshake")
                head += chunk
    except (socket.timeout, TimeoutError):
        raise ValueError(f"{where} accepted the connection but sent no Dask handshake within "
                         f"{DASK_HANDSHAKE_SECONDS} s: is it a Dask scheduler (port 8786), not an "
                         "HTTP server such as its dashboard (port 8787)?") from None
    except OSError as e:
        raise ValueError(f"cannot connect to {where}: {e.strerror or e}") from None
    if head.startswith(b"HTTP") or int.from_bytes(head, "little") > 1 << 26:
        raise ValueError(f"{where} answered {head!r}, which is not a Dask handshake: is it a Dask "
                         "scheduler (port 8786), not an HTTP server (such as the dashboard, 8787)?")


def _describe(result: RunResult) -> str:
    if not result.ok:
        return "FAILED: " + result.error.strip().splitlines()[-1]
    m = result.metrics
    seconds = result.timings.get("seconds")
    return (f"ok, test accuracy {m['test_accuracy']:.4f}, test loss {m['test_loss']:.4f}"
            + (f" ({seconds:.1f} s)" if seconds is not None else ""))


def run_sweep(config: SweepConfig, folder, jobs: int = 1, progress: bool = True, max_runs: int | None = None,
              executor: str = "local", scheduler: str | None = None, runner: str = DEFAULT_RUNNER,
              runner_path: tuple = ()) -> list[RunResult]:
    """Run every run of ``config`` that has no ok result in ``folder``; return all its results.

    ``executor="local"`` runs ``jobs`` runs at once on this machine; ``executor="dask"`` submits
    each run as a task to the Dask scheduler at ``scheduler`` (``"tcp://host:8786"``).  A run
    that fails is recorded as failed and the others go on; the next call retries it.  On
    ``KeyboardInterrupt`` the running runs are stopped and the interrupt re-raised.
    ``max_runs`` stops after that many runs; ``runner`` (``"module:function"``, its module found
    on ``runner_path`` if given) replaces :func:`minidd.study.measure.run`.
    """
    if not isinstance(folder, (str, os.PathLike)) or not str(folder):
        raise TypeError(f"folder must be a path (str or pathlib.Path), got {folder!r}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if executor == "local":
        _check.positive_int(jobs, "jobs")
        if scheduler is not None:
            raise ValueError("a scheduler address is for executor 'dask'")
    elif not isinstance(scheduler, str) or not scheduler:
        raise ValueError("executor 'dask' needs the scheduler's address, e.g. tcp://host:8786")
    if max_runs is not None:
        _check.positive_int(max_runs, "max_runs")
    if not isinstance(runner, str) or ":" not in runner:
        raise ValueError(f"runner must be 'module:function', got {runner!r}")
    client = _connect(scheduler) if executor == "dask" else None
    try:
        with ResultsStore(folder, config) as store:
            _run_missing(store, config, jobs, progress, max_runs, client, runner, runner_path)
            have = store.load()
    finally:
        if client is not None:
            client.close()
    return [have[k] for k in (config.key(*run) for run in config.runs()) if k in have]


def _run_missing(store, config, jobs, progress, max_runs, client, runner, runner_path):
    have = store.load()
    level = logging.getLogger("minidd").getEffectiveLevel()
    todo = []
    for model, label, seed in config.runs():
        key = config.key(model, label, seed)
        if key in have and have[key].ok:
            continue
        arm = config.arm(model, label)
        settings = {"epochs": config.epochs.get(model), "train_limit": config.train_limit.get(model)}
        if arm.hp or arm.name != arm.spec:
            settings.update(hp=arm.hp, arm=arm.name)
        todo.append({"key": key, "task": model, "spec": arm.spec, "seed": seed,
                     "policy": stash.as_policy(arm.spec).config(), "settings": settings, "runner": runner,
                     "sys_path": [str(p) for p in runner_path], "log_level": level})
    total, done = len(config.runs()), len(config.runs()) - len(todo)
    todo = todo[:max_runs]
    retried = sum(1 for j in todo if j["key"] in have)
    log.info("sweep in %s: %d of %d runs done, %d to run%s", store.folder, done, total, len(todo),
             f" ({retried} failed before, retried)" if retried else "")
    if not todo:
        return
    procs = Processes()
    if client is None:
        pool, run = cf.ThreadPoolExecutor(max_workers=jobs), procs.execute
    else:
        pool, run = client.get_executor(pure=False), execute
    futures = {}
    try:
        with tqdm(total=total, initial=done, desc="sweep", disable=not progress, unit="run") as bar:
            futures = {pool.submit(run, job): job for job in todo}
            for fut in cf.as_completed(futures):
                job = futures[fut]
                try:
                    result = RunResult.from_json(fut.result(), source=f"the result of run {job['key']}")
                except Exception as e:  # noqa: BLE001 - a lost Dask task or an unreadable result
                    result = RunResult.failed(job["key"], job["task"], job["policy"], job["spec"], job["seed"],
                                              f"{type(e).__name__}: {e}", settings=job["settings"])
                store.append(result)
                log.info("%s %s seed %d: %s", job["task"], job["spec"], job["seed"], _describe(result))
                bar.update(1)
    except BaseException:
        procs.stop()
        for fut in futures:
            fut.cancel()
        raise
    finally:
        pool.shutdown(wait=client is None)
