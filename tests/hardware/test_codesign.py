"""The co-designed array's weight-gradient GEMM: what skipping all-zero streamed vectors buys,
by selection structure (hand-derived cases)."""
import pytest

from hardware import TPUV3, Policy, bert, simulate_step
from hardware.codesign import conv_block_touches, dw_gemm, zero_vector_fraction, zero_vector_fraction_conv
from hardware.compression import policy_from_config
from hardware.config import CODESIGN


def test_zero_vector_probability_by_structure():
    # element: all 128 streamed elements dropped independently
    assert zero_vector_fraction(0.1, "element", 128) == pytest.approx(0.9 ** 128)
    assert 0.9 ** 128 < 1e-5
    # block of 128 aligned with a 128-row array: one block per vector, zero iff it is dropped
    assert zero_vector_fraction(0.1, "block", 128, 128) == pytest.approx(0.9)
    assert zero_vector_fraction(0.1, "block", 128, 256) == pytest.approx(0.9)
    # blocks of 64: two per vector, both dropped
    assert zero_vector_fraction(0.1, "block", 128, 64) == pytest.approx(0.81)
    # blocks of 96: vectors [0,127], [128,255], [256,383] each straddle two blocks
    assert zero_vector_fraction(0.1, "block", 128, 96) == pytest.approx(0.81)
    # N:M keeps n of every m along the reduction: never an all-zero vector
    assert zero_vector_fraction(0.125, "nm", 128) == 0.0


# dW of BERT's second feed-forward layer at batch 32 x 128 tokens: reduction 4096, 3072 input
# features streamed, 768 outputs split over the two arrays (384 each).  Weight-stationary tpu
# timing per array: ceil(4096/128) * ceil(384/128) = 96 folds of max(T, 128) cycles, plus the
# fill and drain 128 + 128 - 2 = 254 once.  Dense: T = 3072.
DENSE = 96 * 3072 + 254


def test_unstructured_selection_removes_under_one_percent_of_dw_cycles():
    c = dw_gemm(4096, 3072, 768, 1, 0.1, "element", 128, CODESIGN, "tpu", "ws").cycles
    assert c == DENSE  # ceil(3072 (1 - 0.9^128)) = 3072: not one cycle saved
    assert 1 - c / DENSE < 0.01


def test_block_selection_removes_at_least_85_percent_of_dw_cycles():
    c = dw_gemm(4096, 3072, 768, 1, 0.1, "block", 128, CODESIGN, "tpu", "ws").cycles
    assert c == 96 * 308 + 254  # T = ceil(3072 * 0.1) = 308 streamed vectors per fold
    assert 1 - c / DENSE >= 0.85


def test_skipping_cannot_take_a_fold_below_the_stationary_load():
    # 768 input features: 0.1 * 768 = 77 vectors, but a fold still waits R = 128 cycles
    dense = 96 * 768 + 254
    c = dw_gemm(4096, 768, 768, 1, 0.1, "block", 128, CODESIGN, "tpu", "ws").cycles
    assert c == 96 * 128 + 254 and 0.80 < 1 - c / dense < 0.85


def test_rows_shrink_the_reduction_on_any_array_and_tpuv3_skips_nothing():
    # whole tokens: the kept 410 of 4096 rows of dY are gathered: ceil(410/128) = 4 row folds
    c = dw_gemm(4096, 3072, 768, 1, 0.1, "row", 128, TPUV3, "tpu", "ws").cycles
    assert c == 4 * 3 * 3072 + 254
    assert dw_gemm(4096, 3072, 768, 1, 0.1, "block", 128, TPUV3, "tpu", "ws").cycles == DENSE


def test_step_on_the_codesigned_array_by_structure():
    w = bert("base", 128)
    base = simulate_step(CODESIGN, w, Policy("zero_value"), 64)
    assert base.dw_cycles == simulate_step(TPUV3, w, Policy("zero_value"), 64).dw_cycles
    elem = simulate_step(CODESIGN, w, Policy("deferred_dropout", 0.9), 64)
    block = simulate_step(CODESIGN, w, Policy("deferred_dropout", 0.9, structure="block", block=128), 64)
    assert elem.dw_cycles == base.dw_cycles
    assert block.dw_cycles < 0.2 * base.dw_cycles and block.seconds < base.seconds


