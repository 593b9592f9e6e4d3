"""The result of one run: what a sweep stores (one JSON line of ``runs.jsonl``) and the report reads.

A run trains one *task* (a recipe: ``mlp``, ``cnn``, ``bert``, ``mlm``) under one stash policy
with one seed.  Its :class:`RunResult` has these fields (all plain JSON data):

``key``       the run's identity in a sweep, ``run_key(task, spec_key, seed)``: equal specs of
              one policy (``dd:0.9``, ``deferred_dropout:0.9``) give one key.
``task``      the recipe's name.
``policy``    the policy's full configuration, ``policy.config()`` (every option, defaults
              included; ``stash.from_config`` rebuilds it).
``spec``      the canonical spec string of that policy (``stash.format_spec``), for labels.
``seed``      the run's seed (initialisation, dropout, batch order; the data split is fixed).
``status``    ``"ok"`` or ``"failed"``.
``error``     for a failed run, the exception type, message and traceback text; else ``None``.
``settings``  what the run was asked to do: epochs or steps, training subset, the recipe's
              hyperparameters, the minidd version.
``metrics``   final scalar scores: ``test_accuracy`` and ``test_loss`` for every task (for
              ``mlm``: masked-token accuracy and held-out MLM loss), more per task.
``fidelity``  per weight: the policy's weight gradient against the dense one on a probe batch
              (``stash.gradient_fidelity`` rows); empty for ``dense``.
``stash``     the measured stash footprint on the probe batch (ledger bytes, per role).
``hardware``  the hardware model's figures for the run's trace.
``timings``   every wall-clock figure (training seconds, step times): the only fields that
              differ between two runs of one configuration.
``curves``    training curves (per epoch or every N steps); never wall-clock times.

A failed run has empty ``metrics``, ``fidelity``, ``stash``, ``hardware`` and ``curves``.
Floats are written with ``repr`` precision, so a result read back is bit-identical.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields

SCHEMA = 1
STATUSES = ("ok", "failed")


class ResultsFileError(ValueError):
    """A results file (or line) that is not what minidd wrote; the message names it."""


def run_key(task: str, spec_key, seed: int) -> str:
    """The key of a run in a sweep: ``"<task>|<spec_key>|<seed>"``."""
    return f"{task}|{spec_key}|{seed}"


_TYPES = {"key": str, "task": str, "policy": dict, "spec": str, "seed": int, "status": str,
          "settings": dict, "metrics": dict, "fidelity": list, "stash": dict, "hardware": dict,
          "timings": dict, "curves": dict}


@dataclass(frozen=True)
class RunResult:
    """One run's result; see the module docstring for the schema."""
    key: str
    task: str
    policy: dict
    spec: str
    seed: int
    status: str = "ok"
    error: str | None = None
    settings: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    fidelity: list = field(default_factory=list)
    stash: dict = field(default_factory=dict)
    hardware: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)

    def __post_init__(self):
        problem = _problem(self)
        if problem:
            raise ValueError(f"RunResult: {problem}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, key: str, task: str, policy: dict, spec: str, seed: int, error: str,
               settings: dict | None = None, timings: dict | None = None) -> "RunResult":
        """The record of a run that raised ``error`` (its text: type, message, traceback)."""
        return cls(key, task, policy, spec, seed, "failed", error, settings or {}, timings=timings or {})

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, **asdict(self)}

    def to_json(self) -> str:
        """One line of JSON (sorted keys, no newline): a ``runs.jsonl`` line."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def comparable(self) -> dict:
        """Everything but ``timings``: equal for two runs of one configuration (any process count)."""
        d = self.to_dict()
        del d["timings"]
        return d

    @classmethod
    def from_dict(cls, data, source: str = "result") -> "RunResult":
        """Check and build; a ``ResultsFileError`` names ``source`` and what is wrong."""
        if not isinstance(data, dict):
            raise ResultsFileError(f"{source}: expected a JSON object (a run result), got {type(data).__name__}")
        schema = data.get("schema")
        if schema != SCHEMA:
            raise ResultsFileError(f"{source}: schema {schema!r} is not this minidd's result schema {SCHEMA} "
                                   "(written by another minidd version, or not a run result)")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names - {"schema"})
        missing = sorted(n for n in ("key", "task", "policy", "spec", "seed") if n not in data)
        if unknown or missing:
            raise ResultsFileError(f"{source}: not a run result: "
                                   + "; ".join(filter(None, [missing and f"missing fields {missing}",
                                                             unknown and f"unknown fields {unknown}"])))
        try:
            return cls(**{k: v for k, v in data.items() if k != "schema"})
        except ValueError as e:
            raise ResultsFileError(f"{source}: {str(e).removeprefix('RunResult: ')}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "result") -> "RunResult":
        """Parse one JSON line; ``source`` names it in errors (e.g. ``"runs.jsonl line 3"``)."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ResultsFileError(f"{source}: not valid JSON ({e})") from None
        return cls.from_dict(data, source)


def _problem(r: RunResult) -> str:
    for name, kind in _TYPES.items():
        value = getattr(r, name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"field {name!r} must be of type {kind.__name__}, got {type(value).__name__} {value!r:.60}"
    if r.status not in STATUSES:
        return f"field 'status' must be one of {STATUSES}, got {r.status!r}"
    if r.status == "failed" and not (isinstance(r.error, str) and r.error):
        return "a failed run needs its error text in field 'error'"
    if r.status == "ok" and r.error is not None:
        return f"an ok run has no error, got error {r.error!r:.60}"
    if r.status == "ok":
        for m in ("test_accuracy", "test_loss"):
            v = r.metrics.get(m)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return f"an ok run needs a finite number metrics[{m!r}], got {v!r}"
        bad = sorted(k for k, v in r.metrics.items() if isinstance(v, float) and not math.isfinite(v))
        if bad:
            return f"an ok run's metrics must be finite numbers, got {bad[0]!r} = {r.metrics[bad[0]]!r}"
    if "policy" not in r.policy:
        return "field 'policy' must be a policy config with a 'policy' name key"
    return ""
