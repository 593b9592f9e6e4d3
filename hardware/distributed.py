"""Data parallelism across chips: the gradient all-reduce a multi-chip training step pays.

The step model (:mod:`hardware.simulate`) is one core.  A data-parallel run on ``chips`` chips
also sums every weight gradient across them once per step, over the inter-chip interconnect
(ICI).  We charge a bandwidth-optimal all-reduce (reduce-scatter then all-gather), the
textbook ring cost ``2 (p - 1) / p x bytes / bandwidth`` for ``p`` chips (Patarasuk and Yuan,
JPDC 2009), with:

* **bandwidth**: the Google Cloud "TPU v3" page gives an all-reduce bandwidth of 340 TB/s per
  1,024-chip pod, 332 GB/s per chip.  It agrees with four ICI links per chip at 656 Gbit/s
  (82 GB/s) each, 328 GB/s (Norrie et al., "The Design Process for Google's Training Chips:
  TPUv2 and TPUv3", IEEE Micro 2021, as we read it; not re-checked here).  **Assumption**: that
  per-chip figure is the ``bandwidth`` of the ring formula (a ring over only two of the four
  links would take twice as long: the sensitivity ``reproduce`` prints).
* **Assumptions**: gradients are all-reduced in fp32 (``gradient_bytes``: the TensorFlow
  TPUEstimator code of 2019 sums the fp32 variables' gradients with ``cross_replica_sum``);
  the two cores of a chip combine their gradients on chip for free; the all-reduce runs after
  backward, not overlapped with it; per-hop latency is ignored (the messages are large).
"""
from __future__ import annotations

from dataclasses import dataclass

#: Google Cloud TPU v3 documentation: all-reduce bandwidth 340 TB/s per pod of 1,024 chips
TPUV3_ALLREDUCE_BYTES_PER_S = 340e12 / 1024


@dataclass(frozen=True)
class DataParallel:
    """How a measured run spreads its batch: ``chips`` chips joined by ICI."""

    chips: int
    allreduce_bytes_per_s: float = TPUV3_ALLREDUCE_BYTES_PER_S  #: per chip
    gradient_bytes: int = 4                                      #: assumption: fp32 gradients

    def __post_init__(self):
        for name in ("chips", "gradient_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"DataParallel.{name} must be a positive int, got {v!r}")
        v = self.allreduce_bytes_per_s
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ValueError(f"DataParallel.allreduce_bytes_per_s must be a positive number, got {v!r}")


def allreduce_seconds(params: int, dp: DataParallel) -> float:
    """Seconds to all-reduce ``params`` gradients over ``dp.chips`` chips (0 on one chip)."""
    p = dp.chips
    return 2 * (p - 1) / p * params * dp.gradient_bytes / dp.allreduce_bytes_per_s
