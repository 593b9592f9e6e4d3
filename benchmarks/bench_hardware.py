"""Wall time of the analytical hardware model.

    python benchmarks/bench_hardware.py [--repeats 20]

Goal: a BERT-base training step (12 layers, batch 32, sequence 128) modelled in at most 50 ms.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),  # _timing
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]  # this checkout's minidd
from _timing import median_times  # noqa: E402

from hardware import CODESIGN, TPUV3, Policy, bert, compare, fit_step, simulate_step  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args(argv)
    w = bert("base", 128)
    dd = Policy("deferred_dropout", 0.9)
    block = Policy("deferred_dropout", 0.9, structure="block")
    t = median_times({
        "build bert-base workload": lambda: bert("base", 128),
        "simulate step, batch 32, zero_value": lambda: simulate_step(TPUV3, w, batch=32),
        "simulate step, batch 32, deferred_dropout": lambda: simulate_step(TPUV3, w, dd, 32),
        "simulate step, co-designed array, block": lambda: simulate_step(CODESIGN, w, block, 32),
        "simulate step, selective recomputation": lambda: simulate_step(TPUV3, w, dd, 32, recompute=("attention", "pointwise")),
        "compare (2 max-batch searches + 4 steps)": lambda: compare(TPUV3, w, dd),
        "fit_step, batch 455 (6 ways to fit)": lambda: fit_step(TPUV3, w, Policy("zero_value"), 455),
    }, repeats=args.repeats)
    print(f"median of {args.repeats} repeats (goal: one BERT-base step in at most 50 ms)")
    for k, v in t.items():
        print(f"  {k:<44} {v * 1e3:8.2f} ms")
    start = time.process_time()  # CPU time: what the step costs on a machine shared with others
    for _ in range(args.repeats):
        simulate_step(TPUV3, w, batch=32)
    print(f"  {'CPU time per step, batch 32, zero_value':<44} "
          f"{(time.process_time() - start) / args.repeats * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
