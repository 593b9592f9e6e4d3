import dataclasses

import pytest

from hardware import (TPUV3, Layer, Policy, StashItem, Workload, bert, compare, footprint,
                      max_batch, paper_model, resnet50, simulate_step, stash_cost, vgg16,
                      workload_from_dict)
from hardware.simulate import optimizer_cycles
from hardware.workload import PAPER_MODELS


def test_paper_models_chain_and_have_known_sizes():
    assert bert("base").params == pytest.approx(110e6, rel=0.05)
    assert bert("large").params == pytest.approx(335e6, rel=0.05)
    assert resnet50().params == pytest.approx(25.5e6, rel=0.05)
    assert vgg16().params == pytest.approx(138e6, rel=0.05)
    for name in PAPER_MODELS:
        assert paper_model(name).layers


def test_workload_that_does_not_chain_is_refused():
    a = Layer("a", "vector", vector_flops=10, out_elements=100)
    with pytest.raises(ValueError, match="shapes do not chain: layer 'b' reads 50 elements"):
        Workload("w", (a, Layer("b", "vector", in_elements=(50,), inputs=("a",), out_elements=50)))
    with pytest.raises(ValueError, match="reads 'zz', which is not an earlier layer"):
        Workload("w", (a, Layer("b", "vector", in_elements=(100,), inputs=("zz",))))
    with pytest.raises(ValueError, match="m must be a positive int"):
        Layer("c", "gemm", m=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        Layer("c", "conv")
    with pytest.raises(ValueError, match="missing field 'layers'"):
        workload_from_dict({"name": "x"})


def test_stash_costs_follow_the_formats():
    chip = TPUV3
    n = 1_000_000
    dense = stash_cost(n, "weight_grad_input", 0.0, None, Policy("dense"), chip, False)
    assert dense.stored_bytes == 2 * n and not dense.encoded
    zv_gelu = stash_cost(n, "weight_grad_input", 0.0, None, Policy("zero_value"), chip, False)
    assert zv_gelu.stored_bytes == 2 * n  # no zeros: stays dense
    zv_relu = stash_cost(n, "weight_grad_input", 0.6, None, Policy("zero_value"), chip, False)
    assert zv_relu.stored_bytes == n // 8 + 2 * 400_000
    dd = stash_cost(n, "weight_grad_input", 0.0, None, Policy("deferred_dropout", 0.9), chip, False)
    assert dd.stored_bytes == n // 8 + 2 * 100_000 and dd.encode_passes == 2
    assert dd.extra_hbm_read == 0  # 2 MB fits in half of VMEM: the second pass reads it there
    big = stash_cost(5 * n, "weight_grad_input", 0.0, None, Policy("deferred_dropout", 0.9), chip, False)
    assert big.extra_hbm_read == 10 * n  # 10 MB does not: the second pass re-reads it from HBM
    smp = stash_cost(n, "weight_grad_input", 0.0, None, Policy("deferred_dropout", 0.9, "sample"), chip, False)
    assert smp.encode_passes == 1 and smp.extra_hbm_read == 0
    kept_dense = stash_cost(n, "weight_grad_input", 0.0, None, Policy("deferred_dropout", 0.9), chip, True)
    assert kept_dense.stored_bytes == 2 * n
    exact = stash_cost(n, "exact", 0.0, None, Policy("deferred_dropout", 0.9), chip, False)
    assert exact.stored_bytes == 2 * n  # only weight-gradient inputs are dropped
    mask = stash_cost(n, "index", 0.0, 1, Policy("deferred_dropout", 0.9), chip, False)
    assert mask.stored_bytes == n // 8


def test_footprint_scales_with_batch_and_max_batch_fits():
    w = bert("base")
    pol = Policy("zero_value")
    f1, f2 = footprint(TPUV3, w, pol, 1), footprint(TPUV3, w, pol, 2)
    assert f2.weights == f1.weights and f2.stash == 2 * f1.stash
    b = max_batch(TPUV3, w, pol)
    assert footprint(TPUV3, w, pol, b).total <= TPUV3.hbm_bytes < footprint(TPUV3, w, pol, b + 1).total


def test_deferred_dropout_on_bert_shrinks_the_stash_and_grows_the_batch():
    c = compare(TPUV3, bert("base"), Policy("deferred_dropout", 0.9))
    assert c.stash_reduction > 1.3 and c.footprint_reduction > 1.2
    assert c.proposed_own.batch > c.baseline_own.batch
    # every BERT weight-gradient input but the head's is dropped; exact stashes are untouched
    q = next(r for r in c.proposed.layers if r.name == "block0.q")
    assert q.stash_bytes < q.stash_dense_bytes / 6
    soft = next(r for r in c.proposed.layers if r.name == "block0.softmax")
    assert soft.stash_bytes == soft.stash_dense_bytes


def test_drop_below_natural_sparsity_gives_nothing_on_relu_models():
    c = compare(TPUV3, vgg16(relu_sparsity=0.6), Policy("deferred_dropout", 0.5))
    assert c.stash_reduction == pytest.approx(1.0)


def test_selection_sample_is_cheaper_than_exact():
    w = bert("base")
    ex = simulate_step(TPUV3, w, Policy("deferred_dropout", 0.9, "exact"), 32)
    es = simulate_step(TPUV3, w, Policy("deferred_dropout", 0.9, "sample"), 32)
    assert es.engine_cycles < ex.engine_cycles and es.hbm_bytes < ex.hbm_bytes
    assert es.footprint == ex.footprint


def test_scalesim_timing_is_slower_than_tpu_timing():
    w = bert("base")
    assert simulate_step(TPUV3, w, batch=8, timing_model="scalesim").cycles > \
        simulate_step(TPUV3, w, batch=8, timing_model="tpu").cycles


def test_simulation_is_a_pure_function():
    w = resnet50()
    a = simulate_step(TPUV3, w, Policy("deferred_dropout", 0.9), 16)
    b = simulate_step(TPUV3, w, Policy("deferred_dropout", 0.9), 16)
    assert a == b


@pytest.mark.parametrize("kwargs, match", [
    ({"batch": 0}, "batch must be a positive int"),
    ({"timing_model": "rtl"}, "timing_model must be one of"),
    ({"dataflow": "row"}, "dataflow must be one of"),
])
def test_bad_simulation_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_step(TPUV3, bert("base"), **kwargs)
    with pytest.raises(ValueError, match="Policy.drop must be"):
        Policy("deferred_dropout", 1.0)
    with pytest.raises(ValueError, match="Policy.kind must be"):
        Policy("gist")


def test_bert_blocks_have_their_dropout_layers_and_masks():
    w = bert("base", 128)
    names = [layer.name for layer in w.layers if layer.name.startswith("block0.")]
    assert [n for n in names if "dropout" in n] == ["block0.attn_dropout", "block0.attn_out_dropout",
                                                     "block0.ff2_dropout"]
    att = next(layer for layer in w.layers if layer.name == "block0.attn_dropout")
    assert att.stash[0].bits == 1 and att.stash[0].elements == 12 * 128 * 128
    # Korthikanti et al.'s inventory, 34 s h + 5 a s^2 bytes per block and sample in 16-bit:
    # count the dense stash of one block.  Masks are 1 bit here, not 1 byte: the a s^2 byte of
    # the attention mask becomes a s^2 / 8 and the two s h mask bytes 2 s h / 8.
    s, h, a = 128, 768, 12
    fp = footprint(TPUV3, w, Policy("dense"), 1)
    per_block = sum(i.elements * 2 if i.bits is None else i.elements / 8
                    for layer in w.layers if layer.block == "block0" for i in layer.stash)
    assert per_block == 32 * s * h + (4 + 1 / 8) * a * s * s + 2 * s * h / 8
    assert fp.stash_total > 12 * per_block


def test_optimizer_update_is_its_own_hbm_bound_phase():
    w = bert("base", 128)
    r = simulate_step(TPUV3, w, batch=8)
    # 28 bytes per parameter (fp32 w, g, m, v read; w, m, v written) and the bf16 copy of the
    # weights (2 bytes) at 450 GB/s, 940 MHz
    assert r.optimizer_cycles == pytest.approx(w.params * 30 / (450e9 / 940e6))
    assert r.optimizer_cycles == optimizer_cycles(TPUV3, w.params)
    fp32 = dataclasses.replace(TPUV3, act_bytes=4)  # no low-precision copy to write
    assert optimizer_cycles(fp32, w.params) == pytest.approx(w.params * 28 / (450e9 / 940e6))
    assert r.cycles == pytest.approx(sum(layer.cycles for layer in r.layers) + r.optimizer_cycles)
    # a fixed per-step cost adds once
    slow = dataclasses.replace(TPUV3, step_overhead_cycles=1e6)
    assert simulate_step(slow, w, batch=8).cycles == pytest.approx(r.cycles + 1e6)
    # the phase does not grow with the batch
    assert simulate_step(TPUV3, w, batch=16).optimizer_cycles == r.optimizer_cycles


def test_each_phase_has_its_own_roofline():
    # one 4x4 GEMM on the model input (no dX) on a 4x4 array, dense stash, batch 1, HBM 11 B/cycle.
    # forward: 1 fold of 4 rows, max(4, 4) + 4 + 4 - 2 = 10 cycles; reads X and W (32 + 32 bytes)
    # and writes Y (32): 96 / 11 = 8.7 cycles, compute-bound.  Weight gradient: 10 cycles; reads
    # the stashed X and dY (32 + 32) and writes the fp32 dW (64): 128 / 11 = 11.6, HBM-bound.
    # The layer is 10 + 128 / 11; one roofline over the layer would say max(20, 224 / 11) = 20.4.
    chip = dataclasses.replace(TPUV3, mxus=1, mxu_rows=4, mxu_cols=4, clock_hz=1000.0,
                               hbm_bytes_per_s=11_000.0)
    w = Workload("one", [Layer("fc", "gemm", 4, 4, 4, params=16, in_elements=(16,), out_elements=16,
                               inputs=("input",), stash=(StashItem("weight_grad_input", 16),),
                               input_grad=False)])
    r = simulate_step(chip, w, Policy("dense"), batch=1).layers[0]
    fwd, dx, dw, rerun = r.phases
    assert (fwd.cycles, fwd.bound, fwd.hbm) == (10, "compute", pytest.approx(96 / 11))
    assert (dw.cycles, dw.bound, dw.compute) == (pytest.approx(128 / 11), "hbm", 10)
    assert dx.cycles == rerun.cycles == 0
    assert r.cycles == pytest.approx(10 + 128 / 11) and r.bound == "hbm"
    assert r.compute_cycles == 20 and r.hbm_bytes == 224
