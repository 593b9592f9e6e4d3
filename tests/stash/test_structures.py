"""Structured selections of DeferredDropout: rows, blocks and N:M on the input's 2-D view."""
import math

import numpy as np
import pytest

from minidd import Tensor, functional as F, stash
from minidd.stash import WEIGHT_GRAD_INPUT, DeferredDropout, Dense
from minidd.stash.entries import meta_bytes


def _pack(policy, arr, feature_axis=-1):
    with stash.use(policy):
        entry = stash.save(arr, WEIGHT_GRAD_INPUT, "test", None, feature_axis)
        kind, nbytes, kept = entry.kind, entry.nbytes, entry.kept
        payload = (entry.positions.nbytes, entry.values.nbytes) if hasattr(entry, "values") else None
        back = entry.unpack().copy()
        stash.release(entry)
    return kind, nbytes, kept, payload, back


def _grid(rows, cols):
    """Distinct magnitudes with alternating signs, so every ranking is unambiguous."""
    x = (np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) % 7 + 1) * 0.5
    return x * np.where(np.arange(rows * cols).reshape(rows, cols) % 2, -1, 1)


def test_row_keeps_the_rows_of_largest_l2_norm():
    x = np.array([[3, 4], [0, 0], [1, 1], [-6, 0], [0, 5], [2, 2]], np.float32)  # norms 5 0 1.4 6 5 2.8
    kind, nbytes, kept, (pos, vals), back = _pack(DeferredDropout(0.5, structure="row"), x)
    # k = 3 rows: norm 6, then the tie at 5 (rows 0 and 4), both kept
    assert kind == "rows" and kept == 6
    assert np.array_equal(back, np.where(np.isin(np.arange(6), [0, 3, 4])[:, None], x, 0))
    assert (pos, vals) == (3 * 1, 3 * 2 * 4)  # uint8 row numbers, float32 rows
    assert nbytes == pos + vals + meta_bytes(x.shape)
    _, _, _, _, back = _pack(DeferredDropout(1 - 1 / 6, structure="row"), x)
    assert np.array_equal(np.flatnonzero(np.abs(back).sum(1)), [3])
    _, _, _, _, back = _pack(DeferredDropout(1 - 2 / 6, structure="row"), x)
    assert np.array_equal(np.flatnonzero(np.abs(back).sum(1)), [0, 3])  # tie at 5: lowest index


def test_zero_rows_are_never_kept():
    x = np.zeros((8, 3), np.float32)
    x[2] = 1.0
    _, _, kept, _, back = _pack(DeferredDropout(0.5, structure="row"), x)
    assert kept == 3 and np.array_equal(back, x)


def test_block_keeps_the_blocks_of_largest_norm_within_columns():
    x = np.zeros((5, 2), np.float32)        # block=2: blocks rows {0,1}, {2,3}, {4} in each column
    x[:, 0] = [1, 1, 3, 0, 0.5]             # block norms col 0: 1.41, 3, 0.5
    x[:, 1] = [0, 0, 1, -1, 2.5]            # block norms col 1: 0, 1.41, 2.5
    kind, nbytes, kept, (pos, vals), back = _pack(DeferredDropout(0.5, structure="block", block=2), x)
    # 6 blocks, k = 3: col 0 rows 2-3 (3), col 1 row 4 (2.5), then the tie at 1.41: col 0 rows 0-1
    expected = np.zeros_like(x)
    expected[0:4, 0] = x[0:4, 0]
    expected[4, 1] = x[4, 1]
    assert kind == "blocks" and np.array_equal(back, expected)
    assert kept == 5 and vals == 5 * 4 and pos == 1  # 6 block bits in one byte
    assert nbytes == pos + vals + meta_bytes(x.shape)


def test_nm_keeps_n_of_every_m_along_the_reduction_dim():
    x = np.array([[1, -8], [4, 1], [-3, 2], [2, 7],      # group 0
                  [5, 0], [0, 0], [-6, 0], [1, 1],       # group 1: column 1 has one tie pair
                  [9, 3]], np.float32)                   # partial group: padded with zeros
    kind, nbytes, kept, (pos, vals), back = _pack(DeferredDropout(structure="nm"), x)
    expected = np.array([[0, -8], [4, 0], [-3, 0], [0, 7],
                         [5, 0], [0, 0], [-6, 0], [0, 1],
                         [9, 3]], np.float32)
    assert kind == "nm" and np.array_equal(back, expected)
    slots = 3 * 2 * 2                       # 3 groups x n=2 x 2 columns
    assert kept == slots and vals == slots * 4 and pos == math.ceil(slots * 2 / 8)
    assert nbytes == pos + vals + meta_bytes(x.shape)