def test_policy_from_a_minidd_config():
    p = policy_from_config({"policy": "deferred_dropout", "drop": 0.75, "granularity": "tensor",
                            "value_dtype": "bfloat16", "selection": "sample", "warmup_steps": 0,
                            "ramp_steps": 0, "layers": {"head": 0.0}, "keep_marked_dense": True,
                            "structure": "block", "block": 64, "n": 2, "m": 4, "sample_size": 4096,
                            "seed": 0})
    assert (p.kind, p.drop, p.selection, p.value_bytes, p.structure, p.block) == \
        ("deferred_dropout", 0.75, "sample", 2, "block", 64)
    assert p.drop_for("head") == 0.0 and p.drop_for("block0.q") == 0.75
    assert policy_from_config({"policy": "zero_value"}) == Policy("zero_value")
    with pytest.raises(ValueError, match="unknown key 'dropp'"):
        policy_from_config({"policy": "deferred_dropout", "dropp": 0.5})


def test_conv_block_skipping_follows_the_im2col_geometry():
    # 1x1 stride 1: im2col is the input itself, so a 128-vector is one 128-block, as for linear
    assert zero_vector_fraction_conv(0.1, (56, 56, 1, 1, 0), 128, 128) == pytest.approx(0.9)
    # 4x4 input, 3x3 kernel, stride 1, padding 1, R = B = 4: a vector is one output row y of one
    # sample; for kernel row dy it reads input row y + dy - 1 (one block: an input row) or only
    # padding (dy = 0, y = 0 and dy = 2, y = 3).  Of the 12 (dy, y) pairs, 2 touch no block
    # (always zero) and 10 touch one: (2 + 10 x 0.9) / 12
    assert conv_block_touches((4, 4, 3, 1, 1), 4, 4) == pytest.approx((2 / 12, 10 / 12, 0, 0, 0))
    assert zero_vector_fraction_conv(0.1, (4, 4, 3, 1, 1), 4, 4) == pytest.approx((2 + 10 * 0.9) / 12)
    # 4x4 input, 1x1 kernel, stride 2: the 4 outputs of a sample read input positions 0, 2, 8,
    # 10, which fall into blocks 0 and 2 of 4: two blocks, 0.9^2
    assert zero_vector_fraction_conv(0.1, (4, 4, 1, 2, 0), 4, 4) == pytest.approx(0.81)


def test_3x3_convolutions_skip_less_than_the_linear_approximation():
    # ResNet-50's 3x3 convolutions: most vectors straddle two input blocks (0.9 or 0.81 each)
    f = zero_vector_fraction_conv(0.1, (56, 56, 3, 1, 1), 128, 128)
    assert 0.81 < f < 0.9
    # its 7x7 stage (512 channels x 9 = 4,608 im2col features, batch 64): fewer cycles skipped
    # than the linear approximation, which treats every vector as one block
    args = (7 * 7 * 64, 512 * 9, 512, 1, 0.1, "block", 128, CODESIGN, "tpu", "ws")
    assert dw_gemm(*args, conv=(7, 7, 3, 1, 1)).cycles > dw_gemm(*args).cycles



def test_row_selection_on_a_convolution_is_one_gemm_per_kernel_offset():
    # 3x3 conv, 64 -> 64 channels, 4,096 output positions, 10% of input positions kept: nine
    # GEMMs [64 x 410] [410 x 64] (one per offset, spread over the two MXUs), not one
    # [576 x 410] [410 x 64]; and nine dY gathers of 410 x 64 bf16 rows, read and written
    from hardware.codesign import row_gather_bytes
    from hardware.systolic import core_gemm_cycles
    conv = (64, 64, 3, 1, 1)
    got = dw_gemm(4096, 576, 64, 1, 0.1, "row", 128, TPUV3, "tpu", "ws", conv).cycles
    assert got == core_gemm_cycles(64, 410, 64, 9, 2, 128, 128).cycles
    assert got > dw_gemm(4096, 576, 64, 1, 0.1, "row", 128, TPUV3, "tpu", "ws").cycles
    assert row_gather_bytes(4096, 64, 1, 0.1, conv, 2) == 2 * 9 * 410 * 64 * 2
    assert row_gather_bytes(4096, 64, 1, 0.1, (), 2) == 2 * 410 * 64 * 2  # a linear layer: one gather
