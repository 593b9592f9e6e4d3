"""An analytical model of a TPUv3 core training with a compressed activation stash.

Pure functions over small frozen dataclasses: a :class:`ChipConfig`, a :class:`Workload` (list of
layers: the contract with the training side), a :class:`Policy`.  :func:`simulate_step` gives
per-layer cycles, HBM traffic, engine work and the footprint; :func:`compare` sets the
zero-value baseline against deferred dropout.  No I/O inside the model; ``python -m hardware``
renders reports.
"""
from .compression import BASELINE, Policy, stash_cost
from .config import TPUV3, ChipConfig, config_from_dict, load_config
from .simulate import Comparison, Footprint, LayerReport, StepReport, compare, footprint, max_batch, simulate_step
from .systolic import GemmTiming, core_gemm_cycles, gemm_cycles
from .workload import (Layer, StashItem, Workload, bert, load_workload, paper_model, resnet50, vgg16,
                       workload_from_dict)

__all__ = ["ChipConfig", "TPUV3", "load_config", "config_from_dict", "Policy", "BASELINE",
           "stash_cost", "gemm_cycles", "core_gemm_cycles", "GemmTiming", "Layer", "StashItem",
           "Workload", "bert", "resnet50", "vgg16", "paper_model", "load_workload",
           "workload_from_dict", "simulate_step", "compare", "max_batch", "footprint",
           "StepReport", "LayerReport", "Footprint", "Comparison"]
