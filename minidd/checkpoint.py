"""The training checkpoint that :func:`minidd.train.fit` writes and resumes from.

One ``.npz`` file holds everything training reads, so a resumed run is bit-identical to an
uninterrupted one: the parameters and buffers (``model/...``), the optimizer state
(``optim/...``), the example order of the current epoch (``order``) and, in the JSON ``meta``
entry, the position (epoch, step, batch), the history, the state of every random generator
training draws from (the ``rng`` given to ``fit`` and every generator a module holds, such as each
:class:`~minidd.nn.Dropout`'s own), and the stash policy's config and ``state_dict()``.

Writing is atomic (a temporary file in the same folder, fsynced, then renamed), and the previous
checkpoint of the same run is kept as ``<path>.prev`` until the new one is complete.  Resuming
reads ``<path>``; if it is damaged (truncated, not an archive, unreadable entries) or missing
while ``<path>.prev`` exists (a kill between the two renames), it falls back to ``<path>.prev``
and says so with a :class:`CheckpointWarning`.  A checkpoint path that is a symbolic link is
followed: the link's target is the checkpoint (written, kept as ``<target>.prev``, resumed from),
and the link is left pointing at it.
"""
from __future__ import annotations

import json
import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_copy, atomic_savez, check_writable_folder, followed, remove_stale_temps

FORMAT = "minidd.fit-checkpoint"
VERSION = 1
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: damaged, foreign, or from another setup.
    The message names the file and what is wrong."""


class CheckpointWarning(UserWarning):
    """Resume started from step 0 (no checkpoint yet) or fell back to the previous checkpoint."""


def _jsonable(x):
    """Plain JSON data from configs and generator states (numpy scalars and arrays included)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def module_generators(model) -> dict:
    """Every ``numpy.random.Generator`` held by a module of ``model``, by dotted attribute path."""
    out = {}
    for mname, m in model.named_modules():
        for attr, v in vars(m).items():
            if isinstance(v, np.random.Generator):
                out[f"{mname}.{attr}" if mname else attr] = v
    return out


class Checkpoint:
    """Save and restore the full training state of one ``fit`` call at ``path``.

    The folder is checked (created if missing, then written to) when this is made, so a bad
    path fails before any training; stale temporary files of killed writes are removed.
    """

    def __init__(self, path, model, optimizer, policy, rng):
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"fit: checkpoint must be a file path (str or os.PathLike), got {path!r}")
        # a symbolic link is followed: the checkpoint, its .prev and temporary files live at the
        # link's target, which every save replaces (the link keeps pointing at the newest)
        self.path = followed(Path(os.fspath(path)).expanduser().absolute())
        self.prev = self.path.with_name(self.path.name + ".prev")
        self.model, self.optimizer, self.policy = model, optimizer, policy
        self.generators = {"rng": rng, **{f"model.{k}": g for k, g in module_generators(model).items()}}
        self._rotate = False  # does self.path hold a good checkpoint of this run (keep it as .prev)?
        self._fresh = True    # no checkpoint loaded: a .prev of an older run must go at the first save
        _check_folder(self.path)
        remove_stale_temps(self.path)

    # -- writing -----------------------------------------------------------------------------
    def save(self, state: dict, n_examples: int, batch_size: int) -> None:
        """Write ``state`` (epoch, step, pos, order, acc, history) with everything else training reads."""
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        if state["order"] is not None:
            arrays["order"] = state["order"]
        meta = {"format": FORMAT, "version": VERSION,
                **{k: state[k] for k in ("epoch", "step", "pos", "acc", "history")},
                "n_examples": n_examples, "batch_size": batch_size,
                "optimizer": type(self.optimizer).__name__,
                "policy": {"config": _jsonable(self.policy.config()),
                           "state": _jsonable(self.policy.state_dict())},
                "generators": {k: _jsonable(g.bit_generator.state) for k, g in self.generators.items()}}
        arrays["meta"] = np.array(json.dumps(meta))
        if self._rotate and self.path.exists():
            self._keep_previous()
        atomic_savez(self.path, arrays)
        if self._fresh:
            self.prev.unlink(missing_ok=True)
            self._fresh = False
        self._rotate = True

    def _keep_previous(self):
        if self.prev.exists() and os.path.samefile(self.path, self.prev):
            return  # a kill after the last _keep_previous: .prev already is the current checkpoint
        atomic_copy(self.path, self.prev)

    def check_replaceable(self) -> None:
        """A fresh run replaces ``path`` at its first save: refuse if it holds anything but a
        readable fit checkpoint (a mistyped path must not overwrite someone's file)."""
        if not self.path.exists():
            return
        try:
            _read(self.path)
        except CheckpointError as e:
            raise CheckpointError(f"fit: refusing to overwrite {self.path}: {e}. Pass another checkpoint "
                                  "path, or delete the file if it is an unwanted checkpoint") from None

    # -- reading -----------------------------------------------------------------------------
    def load(self, n_examples: int, batch_size: int) -> dict | None:
        """Restore everything into the model, optimizer, policy and generators; return the loop
        state, or ``None`` (with a warning) when there is no checkpoint yet."""
        if not self.path.exists() and not self.prev.exists():
            warnings.warn(f"fit: resume=True but there is no checkpoint at {self.path} yet; "
                          "starting from step 0", CheckpointWarning, stacklevel=4)  # fit's caller
            return None
        source = self.path
        try:
            if not self.path.exists():  # a kill between the renames of a save
                raise CheckpointError(f"checkpoint {self.path} is missing")
            arrays, meta = _read(self.path)
            self._rotate = True
        except CheckpointError as newest:
            if not self.prev.exists():
                raise
            try:
                arrays, meta = _read(self.prev)
            except CheckpointError as older:
                raise CheckpointError(f"{newest}; and the previous one is unusable too: {older}") from None
            warnings.warn(f"fit: {newest}; resuming from the previous checkpoint {self.prev} "
                          f"(step {meta['step']})", CheckpointWarning, stacklevel=4)  # fit's caller
            self._rotate, source = False, self.prev
        self._fresh = False
        return self._apply(arrays, meta, n_examples, batch_size, source)

    def _apply(self, arrays, meta, n_examples, batch_size, source):
        """Check that the checkpoint fits this setup, then load it (nothing changes on a mismatch)."""
        where = f"checkpoint {source}"
        kind = type(self.optimizer).__name__
        if meta["optimizer"] != kind:
            raise CheckpointError(f"{where} holds {meta['optimizer']} state but the optimizer is {kind}; "
                                  f"resume with {meta['optimizer']}, or start without resume")
        config = _jsonable(self.policy.config())
        if meta["policy"]["config"] != config:
            raise CheckpointError(f"{where} was trained with stash policy {meta['policy']['config']} but "
                                  f"fit got {config}")
        if (meta["n_examples"], meta["batch_size"]) != (n_examples, batch_size):
            raise CheckpointError(f"{where} was trained on {meta['n_examples']} examples in batches of "
                                  f"{meta['batch_size']}; fit got {n_examples} examples, batch_size={batch_size}")
        if sorted(meta["generators"]) != sorted(self.generators):
            raise CheckpointError(f"{where} holds the random generators {sorted(meta['generators'])}, but "
                                  f"training reads {sorted(self.generators)} (is the model built the same way?)")
        for name, g in self.generators.items():
            saved = meta["generators"][name].get("bit_generator")
            if saved != type(g.bit_generator).__name__:
                raise CheckpointError(f"{where}: generator {name} was {saved}, "
                                      f"now {type(g.bit_generator).__name__}")
        model_state = {k[6:]: v for k, v in arrays.items() if k.startswith("model/")}
        optim_state = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
        try:
            self.optimizer.check_state_dict(optim_state)
            self.policy.load_state_dict(meta["policy"]["state"])  # checked, then set: before the model
            self.model.load_state_dict(model_state)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{where} does not fit: {e}") from None
        self.optimizer.load_state_dict(optim_state)
        for name, g in self.generators.items():
            g.bit_generator.state = meta["generators"][name]
        return {"epoch": meta["epoch"], "step": meta["step"], "pos": meta["pos"],
                "order": arrays.get("order"), "acc": meta["acc"], "history": meta["history"]}


