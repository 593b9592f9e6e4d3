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
import json
import os
from dataclasses import dataclass


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

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "name":
                if not isinstance(v, str) or not v:
                    raise ValueError("ChipConfig.name must be a non-empty string")
                continue
            want = float if f.type in ("float", float) else int
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (want is int and int(v) != v):
                raise ValueError(f"ChipConfig.{f.name} must be a {'number' if want is float else 'whole number'}, got {v!r}")
            if v <= 0:
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


TPUV3 = ChipConfig()

_FIELDS = {f.name: f for f in dataclasses.fields(ChipConfig)}


def config_from_dict(values: dict, source: str = "config") -> ChipConfig:
    """Build a :class:`ChipConfig` from a complete mapping of field names to values."""
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
            try:
                v = float(v)
            except ValueError:
                raise ValueError(f"{source}: field {k!r} must be a number, got {v!r}") from None
        typed[k] = v
    try:
        return ChipConfig(**typed)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def load_config(path) -> ChipConfig:
    """Read a chip from a ``.json`` file (an object of fields) or an ``.ini`` file (section
    ``[chip]``).  Every field must be given; unknown or mistyped fields are refused."""
    path = os.fspath(path)
    if path.endswith(".json"):
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of chip fields")
        return config_from_dict(data, path)
    if path.endswith((".ini", ".cfg")):
        cp = configparser.ConfigParser()
        cp.optionxform = str
        cp.read(path)
        if "chip" not in cp:
            raise ValueError(f"{path}: expected a [chip] section")
        return config_from_dict(dict(cp["chip"]), path)
    raise ValueError(f"load_config: {path!r} must end in .json, .ini or .cfg")


def config_to_dict(chip: ChipConfig) -> dict:
    return dataclasses.asdict(chip)
