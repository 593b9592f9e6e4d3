"""Liveness-based footprint: a toy whose peak is derived by hand, and VGG-16's early peak.

Toy (batch 1, bf16 activations, dense stash): the model input (8 elements, 16 bytes) -> ``a``
(vector, stashes its 8 elements exactly: 16 bytes) -> ``b`` (gemm 1x8x8, 64 parameters, stashes
its 8-element input: 16 bytes) -> ``c`` (adds ``b`` and ``a``: a residual, stashes a 1-bit mask
of 8 elements: 1 byte).  Every activation is 16 bytes.  Persistent: 64 x (4 + 4 + 8) = 1,024.

Last uses: the input at ``a``; ``a`` at ``c`` (the residual); ``b`` at ``c``; ``c`` itself.

=================  ====================  ===========================  =======
event              stash kept            live                         total
=================  ====================  ===========================  =======
forward a          16                    input + a = 32               1,072
forward b          16 + 16 = 32          a + b = 32                   1,088
forward c          32 + 1 = 33           a + b + c = 48               1,105
backward c         33                    dc, db, da = 48              1,105
backward b         32                    db, da = 32                  1,088
backward a         16                    da = 16 (no input gradient)  1,056
optimizer          0                     0                            1,024
=================  ====================  ===========================  =======
"""
import pytest

from hardware import TPUV3, BASELINE, Layer, Policy, StashItem, Workload, footprint, max_batch, simulate_step, vgg16
from hardware.liveness import last_uses


def _toy():
    return Workload("toy", [
        Layer("a", "vector", vector_flops=8, in_elements=(8,), out_elements=8, inputs=("input",),
              stash=(StashItem("exact", 8),)),
        Layer("b", "gemm", 1, 8, 8, params=64, in_elements=(8,), out_elements=8, inputs=("a",),
              stash=(StashItem("weight_grad_input", 8),)),
        Layer("c", "vector", vector_flops=8, in_elements=(8, 8), out_elements=8, inputs=("b", "a"),
              stash=(StashItem("index", 8, bits=1),)),
    ])


def test_last_uses_follow_the_residual():
    assert last_uses(_toy().layers) == ([2, 2, 2], {"input": 0})


def test_toy_memory_curve_equals_the_hand_derivation():
    r = simulate_step(TPUV3, _toy(), Policy("dense"), batch=1)
    got = [(p.phase, p.layer, p.stash, p.live, p.total) for p in r.memory]
    assert got == [("forward", "a", 16, 32, 1072), ("forward", "b", 32, 32, 1088),
                   ("forward", "c", 33, 48, 1105), ("backward", "c", 33, 48, 1105),
                   ("backward", "b", 32, 32, 1088), ("backward", "a", 16, 16, 1056),
                   ("optimizer", "", 0, 0, 1024)]
    fp = footprint(TPUV3, _toy(), Policy("dense"), 1)
    assert (fp.total, fp.stash, fp.live, fp.stash_total, fp.peak_at) == (1105, 33, 48, 33, "forward c")


def test_toy_scales_with_the_batch():
    # every tensor is linear in the batch (the 1-bit mask: ceil(8 b / 8) = b bytes)
    assert footprint(TPUV3, _toy(), Policy("dense"), 8).total == 1024 + 8 * 81


def test_vgg16_peaks_in_its_first_block_with_two_full_size_activations():
    # at the baseline's batch, conv2 / relu2 hold two 64 x 224 x 224 bf16 tensors beside the
    # early stash: the peak is there, not at the forward/backward boundary
    w = vgg16()
    b = max_batch(TPUV3, w, BASELINE)
    fp = footprint(TPUV3, w, BASELINE, b)
    assert fp.peak_at.endswith(("relu2", "conv2"))
    assert fp.live == 2 * 64 * 224 * 224 * b * 2
    assert fp.stash < fp.stash_total / 2
    # deferred dropout shrinks the stash by 2.3x but the footprint much less: the live
    # activations of the first block do not shrink
    dd = footprint(TPUV3, w, Policy("deferred_dropout", 0.9), b)
    assert fp.stash_total / dd.stash_total > 2 and fp.total / dd.total < 1.3
    assert dd.live == fp.live



def test_relu_mask_is_not_stored_twice_by_the_zero_value_baseline():
    # relu (8 elements, half zeros) -> fc stashing the relu output: zero-value keeps a 1-byte
    # bitmap + 4 x 2 value bytes = 9 bytes, which is the mask, so the relu's 1-byte mask goes;
    # deferred dropout keeps the top 1 of 8 (an index + value, 3 bytes) and needs the mask
    w = Workload("relu-fc", [
        Layer("relu", "vector", vector_flops=8, in_elements=(8,), out_elements=8, inputs=("input",),
              stash=(StashItem("index", 8, bits=1, zero_mask=True),)),
        Layer("fc", "gemm", 1, 8, 8, params=64, in_elements=(8,), out_elements=8, inputs=("relu",),
              stash=(StashItem("weight_grad_input", 8, natural_sparsity=0.5),)),
    ])
    base = simulate_step(TPUV3, w, BASELINE, batch=1)
    assert [r.stash_bytes for r in base.layers] == [0, 9]
    dd = simulate_step(TPUV3, w, Policy("deferred_dropout", 0.875), batch=1)
    assert [r.stash_bytes for r in dd.layers] == [1, 3]