def read_npz(path, what: str = "checkpoint") -> dict:
    """Every array of the ``.npz`` file at ``path``, read into memory; a :class:`CheckpointError`
    naming the file (as ``what``) and the damage otherwise (``FileNotFoundError`` if missing)."""
    where = f"{what} {path}"
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except _READ_ERRORS as e:
        raise CheckpointError(f"{where} is not a readable .npz archive ({type(e).__name__}: {e}); "
                              "it may be truncated or not a checkpoint") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{where} holds a single .npy array, not an .npz archive of arrays")
    with f:
        name = None
        try:
            arrays = {}
            for name in f.files:
                arrays[name] = f[name]
        except _READ_ERRORS as e:
            raise CheckpointError(f"{where} is damaged (truncated?): entry {name!r} cannot be read "
                                  f"({type(e).__name__}: {e})") from None
    return arrays


def _read(path: Path):
    """All arrays and the parsed meta of a fit checkpoint; ``CheckpointError`` naming the file and
    the damage otherwise (``FileNotFoundError`` if it does not exist)."""
    where = f"checkpoint {path}"
    arrays = read_npz(path)
    if "meta" not in arrays:
        held = ", ".join(sorted(arrays)[:5]) or "nothing"
        raise CheckpointError(f"{where} is not a minidd fit checkpoint: it has no 'meta' entry (it holds {held})")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except ValueError as e:
        raise CheckpointError(f"{where} is damaged: its 'meta' entry is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a minidd fit checkpoint (its meta has no format {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{where} has format version {meta.get('version')!r}; this minidd reads version {VERSION}")
    missing = [k for k in ("epoch", "step", "pos", "acc", "history", "n_examples", "batch_size",
                           "optimizer", "policy", "generators") if k not in meta]
    if missing:
        raise CheckpointError(f"{where} is damaged: its meta lacks {missing}")
    if meta["pos"] and ("order" not in arrays or len(arrays["order"]) != meta["n_examples"]):
        raise CheckpointError(f"{where} is damaged: it stops inside an epoch but has no valid 'order' entry")
    return arrays, meta


def _check_folder(path: Path) -> None:
    """The checkpoint's folder exists (or is created) and takes a file; errors name it."""
    if path.is_dir():
        raise IsADirectoryError(21, f"fit: checkpoint {path} is a folder; give a file path such as {path / 'ckpt.npz'}",
                                str(path))
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        check_writable_folder(path)
    except OSError as e:
        raise type(e)(e.errno, f"fit: checkpoint folder {folder} cannot be created or written to: "
                               f"{e.strerror or e}", str(folder)) from None
