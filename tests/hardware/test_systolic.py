"""Closed forms of GEMM timing, pinned on hand-derived cases."""
import itertools

import pytest

from hardware.systolic import core_gemm_cycles, gemm_cycles


# SCALE-Sim v2 builds one demand-matrix row per cycle; its Total Cycles is the index of the last
# row (stall-free), hence the single -1 per GEMM.  Per fold, weight- and input-stationary pay R
# rows of stationary-operand load, T streamed rows, C - 1 drain rows and the R - 1 skew of the
# systolic fill: T + 2R + C - 2.  Output-stationary preloads nothing: T + R + C - 2.
@pytest.mark.parametrize("m, k, n, r, c, df, expected", [
    (512, 768, 768, 128, 128, "ws", 6 * 6 * (512 + 256 + 128 - 2) - 1),   # 32,183: DESIGN.md example
    (10, 130, 129, 128, 128, "ws", 2 * 2 * (10 + 256 + 128 - 2) - 1),     # partial folds in K and N
    (4, 3, 5, 8, 8, "ws", 1 * (4 + 16 + 8 - 2) - 1),                      # array larger than the GEMM
    (100, 64, 256, 128, 128, "ws", 1 * 2 * (100 + 256 + 128 - 2) - 1),    # K smaller than R
    # SCALE-Sim's own golden trace (test/golden_trace/COMPUTE_REPORT.csv: 112,283 cycles, 0
    # stalls): AlexNet conv1 (224x224x3, 11x11, stride 4, 96 filters) on 32x32 ws.  SCALE-Sim
    # takes ceil((224 - 11 + 4) / 4) = 55 output rows, so M = 55 * 55, K = 11 * 11 * 3, N = 96:
    # 12 * 3 folds of 3025 + 64 + 32 - 2 = 3,119 cycles, minus one.
    (55 * 55, 363, 96, 32, 32, "ws", 112283),
    (300, 50, 100, 128, 64, "os", 3 * 2 * (50 + 128 + 64 - 2) - 1),      # output stationary: T = K, no preload
    (4, 3, 5, 8, 8, "os", 1 * (3 + 8 + 8 - 2) - 1),                       # one partial fold
    (256, 512, 256, 128, 128, "os", 2 * 2 * (512 + 128 + 128 - 2) - 1),   # long reduction, 4 folds
    (70, 200, 30, 64, 64, "is", 4 * 2 * (30 + 128 + 64 - 2) - 1),        # input stationary: T = N
])
def test_scalesim_closed_form(m, k, n, r, c, df, expected):
    t = gemm_cycles(m, k, n, r, c, df, model="scalesim")
    assert t.cycles == expected
    assert t.macs == m * k * n
    assert 0 < t.utilization <= 1


def test_example_from_the_design_notes():
    assert gemm_cycles(512, 768, 768, 128, 128, "ws", "scalesim").cycles == 32183


@pytest.mark.parametrize("m, k, n, expected", [
    (512, 768, 768, 36 * 512 + 128 + 128 - 2),   # streaming hides every weight load
    (64, 256, 256, 4 * 128 + 128 + 128 - 2),     # M < R: a fold still waits R cycles for weights
])
def test_tpu_closed_form(m, k, n, expected):
    assert gemm_cycles(m, k, n, 128, 128, "ws", "tpu").cycles == expected


def test_tpu_advantage_is_the_fill_and_drain_it_does_not_repeat():
    """With T >= R, scalesim - tpu = (folds - 1) (2R + C - 2) + R - 1: one fill/drain per fold
    against one in all, plus the weight loads that double buffering hides."""
    r = c = 128
    for m, k, n in itertools.product((128, 300, 1000), (64, 200, 768), (50, 128, 513)):
        s = gemm_cycles(m, k, n, r, c, "ws", "scalesim")
        t = gemm_cycles(m, k, n, r, c, "ws", "tpu")
        assert t.cycles <= s.cycles and t.folds == s.folds
        assert s.cycles - t.cycles == (s.folds - 1) * (2 * r + c - 2) + r - 1


