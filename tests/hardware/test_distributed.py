"""The data-parallel gradient all-reduce and the workload mechanisms the calibration adds."""
import dataclasses
import math

import pytest

from hardware import TPUV3, bert
from hardware.calibration import LAMB_BERT_LARGE, LAMB_WEAK_SCALING, RESNET50_V3_512
from hardware.calibration import MLPERF_BERT_V3_32 as FIT
from hardware.calibration import MLPERF_RESNET50_V3_32 as VALIDATION
from hardware.calibration import mechanism_breakdown, predict, weak_scaling_lines, without_mechanisms
from hardware.distributed import DataParallel, allreduce_seconds


def test_ring_allreduce_cost_is_derived_by_hand():
    # 4 chips, 1,000 fp32 gradients = 4,000 bytes at 200 B/s per chip: 2 * 3/4 * 4000 / 200 = 30 s
    dp = DataParallel(chips=4, allreduce_bytes_per_s=200.0, gradient_bytes=4)
    assert allreduce_seconds(1000, dp) == pytest.approx(30.0)
    assert allreduce_seconds(1000, dataclasses.replace(dp, chips=1)) == 0.0
    assert allreduce_seconds(1000, dataclasses.replace(dp, gradient_bytes=2)) == pytest.approx(15.0)
    # the default: Google's 340 TB/s per 1,024-chip pod
    assert DataParallel(chips=2).allreduce_bytes_per_s == pytest.approx(332.03e9, rel=1e-4)


def test_one_hot_embedding_moves_the_table_into_a_gemm():
    plain, onehot = bert("base", 64), bert("base", 64, one_hot_embeddings=True)
    assert onehot.params == plain.params
    word = next(layer for layer in onehot.layers if layer.name == "word_embed")
    assert (word.kind, word.macs, word.input_grad) == ("gemm", 64 * 30522 * 768, False)


def test_pretraining_heads_replace_the_classifier():
    h, v, s = 768, 30522, 128
    plain, pre = bert("base", s), bert("base", s, pretraining=True)
    p = math.ceil(0.15 * s)
    assert p == 20  # max_predictions_per_seq of the BERT recipe at sequence 128
    head_macs = {layer.name: layer.macs for layer in pre.layers if not layer.block and layer.kind == "gemm"}
    assert head_macs == {"mlm_transform": p * h * h, "mlm_decoder": p * h * v, "pooler": h * h, "nsp": 2 * h}
    # new parameters: transform (h*h + h), decoder bias (v), pooler (h*h + h), nsp (2h + 2), not the classifier
    assert pre.params - plain.params == (h * h + h) + v + (h * h + h) + (2 * h + 2) - (2 * h + 2)


def test_predict_adds_the_allreduce_and_the_runs_precision():
    lamb = LAMB_BERT_LARGE
    bare = without_mechanisms(lamb)
    assert predict(TPUV3, bare) < predict(TPUV3, dataclasses.replace(bare, overrides=lamb.overrides))
    no_comm = dataclasses.replace(lamb, data_parallel=None)
    params = bert("large", 128, pretraining=True, one_hot_embeddings=True).params
    assert predict(TPUV3, lamb) - predict(TPUV3, no_comm) == pytest.approx(
        allreduce_seconds(params, lamb.data_parallel))
    assert (lamb.data_parallel.chips, RESNET50_V3_512.data_parallel.chips) == (16, 256)
    # the MLPerf v0.7 pair: both on a TPU v3-32 (16 chips), the BERT run in bf16 with a gathered embedding
    assert (FIT.data_parallel.chips, VALIDATION.data_parallel.chips) == (16, 16)
    assert dict(FIT.bert_options) == {"pretraining": True} and FIT.overrides == ()


def test_mechanism_breakdown_adds_up_to_the_full_prediction():
    for m in (FIT, VALIDATION, LAMB_BERT_LARGE, RESNET50_V3_512):
        parts = mechanism_breakdown(TPUV3, m)
        assert [w for w, _ in parts] == ["workload (pre-training heads, embedding as the run looks it up)",
                                         "precision and optimizer state", "gradient all-reduce",
                                         "sharded weight update"]
        total = predict(TPUV3, without_mechanisms(m)) * 1e3 + sum(ms for _, ms in parts)
        assert total == pytest.approx(predict(TPUV3, m) * 1e3)
    # fp32 activations make the LAMB run slower; the all-reduce of 336M fp32 gradients over 16
    # chips at 332 GB/s per chip: 2 x 15/16 x 1.34 GB / 332 GB/s = 7.6 ms
    lamb = dict(mechanism_breakdown(TPUV3, LAMB_BERT_LARGE))
    assert lamb["precision and optimizer state"] > 0
    params = bert("large", 128, pretraining=True, one_hot_embeddings=True).params
    assert lamb["gradient all-reduce"] == pytest.approx(2 * 15 / 16 * params * 4 / (340e12 / 1024) * 1e3)
    # the bf16 MLPerf BERT run changes no chip field
    assert dict(mechanism_breakdown(TPUV3, FIT))["precision and optimizer state"] == 0


def test_weak_scaling_series_is_converted_and_printed():
    # 82.8 h over 1,000k steps = 298 ms; 101.2 min over 15.6k steps = 389 ms
    assert LAMB_WEAK_SCALING[0][3] * 3600 / LAMB_WEAK_SCALING[0][2] == pytest.approx(0.29808)
    lines = weak_scaling_lines(TPUV3)
    assert "16 chips 298 ms" in lines[0] and "1024 chips 389 ms" in lines[0]
    assert "measured +31%" in lines[1]

