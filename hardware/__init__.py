"""An analytical model of a TPUv3 core training with a compressed activation stash.

Pure functions over small frozen dataclasses: a :class:`ChipConfig`, a :class:`Workload` (list
of layers: the contract with the training side), a :class:`Policy`.  :func:`simulate_step` gives
per-layer, per-phase cycles (forward, dX, dW, recomputation: each its own roofline; the
mapper :func:`map_gemm` spreads each GEMM over the MXUs), HBM traffic, engine work and the
liveness-peak footprint with its memory curve (:mod:`hardware.liveness`); :func:`fit_step`
makes a batch fit by the cheapest fallback (recomputation, micro-batching, host offload); :func:`compare` and
:mod:`hardware.report`'s scenarios set the zero-value baseline against deferred dropout;
:mod:`hardware.calibration` fits the non-public parameters to published runs (with
:mod:`hardware.distributed`'s gradient all-reduce for multi-chip runs) with leave-one-out
errors; :mod:`hardware.energy` the energy per step; :mod:`hardware.sensitivity` the headline
ratios and their assumption bands.  No I/O inside the model; ``python -m hardware`` renders
reports.
"""
from .calibration import Measurement, calibrate, calibration_report, leave_one_out
from .codesign import dw_gemm, zero_vector_fraction, zero_vector_fraction_conv
from .compression import BASELINE, Policy, policy_from_config, stash_cost
from .config import CODESIGN, TPUV3, ChipConfig, config_from_dict, load_config
from .distributed import DataParallel, allreduce_seconds
from .energy import EnergyModel, step_energy
from .fallback import FALLBACKS, FittedStep, fallback_step, fit_step
from .files import InputFileError
from .liveness import MemoryPoint
from .report import scenario_table, scenarios
from .sensitivity import headline, sensitivity
from .simulate import (RECOMPUTE, Comparison, Footprint, LayerReport, StepReport, compare, footprint,
                       max_batch, simulate_step)
from .systolic import GemmTiming, core_gemm_cycles, gemm_cycles, map_gemm
from .workload import (Layer, StashItem, Workload, bert, load_workload, paper_model, resnet50, vgg16,
                       workload_from_dict)

__all__ = ["ChipConfig", "TPUV3", "CODESIGN", "load_config", "config_from_dict", "Policy", "BASELINE",
           "policy_from_config", "stash_cost", "gemm_cycles", "core_gemm_cycles", "GemmTiming",
           "dw_gemm", "zero_vector_fraction", "zero_vector_fraction_conv", "DataParallel",
           "allreduce_seconds", "Layer", "StashItem", "Workload", "bert", "resnet50",
           "vgg16", "paper_model", "load_workload", "workload_from_dict", "simulate_step", "compare",
           "max_batch", "footprint", "RECOMPUTE", "StepReport", "LayerReport", "Footprint",
           "Comparison", "FALLBACKS", "FittedStep", "fallback_step", "fit_step", "scenarios",
           "scenario_table", "Measurement", "calibrate", "calibration_report", "InputFileError",
           "leave_one_out", "EnergyModel", "step_energy", "MemoryPoint", "headline", "sensitivity",
           "map_gemm"]
