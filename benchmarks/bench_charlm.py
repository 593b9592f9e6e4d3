"""Per-step time of the character-LM recipe under each kind of arm of its study: sizes the grid.

    python benchmarks/bench_charlm.py [--repeats 15]

One training step of the ``charlm`` recipe (forward, backward, AdamW update; batch 32 x 64
symbols, 2 pre-LN blocks d=64), one BLAS thread, CPU time (steadier than wall time on a shared
machine), median of interleaved repeats, for: dense, the floor (touched layers frozen),
deferred dropout 0.9 (element, row, block-128), random-k 0.9 (unscaled and rescaled).  Multiply by
the study's steps to get a run's CPU cost (plus ~1 s of held-out scoring per run).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
from _timing import median_times  # noqa: E402

from minidd import stash  # noqa: E402
from minidd.data.chars import load_char_streams  # noqa: E402
from minidd.nn import CharLM  # noqa: E402
from minidd.optim import AdamW  # noqa: E402
from minidd.study import charlm, recipes  # noqa: E402
from minidd.study.freeze import freeze  # noqa: E402

ARMS = {"dense": ("dense", None), "floor": ("dense", "touched"),
        "dd 0.9": ("deferred_dropout:0.9", None), "dd row 0.9": ("deferred_dropout:0.9,structure=row", None),
        "dd block128 0.9": ("deferred_dropout:0.9,structure=block", None),
        "random_k 0.9": ("random_k:0.9", None)}


def _step(stream, hp, spec, what, seed=0):
    rng = np.random.default_rng(seed)
    model = CharLM(hp["vocab_size"], hp["context"], hp["dim"], hp["heads"], hp["layers"], hp["ff_dim"], rng=rng)
    freeze(model, what)
    opt = AdamW([p for p in model.parameters() if p.requires_grad], lr=hp["lr"], weight_decay=hp["weight_decay"])
    policy = stash.as_policy(spec)

    def step():
        win = charlm.windows(stream, rng.integers(0, len(stream) - hp["context"] - 1, hp["batch_size"]), hp["context"])
        with stash.use(policy):
            loss = charlm.lm_loss(model, win)
            opt.zero_grad()
            loss.backward()
        opt.step()
    return step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    hp = recipes.config("charlm")
    stream = load_char_streams(vocab_size=hp["vocab_size"])[0]
    fns = {name: _step(stream, hp, spec, what) for name, (spec, what) in ARMS.items()}
    t0 = time.process_time()
    med = median_times(fns, repeats=args.repeats, warmup=3, clock=time.process_time)
    print(f"charlm step (batch {hp['batch_size']} x {hp['context']}, CPU time, median of {args.repeats} "
          f"interleaved repeats; {time.process_time() - t0:.0f} CPU s in all)")
    for name, t in med.items():
        print(f"  {name:<18} {1e3 * t:6.1f} ms   ({t / med['dense']:.2f} x dense; "
              f"{hp['steps']} steps = {t * hp['steps']:.0f} CPU s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
