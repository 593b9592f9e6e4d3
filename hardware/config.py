"""Chip configuration: a frozen dataclass, a TPUv3 default, and loading from JSON or INI.

The default models **one TPUv3 TensorCore** from public figures:

* 2 TensorCores per chip, each with 2 matrix units (MXUs) of 128x128 bf16 multipliers with fp32
  accumulation; 123 TFLOP/s bf16 per chip = 2 cores x 2 MXUs x 128 x 128 x 2 FLOP x 940 MHz
  (Google Cloud TPU documentation, "System architecture"; Norrie et al., "The Design Process for
  Google's Training Chips: TPUv2 and TPUv3", IEEE Micro 2021);
* 32 GiB of HBM2 per chip at 900 GB/s, so 16 GiB and 450 GB/s per core (same sources);
* 16 MiB of vector memory (VMEM) per core (Norrie et al. 2021);
* clock about 940 MHz (derived from the peak above).

Figures that are not public are **assumptions**, named as such: the vector unit's throughput
(8 sublanes x 128 lanes x 2 FLOP per cycle) and the compression engine's throughput (512 bytes of
uncompressed data per cycle, a little above HBM's 479 bytes per cycle, so it keeps up with the
memory stream) and latency.
"""
from __future__ import annotations

import configparser
import dataclasses
import difflib
import math
import os
from dataclasses import dataclass

from .files import InputFileError, read_json, read_text


@dataclass(frozen=True)
class ChipConfig:
    """One accelerator core.  Sizes in bytes, rates per second or per cycle as named."""

    name: str = "TPUv3 core"
    mxus: int = 2                          #: matrix units per core
    mxu_rows: int = 128                    #: rows of one systolic array
    mxu_cols: int = 128                    #: columns of one systolic array
    clock_hz: float = 940e6
    hbm_bytes: int = 16 * 2**30            #: HBM capacity of one core
    hbm_bytes_per_s: float = 450e9         #: HBM bandwidth of one core
    vmem_bytes: int = 16 * 2**20           #: on-chip vector memory
    vector_flops_per_cycle: int = 2048     #: assumption: 8 x 128 lanes x 2
    engine_bytes_per_cycle: int = 512      #: assumption: compression engine, per pass
    engine_latency_cycles: int = 64        #: assumption: pipeline latency per tensor
    act_bytes: int = 2                     #: activations and stash values (bf16)
    param_bytes: int = 4                   #: fp32 master weights and gradients
    optimizer_bytes_per_param: int = 8     #: Adam's two fp32 moments
    #: assumption: one PCIe Gen3 x16 link per host (15.75 GB/s per direction, PCI-SIG) shared
    #: by the host's 4 chips = 8 cores.  Nothing public gives TPUv3's host interface; for TPUv4
    #: one PCIe Gen3 x16 per chip is reported (G. Lockwood's TPUv4 notes, glennklockwood.com,
    #: citing Google), which would be 4x this per core.  ``reproduce`` prints the speedups at
    #: 2x and 0.5x this figure.
    host_link_bytes_per_s: float = 15.75e9 / 8
    #: the proposed array: the weight-gradient GEMM skips all-zero streamed vectors
    dw_skips_zero_vectors: bool = False
    #: calibrated (see hardware.calibration): achieved fraction of the arrays' cycles
    mxu_efficiency: float = 1.0
    #: calibrated: fusion efficiency of vector layers, the achieved fraction of the vector
    #: unit's peak and of ideal (fully fused, one pass) activation traffic
    vector_efficiency: float = 1.0
    #: calibrated: fixed cycles per kernel launched (three per layer and step)
    op_overhead_cycles: float = 0.0
    #: calibrated: fixed cycles per training step, whatever the batch (the host loop's
    #: per-step synchronisation, infeed handshakes, all-reduce latency, small kernels)
    step_overhead_cycles: float = 0.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            kind = _KINDS.get(f.name, "positive")
            if f.name == "name":
                if not isinstance(v, str) or not v:
                    raise ValueError("ChipConfig.name must be a non-empty string")
                continue
            if kind == "bool":
                if not isinstance(v, bool):
                    raise ValueError(f"ChipConfig.{f.name} must be true or false, got {v!r}")
                continue
            want = float if f.type in ("float", float) else int
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v):
                raise ValueError(f"ChipConfig.{f.name} must be a finite number, got {v!r}")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (want is int and int(v) != v):
                raise ValueError(f"ChipConfig.{f.name} must be a {'number' if want is float else 'whole number'}, got {v!r}")
            if kind == "fraction" and not 0 < v <= 1:
                raise ValueError(f"ChipConfig.{f.name} must be in (0, 1], got {v!r}")
            if kind == "non-negative" and v < 0:
                raise ValueError(f"ChipConfig.{f.name} must be non-negative, got {v!r}")
            if kind == "positive" and v <= 0:
                raise ValueError(f"ChipConfig.{f.name} must be positive, got {v!r}")
            if want is int:
                object.__setattr__(self, f.name, int(v))

    # -- derived figures ------------------------------------------------------------------------
    @property
    def peak_flops(self) -> float:
        """Matrix-unit peak of this core (2 FLOP per multiply-accumulate)."""
        return self.mxus * self.mxu_rows * self.mxu_cols * 2 * self.clock_hz

    @property
    def hbm_bytes_per_cycle(self) -> float:
        return self.hbm_bytes_per_s / self.clock_hz

    @property
    def host_link_bytes_per_cycle(self) -> float:
        return self.host_link_bytes_per_s / self.clock_hz


