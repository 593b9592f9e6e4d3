"""One SGD training step in minidd against the same step hand-written in NumPy.

    python benchmarks/bench_engine.py [--repeats 15]

Prints the median step time of each and the ratio minidd / NumPy (goal: under 1.10).  Where
torch happens to be importable it also times PyTorch's step as a peer figure.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import median_times  # noqa: E402

from minidd import Tensor, functional as F, nn  # noqa: E402
from minidd.optim import SGD  # noqa: E402

LR = 0.01


# ------------------------------------------------------------------ hand-written NumPy steps
def _xent_grad(z, y):
    """Gradient of the mean cross-entropy with respect to the logits ``z``."""
    e = np.exp(z - z.max(1, keepdims=True))
    d = e / e.sum(1, keepdims=True)
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    return d


def numpy_mlp_step(params, x, y):
    (w1, b1), (w2, b2), (w3, b3) = params
    h1 = x @ w1.T + b1
    m1 = h1 > 0
    a1 = h1 * m1
    h2 = a1 @ w2.T + b2
    m2 = h2 > 0
    a2 = h2 * m2
    d = _xent_grad(a2 @ w3.T + b3, y)
    grads = [(d.T @ a2, d.sum(0))]
    d2 = (d @ w3) * m2
    grads.append((d2.T @ a1, d2.sum(0)))
    d1 = (d2 @ w2) * m1
    grads.append((d1.T @ x, d1.sum(0)))
    for (w, b), (gw, gb) in zip(params, grads[::-1]):
        w -= LR * gw
        b -= LR * gb


def _conv(x, w, b):
    win = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), axis=(2, 3))
    y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])) + b
    return np.ascontiguousarray(y.transpose(0, 3, 1, 2)), win


def _conv_back(g, win, w, x_shape):
    gw = np.tensordot(g, win, axes=([0, 2, 3], [0, 2, 3]))
    dwin = np.tensordot(g, w, axes=([1], [0])).transpose(0, 3, 1, 2, 4, 5)
    n, c, h, wd = x_shape
    dxp = np.zeros((n, c, h + 2, wd + 2), dtype=g.dtype)
    for i in range(3):
        for j in range(3):
            dxp[:, :, i:i + h, j:j + wd] += dwin[:, :, :, :, i, j]
    return dxp[:, :, 1:-1, 1:-1], gw, g.sum(axis=(0, 2, 3))


def _pool(x):
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    idx = win.argmax(-1)
    return np.take_along_axis(win, idx[..., None], -1)[..., 0], idx


def _pool_back(g, idx, x_shape):
    n, c, h, w = x_shape
    d = np.zeros(g.shape + (4,), g.dtype)
    np.put_along_axis(d, idx[..., None], g[..., None], -1)
    return d.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_shape)


def numpy_cnn_step(params, x, y):
    (w1, b1), (w2, b2), (w3, b3) = params
    h1, win1 = _conv(x, w1, b1)
    m1 = h1 > 0
    p1, i1 = _pool(h1 * m1)
    h2, win2 = _conv(p1, w2, b2)
    m2 = h2 > 0
    p2, i2 = _pool(h2 * m2)
    flat = p2.reshape(len(x), -1)
    d = _xent_grad(flat @ w3.T + b3, y)
    g3 = (d.T @ flat, d.sum(0))
    dp2 = (d @ w3).reshape(p2.shape)
    dh2 = _pool_back(dp2, i2, h2.shape) * m2
    dp1, gw2, gb2 = _conv_back(dh2, win2, w2, p1.shape)
    dh1 = _pool_back(dp1, i1, h1.shape) * m1
    _, gw1, gb1 = _conv_back(dh1, win1, w1, x.shape)
    for (w, b), (gw, gb) in zip(params, [(gw1, gb1), (gw2, gb2), g3]):
        w -= LR * gw
        b -= LR * gb


# ------------------------------------------------------------------ minidd models
class SmallCNN(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3, padding=1, rng=rng)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1, rng=rng)
        self.fc = nn.Linear(64 * 7 * 7, 10, rng=rng)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(x.reshape(x.shape[0], -1))


def minidd_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def _params(model):
    mods = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return [(m.weight.data.copy(), m.bias.data.copy()) for m in mods]


def torch_steps(mlp, cnn, xm, ym, xc, yc):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    tm = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024),
                             torch.nn.ReLU(), torch.nn.Linear(1024, 10))
    tc = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                             torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                             torch.nn.Flatten(), torch.nn.Linear(3136, 10))
    out = {}
    for name, model, x, y in (("mlp", tm, xm, ym), ("cnn", tc, xc, yc)):
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

        def step(model=model, opt=opt, tx=tx, ty=ty):
            loss = torch.nn.functional.cross_entropy(model(tx), ty)
            opt.zero_grad()
            loss.backward()
            opt.step()
        out[name] = step
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats per contender (median)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    mlp = nn.MLP((784, 1024, 1024, 10), rng=rng)
    cnn = SmallCNN(rng)
    xm = rng.standard_normal((128, 784)).astype(np.float32)
    ym = rng.integers(0, 10, 128)
    xc = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    yc = rng.integers(0, 10, 64)
    mlp_np, cnn_np = _params(mlp), _params(cnn)
    mlp_opt, cnn_opt = SGD(mlp.parameters(), lr=LR), SGD(cnn.parameters(), lr=LR)
    contenders = {
        "mlp minidd": lambda: minidd_step(mlp, mlp_opt, Tensor(xm), ym),
        "mlp numpy": lambda: numpy_mlp_step(mlp_np, xm, ym),
        "cnn minidd": lambda: minidd_step(cnn, cnn_opt, Tensor(xc), yc),
        "cnn numpy": lambda: numpy_cnn_step(cnn_np, xc, yc),
    }
    t = median_times(contenders, repeats=args.repeats)
    # PyTorch is timed on its own afterwards: its thread pool spins after each step and would
    # slow whichever contender ran next in an interleaved loop.
    peers = torch_steps(mlp, cnn, xm, ym, xc, yc)
    if peers:
        t.update(median_times({f"{k} torch": v for k, v in peers.items()}, repeats=args.repeats))
    print(f"median of {args.repeats} interleaved repeats, one SGD step, float32")
    for model, shape in (("mlp", "784-1024-1024-10, batch 128"), ("cnn", "conv32-pool-conv64-pool-fc, batch 64")):
        ratio = t[f"{model} minidd"] / t[f"{model} numpy"]
        line = (f"{model} ({shape}): minidd {t[f'{model} minidd'] * 1e3:7.2f} ms  numpy "
                f"{t[f'{model} numpy'] * 1e3:7.2f} ms  ratio {ratio:.3f}")
        if peers:
            line += f"  torch {t[f'{model} torch'] * 1e3:7.2f} ms"
        print(line)
    if not peers:
        print("torch not importable: no peer figure")


if __name__ == "__main__":
    main()
