"""Forward values and gradients agree with PyTorch for the ops that map one-to-one.

Optional: skipped when torch is not installed (minidd never depends on it).
"""
import numpy as np
import pytest

from minidd import Tensor, functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

_LABELS = np.array([0, -100, 2, 1, -100, 2])
_COND = np.array([True, False, False, True])

# (name, minidd function, torch function, input shapes or makers)
CASES = [
    ("abs", F.abs, torch.abs, [(3, 4)]),
    ("minimum", F.minimum, torch.minimum, [(2, 3, 4), (4,)]),
    ("clamp", lambda a: F.clamp(a, -0.5, 0.3), lambda a: torch.clamp(a, -0.5, 0.3), [(3, 4)]),
    ("clamp_min", lambda a: F.clamp(a, min=0.1), lambda a: torch.clamp(a, min=0.1), [(5,)]),
    ("where", lambda a, b: F.where(_COND, a, b),
     lambda a, b: torch.where(torch.tensor(_COND), a, b), [(3, 4), (4,)]),
    ("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [(3, 4)]),
    ("pow_tensor", lambda a, b: F.abs(a) ** b, lambda a, b: torch.abs(a) ** b, [(3, 4), (4,)]),
    ("min", lambda a: a.min(axis=1), lambda a: a.amin(dim=1), [(3, 4)]),
    ("min_all", lambda a: a.min(), torch.min, [(3, 4)]),
    ("squeeze", lambda a: a.squeeze(), torch.squeeze, [(1, 3, 1, 2)]),
    ("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [(2, 3)]),
    ("flatten", lambda a: a.flatten(1), lambda a: torch.flatten(a, 1), [(2, 3, 4)]),
    ("matmul_vv", F.matmul, torch.matmul, [(4,), (4,)]),
    ("matmul_mv", F.matmul, torch.matmul, [(3, 4), (4,)]),
    ("matmul_vm", F.matmul, torch.matmul, [(4,), (4, 5)]),
    ("matmul_bv", F.matmul, torch.matmul, [(2, 3, 4), (4,)]),
    ("matmul_vb", F.matmul, torch.matmul, [(3,), (2, 3, 4)]),
    ("mse_mean", F.mse_loss, TF.mse_loss, [(3, 4), (3, 4)]),
    ("mse_sum", lambda a, b: F.mse_loss(a, b, "sum"), lambda a, b: TF.mse_loss(a, b, reduction="sum"), [(5,), (5,)]),
    ("mse_none", lambda a, b: F.mse_loss(a, b, "none"), lambda a, b: TF.mse_loss(a, b, reduction="none"), [(2, 3), (2, 3)]),
    ("bce_logits", F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
     [(3, 4), lambda rng: rng.uniform(0, 1, (3, 4))]),
    ("bce_logits_none", lambda a, t: F.binary_cross_entropy_with_logits(a * 8, t, "none"),
     lambda a, t: TF.binary_cross_entropy_with_logits(a * 8, t, reduction="none"),
     [(6,), lambda rng: rng.uniform(0, 1, (6,))]),
    ("nll", lambda a: F.nll_loss(F.log_softmax(a), _LABELS),
     lambda a: TF.nll_loss(TF.log_softmax(a, dim=-1), torch.tensor(_LABELS)), [(6, 3)]),
    ("nll_sum", lambda a: F.nll_loss(a, _LABELS, reduction="sum"),
     lambda a: TF.nll_loss(a, torch.tensor(_LABELS), reduction="sum"), [(6, 3)]),
    ("nll_none", lambda a: F.nll_loss(a, _LABELS, reduction="none"),
     lambda a: TF.nll_loss(a, torch.tensor(_LABELS), reduction="none"), [(6, 3)]),
    ("ce_ignore", lambda a: F.cross_entropy(a, _LABELS),
     lambda a: TF.cross_entropy(a, torch.tensor(_LABELS)), [(6, 3)]),
    ("ce_smooth", lambda a: F.cross_entropy(a, np.abs(_LABELS) % 3, label_smoothing=0.2),
     lambda a: TF.cross_entropy(a, torch.tensor(np.abs(_LABELS) % 3), label_smoothing=0.2), [(6, 3)]),
    ("ce_ignore_smooth_sum", lambda a: F.cross_entropy(a, _LABELS, label_smoothing=0.1, reduction="sum"),
     lambda a: TF.cross_entropy(a, torch.tensor(_LABELS), label_smoothing=0.1, reduction="sum"), [(6, 3)]),
    ("ce_none", lambda a: F.cross_entropy(a, _LABELS, label_smoothing=0.3, reduction="none"),
     lambda a: TF.cross_entropy(a, torch.tensor(_LABELS), label_smoothing=0.3, reduction="none"), [(6, 3)]),
    ("var_ddof1", lambda a: a.var(axis=0, ddof=1), lambda a: torch.var(a, dim=0), [(5, 3)]),
    ("gelu_tanh", F.gelu, lambda a: TF.gelu(a, approximate="tanh"), [(3, 4)]),
    ("gelu_erf", lambda a: F.gelu(a, approximate="none"), TF.gelu, [(3, 4)]),
    ("micrograd", lambda a, b, c: (a * b + c).tanh(), lambda a, b, c: torch.tanh(a * b + c), [(), (), ()]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_torch(case, rng):
    _, ours, theirs, specs = case
    arrays = [s(rng) if callable(s) else rng.standard_normal(s) for s in specs]
    mine = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y, y_ref = ours(*mine), theirs(*ref)
    np.testing.assert_allclose(y.data, y_ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    cot = rng.standard_normal(y.shape)
    y.backward(cot)
    y_ref.backward(torch.from_numpy(np.array(cot, dtype=np.float64)))
    for t, r in zip(mine, ref):
        np.testing.assert_allclose(t.grad, r.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_argmax_matches_torch(rng):
    x = rng.standard_normal((4, 5))
    np.testing.assert_array_equal(F.argmax(Tensor(x), axis=1).data, torch.argmax(torch.from_numpy(x), dim=1).numpy())
    assert F.argmax(Tensor(x)).item() == torch.argmax(torch.from_numpy(x)).item()