def test_two_arrays_split_columns_or_groups():
    one = gemm_cycles(512, 768, 384, 128, 128).cycles
    assert core_gemm_cycles(512, 768, 768, 1, 2, 128, 128).cycles == one
    # 12 heads of 128x64x128 on two arrays: 6 per array, pipelined in tpu timing.  One head is
    # one fold (K=64 < R, N=128 = C) streaming T=128 rows: 128 cycles, plus fill and drain
    # R + C - 2 = 254 paid once per array: 6 * 128 + 254.
    assert core_gemm_cycles(128, 64, 128, 12, 2, 128, 128).cycles == 6 * 128 + 254
    # scalesim runs each head as a layer of its own: 6 * (128 + 256 + 128 - 2 - 1)
    assert core_gemm_cycles(128, 64, 128, 12, 2, 128, 128, model="scalesim").cycles == 6 * 509


def test_skipped_streamed_vectors_shorten_each_fold():
    # WS, T = M = 1000 streamed rows per fold, 2 x 2 folds; skipping 90% leaves 100 rows, but a
    # fold still waits R = 128 cycles for its stationary operand: 4 * 128 + 254.
    assert gemm_cycles(1000, 256, 256, 128, 128, skipped=0.9).cycles == 4 * 128 + 254
    assert gemm_cycles(1000, 256, 256, 128, 128, skipped=0.5).cycles == 4 * 500 + 254
    assert gemm_cycles(1000, 256, 256, 128, 128, skipped=0.5, model="scalesim").cycles == 4 * (500 + 382) - 1


@pytest.mark.parametrize("kwargs, match", [
    ({"m": 0}, "m must be a positive int"),
    ({"k": -3}, "k must be a positive int"),
    ({"rows": 2.5}, "rows must be a positive int"),
    ({"dataflow": "rs"}, "dataflow must be one of"),
    ({"model": "cycle-exact"}, "model must be one of"),
])
def test_bad_sizes_and_names(kwargs, match):
    args = {"m": 8, "k": 8, "n": 8, "rows": 4, "cols": 4, "dataflow": "ws", "model": "tpu"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gemm_cycles(**args)


@pytest.mark.parametrize("m, k, n, split, expected", [
    # N = 64 <= 128: by columns each array holds 32 of its 128 columns and streams all 512 rows,
    # 6 folds x 512 + 254; by rows each holds all 64 columns and streams 256: 6 x 256 + 254
    (512, 768, 64, "m", 6 * 256 + 254),
    # wide N, short M: by columns 6 x 4 folds of max(104, 128) rows (M = 100 padded to 104);
    # by rows 6 x 8 folds of 128: columns win
    (100, 768, 1024, "n", 24 * 128 + 254),
    # the tie (512 x 768 x 768: 18 folds x 512 either way, or 36 x 256) goes to columns
    (512, 768, 768, "n", 18 * 512 + 254),
    # M = 201 pads to 208 sublane rows: by rows 104 each, a fold still waits R = 128 cycles
    # (2 x 128 + 254); by columns 1 fold of 208 rows on each array: 208 + 254
    (201, 128, 256, "n", 208 + 254),
])
def test_mapper_picks_the_better_split_on_hand_cases(m, k, n, split, expected):
    t = core_gemm_cycles(m, k, n, 1, 2, 128, 128)
    assert (t.mapping, t.cycles) == (split, expected)
    assert t.macs == m * k * n


def test_mapper_pads_the_streamed_dimension_to_eight_sublanes():
    # one array, M = 129 streamed rows padded to 136: 136 + 254 (the bare array: 129 + 254)
    assert core_gemm_cycles(129, 128, 128, 1, 1, 128, 128).cycles == 136 + 254
    assert gemm_cycles(129, 128, 128, 128, 128).cycles == 129 + 254
    # scalesim timing neither pads nor splits by rows: SCALE-Sim's layers as they are
    t = core_gemm_cycles(512, 768, 64, 1, 2, 128, 128, model="scalesim")
    assert t.mapping == "n" and t.cycles == gemm_cycles(512, 768, 32, 128, 128, model="scalesim").cycles
