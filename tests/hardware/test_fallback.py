"""Each way to fit a batch, charged on a toy workload whose cycles are derived by hand.

Toy chip: one 4x4 array at 1 kHz, HBM and engine so fast they never bound a layer, a vector unit
of 1 FLOP per cycle, 1,600 bytes of HBM, a host link of 10 bytes/s (0.01 byte per cycle).
Toy model: two blocks of LayerNorm (30 vector FLOPs per sample, stashes its 16-element input,
rerun under ``pointwise``) -> linear 4x4 over 4 tokens (stashes its 16-element input, tagged
``pointwise``) -> softmax (30 FLOPs, stashes 16 elements tagged ``attention``, rerun under
``attention``).  40 parameters.

Per block at batch b (tpu timing, WS, R = C = 4): LayerNorm 30b; linear forward and input
gradient T = 4b rows in one fold, max(4b, 4) + 4 + 4 - 2 = 4b + 6 each; weight gradient
reduction 4b -> b folds of T = 4 features, 4b + 6; softmax 30b: 72b + 18 per block, 144b + 36
for both.  Optimizer: 40 params x 12 FLOPs = 480 cycles (its 1,120 HBM bytes take ~0).
Footprint (liveness, :mod:`hardware.liveness`): 40 x (4 + 4 + 8) = 640 bytes of weights,
gradients and Adam; every activation is 32 bytes per sample and is read only by the next layer,
so every event holds two of them (a layer's input and output in forward, its dY and dX in
backward): 64 b.  The peak is the last layer, with the whole stash (6 x 32 = 192 per sample)
kept: 640 + 256 b.  Batch 4 needs 1,664; batch 3, 1,408.
"""
import dataclasses

import pytest

from hardware import ChipConfig, Layer, Policy, StashItem, Workload
from hardware.fallback import fallback_step, fit_step

CHIP = ChipConfig(name="toy", mxus=1, mxu_rows=4, mxu_cols=4, clock_hz=1000.0, hbm_bytes=1600,
                  hbm_bytes_per_s=1e15, vmem_bytes=1 << 20, vector_flops_per_cycle=1,
                  engine_bytes_per_cycle=1 << 20, engine_latency_cycles=1, act_bytes=2,
                  param_bytes=4, optimizer_bytes_per_param=8, host_link_bytes_per_s=10.0)
ZV = Policy("zero_value")


def _toy():
    layers, src = [], "input"
    for b in range(2):
        p, blk = f"b{b}.", f"b{b}"
        layers += [
            Layer(p + "ln", "vector", vector_flops=30, in_elements=(16,), out_elements=16, inputs=(src,),
                  stash=(StashItem("exact", 16),), block=blk, recompute="pointwise"),
            Layer(p + "fc", "gemm", 4, 4, 4, params=20, in_elements=(16,), out_elements=16,
                  inputs=(p + "ln",), stash=(StashItem("weight_grad_input", 16, recompute="pointwise"),),
                  block=blk),
            Layer(p + "sm", "vector", vector_flops=30, in_elements=(16,), out_elements=16,
                  inputs=(p + "fc",), stash=(StashItem("exact", 16, recompute="attention"),),
                  block=blk, recompute="attention"),
        ]
        src = p + "sm"
    return Workload("toy", layers)


def _cycles(f):
    return f.seconds * CHIP.clock_hz


def test_toy_does_not_fit_as_it_is():
    assert fallback_step(CHIP, _toy(), ZV, 4, "none") is None
    assert _cycles(fallback_step(CHIP, _toy(), ZV, 2, "none")) == pytest.approx(144 * 2 + 36 + 480)


def test_selective_attention_recomputation():
    # the softmax outputs are not stored (4 x 32 per sample kept); the last softmax's is rerun
    # for its backward beside its dY and dX: 640 + (4 x 32 + 64 + 32) x 4 = 1,536 <= 1,600
    f = fallback_step(CHIP, _toy(), ZV, 4, "selective_attention")
    assert f.footprint_bytes == 640 + (4 * 32 + 64 + 32) * 4 == 1536
    assert f.report.footprint.peak_at == "backward b1.sm"
    # the two softmax layers rerun their forward (a third of 30b more each): + 2 x 10 x 4
    assert _cycles(f) == pytest.approx(144 * 4 + 36 + 2 * 10 * 4 + 480)