@pytest.mark.parametrize("n, m", [(1, 2), (2, 4), (1, 8), (3, 7), (5, 16)])
def test_nm_counts_and_magnitudes(n, m, rng):
    x = rng.standard_normal((64, 24)).astype(np.float32)
    p = DeferredDropout(structure="nm", n=n, m=m)
    assert p.drop == 1 - n / m
    _, nbytes, _, (pos, vals), back = _pack(p, x)
    groups = back.reshape(-1, m, 24) if 64 % m == 0 else None
    if groups is not None:
        assert ((groups != 0).sum(axis=1) == n).all()
        kept_min = np.where(groups != 0, np.abs(groups), np.inf).min(axis=1)
        dropped_max = np.where(groups == 0, np.abs(x.reshape(-1, m, 24)), 0).max(axis=1)
        assert (kept_min >= dropped_max).all()
    slots = -(-64 // m) * n * 24
    assert pos == math.ceil(slots * max(1, (m - 1).bit_length()) / 8) and vals == slots * 4


STRUCTURED = {"row": dict(drop=0.75, structure="row"),
              "block": dict(drop=0.75, structure="block", block=8),
              "nm": dict(structure="nm")}


@pytest.mark.parametrize("structure", STRUCTURED)
@pytest.mark.parametrize("value_dtype", ["float16", "bfloat16"])
def test_narrow_values_with_structures(structure, value_dtype, rng):
    x = rng.standard_normal((64, 32)).astype(np.float32)
    _, _, _, (_, vals), back = _pack(DeferredDropout(**STRUCTURED[structure], value_dtype=value_dtype), x)
    _, _, _, (_, vals32), back32 = _pack(DeferredDropout(**STRUCTURED[structure]), x)
    assert vals * 2 == vals32
    assert np.array_equal(back != 0, back32 != 0)
    np.testing.assert_allclose(back, back32, rtol=8e-3)


@pytest.mark.parametrize("structure", ["row", "block"])
def test_sampled_structures_are_seeded_and_near_target(structure, rng):
    x = rng.standard_normal((4096, 8)).astype(np.float32)
    kw = dict(structure=structure, selection="sample", sample_size=512)
    if structure == "block":
        kw["block"] = 4
    a = _pack(DeferredDropout(0.9, seed=1, **kw), x)
    b = _pack(DeferredDropout(0.9, seed=1, **kw), x)
    assert np.array_equal(a[4], b[4])
    assert abs(a[2] / (0.1 * x.size) - 1) < 0.25


def test_conv_view_rows_are_positions_across_channels(rng):
    """NCHW input: a row is one (sample, y, x) position with all its channels."""
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    _, _, kept, _, back = _pack(DeferredDropout(0.75, structure="row"), x, feature_axis=1)
    kept_pos = (back != 0).any(axis=1)                   # (N, H, W)
    assert kept_pos.sum() == math.ceil(0.25 * 2 * 4 * 5) and kept == kept_pos.sum() * 3
    assert np.array_equal(back, np.where(kept_pos[:, None], x, 0))
    norms = np.sqrt((x ** 2).sum(axis=1))
    assert norms[kept_pos].min() >= norms[~kept_pos].max()


def test_conv_view_blocks_run_along_positions_of_one_channel():
    x = np.zeros((1, 2, 2, 4), np.float32)               # 8 positions, 2 channels, block = 4
    x[0, 0, 0, :] = 1.0                                  # channel 0, positions 0-3
    x[0, 1, 1, :] = [0, 0, 0, 3.0]                       # channel 1, positions 4-7
    x[0, 1, 0, 0] = 0.5                                  # channel 1, positions 0-3
    _, _, _, _, back = _pack(DeferredDropout(0.5, structure="block", block=4), x, feature_axis=1)
    expected = x.copy()
    expected[0, 1, 0, 0] = 0
    assert np.array_equal(back, expected)


def _linear_grads(policy, x, w, g):
    xt, wt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    with stash.use(policy):
        out = F.linear(xt, wt)
        entry = [r for r in stash.ledger().rows() if r.role == WEIGHT_GRAD_INPUT]
        out.backward(g)
    return xt.grad, wt.grad, entry


@pytest.mark.parametrize("policy", [DeferredDropout(0.8, structure="row"),
                                    DeferredDropout(0.8, structure="block", block=4),
                                    DeferredDropout(structure="nm", n=1, m=4)], ids=repr)
def test_linear_dx_exact_and_dw_from_the_structured_stash(policy, rng):
    x = rng.standard_normal((4, 8, 16))
    w = rng.standard_normal((6, 16))
    g = rng.standard_normal((4, 8, 6))
    gx_d, gw_d, _ = _linear_grads(Dense(), x, w, g)
    gx, gw, _ = _linear_grads(policy, x, w, g)
    assert np.array_equal(gx, gx_d)
    with stash.use(policy):
        e = stash.save(x, WEIGHT_GRAD_INPUT, "t", 16)
        xs = e.unpack().copy()
        stash.release(e)
    view = xs.reshape(-1, 16)
    if policy.structure == "row":
        assert ((view != 0).all(axis=1) | (view == 0).all(axis=1)).all()
    np.testing.assert_allclose(gw, g.reshape(-1, 6).T @ view, rtol=1e-12)
    assert not np.allclose(gw, gw_d)


def test_conv_dw_reads_the_structured_stash(rng):
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    policy = DeferredDropout(0.7, structure="row", keep_marked_dense=False)
    with stash.use(policy):
        e = stash.save(x, WEIGHT_GRAD_INPUT, "t", None, 1)
        xs = e.unpack().copy()
        stash.release(e)
    grads = []
    for pol, inp in ((policy, x), (Dense(), xs)):
        xt, wt = Tensor(inp, requires_grad=True), Tensor(w, requires_grad=True)
        with stash.use(pol):
            F.conv2d(xt, wt, padding=1).sum().backward()
        grads.append(wt.grad)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_nm_overrides_schedules_and_marks(rng):
    from minidd import nn
    model = nn.MLP((16, 32, 32, 4), rng=rng)
    x = Tensor(rng.standard_normal((8, 16)).astype(np.float32))

    def kinds(policy):
        with stash.use(policy):
            loss = model(x).sum()
            out = {r.layer: r.kind for r in stash.ledger().rows() if r.role == WEIGHT_GRAD_INPUT}
            loss.backward()
        return out

    assert kinds(DeferredDropout(structure="nm")) == {"layers.0": "dense", "layers.2": "nm",
                                                      "layers.4": "bitmap"}
    assert kinds(DeferredDropout(structure="nm", layers={"layers.2": 0})) == {
        "layers.0": "dense", "layers.2": "bitmap", "layers.4": "bitmap"}
    p = DeferredDropout(0.75, structure="row", warmup_steps=1)
    assert kinds(p)["layers.2"] == "bitmap"
    p.set_step(1)
    assert kinds(p)["layers.2"] == "rows"


def test_no_saving_falls_back_to_dense(rng):
    x = rng.standard_normal((4, 4)).astype(np.float32)  # 1-in-16 blocks of 1: bitmap > values?
    kind, nbytes, kept, _, back = _pack(DeferredDropout(0.01, structure="row"), x)
    assert kind == "dense" and kept == 16 and np.array_equal(back, x)
    assert nbytes == x.nbytes + meta_bytes(x.shape)


@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (3, 8), (4, 16), (2, 32)])
def test_nm_selection_matches_a_stable_sort_with_ties(n, m, rng):
    from minidd.stash.structures import nm_groups, nm_select
    view = np.round(rng.standard_normal((10 * m + 3, 5)) * 2).astype(np.float32)  # many ties
    _, pos = nm_select(view, n, m, "t")
    ref = np.sort(np.argsort(-np.abs(nm_groups(view, m)), axis=1, kind="stable")[:, :n], axis=1)
    assert np.array_equal(pos, ref)


@pytest.mark.parametrize("bits", range(1, 9))
def test_small_int_packing_round_trips_in_exactly_the_bits(bits, rng):
    from minidd.stash.structures import pack_small_ints, unpack_small_ints
    values = rng.integers(0, 1 << bits, 1001).astype(np.uint8)
    packed = pack_small_ints(values, bits)
    assert packed.nbytes == math.ceil(1001 * bits / 8)
    assert np.array_equal(unpack_small_ints(packed, bits, 1001), values)