_KINDS = {"dw_skips_zero_vectors": "bool", "mxu_efficiency": "fraction",
          "vector_efficiency": "fraction", "op_overhead_cycles": "non-negative",
          "step_overhead_cycles": "non-negative"}
TPUV3 = ChipConfig()
#: The proposed co-designed array: a TPUv3 core whose weight-gradient GEMM skips all-zero
#: streamed vectors (see :mod:`hardware.codesign`).
CODESIGN = dataclasses.replace(TPUV3, name="TPUv3 core, zero-vector-skipping dW",
                               dw_skips_zero_vectors=True)

_FIELDS = {f.name: f for f in dataclasses.fields(ChipConfig)}


def config_from_dict(values: dict, source: str = "config", from_text: bool = False) -> ChipConfig:
    """Build a :class:`ChipConfig` from a complete mapping of field names to values.

    ``source`` names the mapping in errors (a file name); ``from_text`` accepts numbers written
    as strings (an INI file), which JSON refuses by field name."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: expected a mapping of chip fields, got {type(values).__name__}")
    unknown = [k for k in values if k not in _FIELDS]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, _FIELDS, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"{source}: unknown field {', '.join(hints)}")
    missing = [k for k in _FIELDS if k not in values]
    if missing:
        raise ValueError(f"{source}: missing field {', '.join(map(repr, missing))}; "
                         "`python -m hardware config` prints a complete template")
    typed = {}
    for k, v in values.items():
        if k != "name" and isinstance(v, str):
            if not from_text:
                raise ValueError(f"{source}: field {k!r} must be {_expected(k)}, got the string {v!r}")
            v = _parse_text(k, v, source)
        typed[k] = v
    try:
        return ChipConfig(**typed)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def _expected(field: str) -> str:
    return "true or false" if _KINDS.get(field) == "bool" else "a number"


def _parse_text(field: str, text: str, source: str):
    """A value from an INI file (all text) in the field's type."""
    if _KINDS.get(field) == "bool":
        low = text.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"{source}: field {field!r} must be true or false, got {text!r}")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{source}: field {field!r} must be a number, got {text!r}") from None


def load_config(path) -> ChipConfig:
    """Read a chip from a ``.json`` file (an object of fields) or an ``.ini`` file (section
    ``[chip]``).  Every field must be given; unknown or mistyped fields are refused, and every
    error names the file."""
    path = os.fspath(path)
    if path.endswith(".json"):
        data = read_json(path, "a JSON object of chip fields")
        if not isinstance(data, dict):
            raise InputFileError(f"{path}: expected a JSON object of chip fields, got {type(data).__name__}")
        return _from_file(data, path, from_text=False)
    if path.endswith((".ini", ".cfg")):
        cp = configparser.ConfigParser()
        cp.optionxform = str
        try:
            cp.read_string(read_text(path, "an INI file with a [chip] section"), source=path)
        except configparser.Error as e:
            raise InputFileError(f"{path}: not a valid INI file: {e.message.splitlines()[0]}") from None
        if "chip" not in cp:
            raise InputFileError(f"{path}: expected a [chip] section")
        return _from_file(dict(cp["chip"]), path, from_text=True)
    raise InputFileError(f"load_config: {path!r} must end in .json, .ini or .cfg")


def _from_file(values: dict, path: str, from_text: bool) -> ChipConfig:
    try:
        return config_from_dict(values, path, from_text)
    except InputFileError:
        raise
    except ValueError as e:
        raise InputFileError(str(e)) from None


def config_to_dict(chip: ChipConfig) -> dict:
    return dataclasses.asdict(chip)