def test_selective_recomputation():
    # neither the softmax outputs nor the linear inputs are stored (2 x 32 per sample kept);
    # one rerun tensor at a time beside dY and dX: 640 + (64 + 64 + 32) x 4 = 1,280;
    # LayerNorm and softmax rerun: + 4 x 10 x 4 cycles
    f = fallback_step(CHIP, _toy(), ZV, 4, "selective")
    assert f.footprint_bytes == 640 + (64 + 64 + 32) * 4 == 1280
    assert _cycles(f) == pytest.approx(144 * 4 + 36 + 4 * 10 * 4 + 480) == 1252


def test_full_checkpoint():
    # each block keeps its 16-element input (2 x 32 per sample); the last block's three stash
    # tensors are rerun when backward enters it, beside its dY and dX:
    # 640 + (64 + 96 + 64) x 4 = 1,536.
    # Every layer reruns its forward: LayerNorm and softmax + 10b each, the linear + (4b + 6)
    f = fallback_step(CHIP, _toy(), ZV, 4, "full_checkpoint")
    assert f.footprint_bytes == 640 + (64 + 96 + 64) * 4 == 1536
    assert _cycles(f) == pytest.approx(144 * 4 + 36 + 2 * (2 * 10 * 4 + 4 * 4 + 6) + 480) == 1296


def test_micro_batching_with_gradient_accumulation():
    # the largest batch that fits: 640 + 256 x 3 = 1,408 <= 1,600 < 1,664; micro-batches of 3
    # and 1, one optimizer update: (144 x 3 + 36) + (144 x 1 + 36) + 480
    f = fallback_step(CHIP, _toy(), ZV, 4, "micro_batch")
    assert f.detail == "2 micro-batches of up to 3"
    assert _cycles(f) == pytest.approx(468 + 180 + 480) == 1128


def test_host_offload():
    # 1,664 - 1,600 = 64 bytes go to the host and back at 0.01 byte per cycle: 6,400 cycles each
    # way.  Layers at batch 4: ln 120, fc 3 x 22 = 66, sm 120 cycles; each stashes 128 bytes
    # (12,800 link cycles, more than any window).  Forward windows (the next layer's forward
    # phase: the linear's 22, a vector layer's third of its 120): 22 + 40 + 40 + 22 + 40 + 0 =
    # 164 cycles; backward windows (dX + dW, two thirds of a vector layer): 44 + 80 + 80 + 44 +
    # 80 + 0 = 328.  Exposed: 6,400 - 164 out, 6,400 - 328 back, on top of the 612-cycle layers
    # and the 480-cycle optimizer.
    f = fallback_step(CHIP, _toy(), ZV, 4, "host_offload")
    assert _cycles(f) == pytest.approx(612 + (6400 - 164) + (6400 - 328) + 480)


def test_host_offload_hides_under_compute_when_the_link_is_fast():
    # at 1,000x the link (10 bytes per cycle) 64 bytes take 6.4 cycles each way, less than
    # the 164 / 328 cycles of windows: nothing is exposed
    fast = dataclasses.replace(CHIP, host_link_bytes_per_s=10_000.0)
    f = fallback_step(fast, _toy(), ZV, 4, "host_offload")
    assert _cycles(f) == pytest.approx(612 + 480)
    # at 10x (0.1 byte per cycle): 640 cycles each way; every layer's window is shorter than
    # its 1,280-cycle stash, so the windows cap: 640 - 164 out, 640 - 328 back
    mid = dataclasses.replace(CHIP, host_link_bytes_per_s=100.0)
    assert _cycles(fallback_step(mid, _toy(), ZV, 4, "host_offload")) == pytest.approx(
        612 + (640 - 164) + (640 - 328) + 480)


def test_the_cheapest_that_fits_is_chosen():
    f = fit_step(CHIP, _toy(), ZV, 4)
    assert f.method == "micro_batch" and _cycles(f) == pytest.approx(1128)
    g = fit_step(CHIP, _toy(), ZV, 4, methods=("selective", "full_checkpoint", "host_offload"))
    assert g.method == "selective"
    with pytest.raises(ValueError, match="fits by none of"):
        fit_step(CHIP, _toy(), ZV, 4, methods=("none",))


def test_micro_batching_pays_the_fixed_step_cost_once():
    # gradient accumulation runs inside one training step: one update, one fixed per-step cost
    slow = dataclasses.replace(CHIP, step_overhead_cycles=100.0)
    f = fallback_step(slow, _toy(), ZV, 4, "micro_batch")
    assert _cycles(f) == pytest.approx(1128 + 100)
