"""One SGD step (forward + backward + update) in minidd, hand-written NumPy and PyTorch CPU.

    python benchmarks/bench_engine.py [--rounds 15] [--steps 3] [--tasks mlp,cnn,block,mlp1d,cnn1d,tiny]
    python benchmarks/bench_engine.py --profile cnn      # minidd's time per op, in-process
    python benchmarks/bench_engine.py --baseline DIR     # also an older minidd checkout

Three steps, float32, one thread: MLP 784-1024-1024-10 (batch 128), CNN conv3x3(32)-ReLU-
pool-conv3x3(64)-ReLU-pool-fc on 1x28x28 (batch 64), pre-LN Transformer encoder block (d 128,
4 heads, ff 512, tanh GELU, 32 x 64 tokens, loss mean((y - r)^2) / 2).  Each contender runs
each task in its own process, with the same initial weights; before timing, each one's loss
and gradients are checked against minidd's.  Then in interleaved rounds each contender runs a
few steps of each task while the others wait; the medians and the ratios to PyTorch
(optional: skipped when torch is not installed; it is never a dependency of minidd) and to
NumPy are printed, in wall time and in CPU time (steadier on a shared machine).
Targets (issue 22): minidd / PyTorch at most 1.0 on the MLP and the CNN, 1.1 on the block.
Three small models (Adam; minidd and PyTorch only) measure per-op overhead rather than BLAS:
the MNIST-1D MLP 40-100-100-10 and 1-D CNN (three conv layers of 25 channels on 40 samples, here
conv2d over height-1 maps, PyTorch's conv1d) at batch 100, and two pre-LN blocks d64 (32 x 64
tokens); target: PyTorch's step time or better.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads BLAS (spawned workers inherit it)

import argparse  # noqa: E402
import collections  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "benchmarks"), ROOT]
from _timing import ProcessPool  # noqa: E402

LR = 0.01
TASKS = {
    "mlp": "MLP 784-1024-1024-10, batch 128",
    "cnn": "CNN conv3x3(32)-pool-conv3x3(64)-pool-fc, 28x28, batch 64",
    "block": "pre-LN encoder block d128, 4 heads, ff 512, 64 tokens, batch 32",
    "mlp1d": "MNIST-1D MLP 40-100-100-10, batch 100, Adam",
    "cnn1d": "MNIST-1D CNN 3x conv1d(25) k5s2,k3s2,k3s2 p1-fc125, batch 100, Adam",
    "tiny": "2 pre-LN blocks d64, 4 heads, ff 256, 64 tokens, batch 32, Adam",
}
#: The small models the studies train for thousands of steps: per-op overhead, not BLAS.
SMALL = ("mlp1d", "cnn1d", "tiny")
HEADS, GELU_C, GELU_A = 4, math.sqrt(2 / math.pi), 0.044715


# ------------------------------------------------------------------ shared weights and data
def _minidd_models():
    from minidd import functional as F, nn

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

    class CNN1d(nn.Module):  # conv1d written as conv2d over height-1 maps until F.conv1d lands
        def __init__(self, rng):
            super().__init__()
            self.c1 = nn.Conv2d(1, 25, (1, 5), stride=(1, 2), padding=(0, 1), rng=rng)
            self.c2 = nn.Conv2d(25, 25, (1, 3), stride=(1, 2), padding=(0, 1), rng=rng)
            self.c3 = nn.Conv2d(25, 25, (1, 3), stride=(1, 2), padding=(0, 1), rng=rng)
            self.fc = nn.Linear(125, 10, rng=rng)

        def forward(self, x):
            x = F.relu(self.c3(F.relu(self.c2(F.relu(self.c1(x))))))
            return self.fc(x.reshape(x.shape[0], -1))

    class Tiny(nn.Module):
        def __init__(self, rng):
            super().__init__()
            self.b0 = nn.TransformerEncoderBlock(64, HEADS, 256, rng=rng, pre_ln=True)
            self.b1 = nn.TransformerEncoderBlock(64, HEADS, 256, rng=rng, pre_ln=True)

        def forward(self, x):
            return self.b1(self.b0(x))

    rng = np.random.default_rng(0)
    models = {"mlp": nn.MLP((784, 1024, 1024, 10), rng=rng), "cnn": SmallCNN(rng),
              "block": nn.TransformerEncoderBlock(128, HEADS, 512, rng=rng, pre_ln=True),
              "mlp1d": nn.MLP((40, 100, 100, 10), rng=rng), "cnn1d": CNN1d(rng), "tiny": Tiny(rng)}
    for task in ("block", "tiny"):
        for name, p in models[task].named_parameters():  # LayerNorm away from (1, 0)
            if name.split(".")[-2].startswith("ln"):
                p.data[...] += rng.uniform(-0.2, 0.2, p.shape).astype(p.dtype)
    return models


def _data():
    rng = np.random.default_rng(1)
    return {"mlp": (rng.standard_normal((128, 784), dtype=np.float32), rng.integers(0, 10, 128)),
            "cnn": (rng.standard_normal((64, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64)),
            "block": (rng.standard_normal((32, 64, 128), dtype=np.float32),
                      rng.standard_normal((32, 64, 128), dtype=np.float32)),
            "mlp1d": (rng.standard_normal((100, 40), dtype=np.float32), rng.integers(0, 10, 100)),
            "cnn1d": (rng.standard_normal((100, 1, 1, 40), dtype=np.float32), rng.integers(0, 10, 100)),
            "tiny": (rng.standard_normal((32, 64, 64), dtype=np.float32),
                     rng.standard_normal((32, 64, 64), dtype=np.float32))}


class Step:
    """A contender's training step on one task: ``step()`` runs forward, backward and SGD;
    ``check()`` returns (loss, {param name: grad}) at the current weights without updating."""

    def __init__(self, loss_and_grads, step):
        self.loss_and_grads, self.step = loss_and_grads, step

    def check(self):
        loss, grads = self.loss_and_grads()
        return float(loss), {k: np.array(v, dtype=np.float32) for k, v in grads.items()}


# ------------------------------------------------------------------ minidd
def minidd_steps():
    from minidd import Tensor, functional as F
    from minidd.optim import SGD, Adam

    models, data, out = _minidd_models(), _data(), {}
    for task, model in models.items():
        x, y = data[task]
        opt = Adam(model.parameters(), lr=1e-3) if task in SMALL else SGD(model.parameters(), lr=LR)
        named = dict(model.named_parameters())
        if task in ("block", "tiny"):
            r = Tensor(y)
            def loss_fn(m=model, x=x, r=r):
                d = m(Tensor(x)) - r
                return (d * d).mean() * 0.5
        else:
            loss_fn = (lambda m=model, x=x, y=y: F.cross_entropy(m(Tensor(x)), y))

        def check(loss_fn=loss_fn, model=model, named=named):
            model.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss.item(), {k: p.grad for k, p in named.items()}

        def step(loss_fn=loss_fn, opt=opt):
            loss = loss_fn()
            opt.zero_grad()
            loss.backward()
            opt.step()

        out[task] = Step(check, step)
    return out


# ------------------------------------------------------------------ hand-written NumPy
def _xent(z, y):
    """Mean cross-entropy of logits ``z`` and its gradient."""
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    s = e.sum(1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(len(y)), y]))
    d = e / s
    d[np.arange(len(y)), y] -= 1
    return loss, d / len(y)


def np_mlp(P, x, y):
    w = [P[f"layers.{i}.weight"] for i in (0, 2, 4)]
    b = [P[f"layers.{i}.bias"] for i in (0, 2, 4)]
    h1 = x @ w[0].T + b[0]
    a1 = np.maximum(h1, 0)
    h2 = a1 @ w[1].T + b[1]
    a2 = np.maximum(h2, 0)
    loss, d = _xent(a2 @ w[2].T + b[2], y)
    g = {"layers.4.weight": d.T @ a2, "layers.4.bias": d.sum(0)}
    d = (d @ w[2]) * (h2 > 0)
    g.update({"layers.2.weight": d.T @ a1, "layers.2.bias": d.sum(0)})
    d = (d @ w[1]) * (h1 > 0)
    g.update({"layers.0.weight": d.T @ x, "layers.0.bias": d.sum(0)})
    return loss, g


def _im2col3(x):
    """(N*H*W, C*9) columns of a 3x3, padding-1 convolution."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((n, h, w, c, 3, 3), x.dtype)
    for i in range(3):
        for j in range(3):
            cols[..., i, j] = xp[:, :, i:i + h, j:j + w].transpose(0, 2, 3, 1)
    return cols.reshape(n * h * w, c * 9)


def _conv3(x, w, b):
    n, _, h, wd = x.shape
    cols = _im2col3(x)
    y = cols @ w.reshape(len(w), -1).T + b
    return np.ascontiguousarray(y.reshape(n, h, wd, -1).transpose(0, 3, 1, 2)), cols


def _conv3_back(g, cols, w, x_shape, need_dx=True):
    n, c, h, wd = x_shape
    g2 = g.transpose(0, 2, 3, 1).reshape(-1, len(w))
    gw = (g2.T @ cols).reshape(w.shape)
    dx = None
    if need_dx:
        dcols = (g2 @ w.reshape(len(w), -1)).reshape(n, h, wd, c, 3, 3)
        dxp = np.zeros((n, c, h + 2, wd + 2), g.dtype)
        for i in range(3):
            for j in range(3):
                dxp[:, :, i:i + h, j:j + wd] += dcols[..., i, j].transpose(0, 3, 1, 2)
        dx = dxp[:, :, 1:-1, 1:-1]
    return dx, gw, g.sum((0, 2, 3))


def _pool2(x):
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    idx = win.argmax(-1)
    return np.take_along_axis(win, idx[..., None], -1)[..., 0], idx


def _pool2_back(g, idx, x_shape):
    n, c, h, w = x_shape
    d = np.zeros(g.shape + (4,), g.dtype)
    np.put_along_axis(d, idx[..., None], g[..., None], -1)
    return d.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x_shape)


def np_cnn(P, x, y):
    h1, cols1 = _conv3(x, P["c1.weight"], P["c1.bias"])
    p1, i1 = _pool2(np.maximum(h1, 0))
    h2, cols2 = _conv3(p1, P["c2.weight"], P["c2.bias"])
    p2, i2 = _pool2(np.maximum(h2, 0))
    flat = p2.reshape(len(x), -1)
    loss, d = _xent(flat @ P["fc.weight"].T + P["fc.bias"], y)
    g = {"fc.weight": d.T @ flat, "fc.bias": d.sum(0)}
    dh2 = _pool2_back((d @ P["fc.weight"]).reshape(p2.shape), i2, h2.shape) * (h2 > 0)
    dp1, g["c2.weight"], g["c2.bias"] = _conv3_back(dh2, cols2, P["c2.weight"], p1.shape)
    dh1 = _pool2_back(dp1, i1, h1.shape) * (h1 > 0)
    _, g["c1.weight"], g["c1.bias"] = _conv3_back(dh1, cols1, P["c1.weight"], x.shape, need_dx=False)
    return loss, g


def _ln(a, gamma, beta):
    ac = a - a.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt((ac * ac).mean(-1, keepdims=True) + 1e-5)
    ah = ac * rstd
    return ah * gamma + beta, (ah, rstd)


def _ln_back(dy, cache, gamma):
    ah, rstd = cache
    dah = dy * gamma
    da = rstd * (dah - dah.mean(-1, keepdims=True) - ah * (dah * ah).mean(-1, keepdims=True))
    return da, (dy * ah).sum(0), dy.sum(0)


def np_block(P, x, r):
    b, t, d = x.shape
    dh = d // HEADS
    scale = 1 / math.sqrt(dh)
    W = {k: P[f"attn.{k}.weight"] for k in "qkvo" if k != "o"} | {"o": P["attn.out.weight"]}
    B = {k: P[f"attn.{k}.bias"] for k in "qkv"} | {"o": P["attn.out.bias"]}

    def split(a):
        return a.reshape(b, t, HEADS, dh).transpose(0, 2, 1, 3)

    def merge(a):
        return a.transpose(0, 2, 1, 3).reshape(b * t, d)

    x2 = x.reshape(-1, d)
    h1, c1 = _ln(x2, P["ln1.weight"], P["ln1.bias"])
    q, k, v = (split(h1 @ W[n].T + B[n]) for n in "qkv")
    s = (q @ k.transpose(0, 1, 3, 2)) * scale
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ctx = merge(p @ v)
    x3 = x2 + ctx @ W["o"].T + B["o"]
    h2, c2 = _ln(x3, P["ln2.weight"], P["ln2.bias"])
    f1 = h2 @ P["ff1.weight"].T + P["ff1.bias"]
    th = np.tanh(GELU_C * (f1 + GELU_A * f1 * f1 * f1))
    gl = 0.5 * f1 * (1 + th)
    y = x3 + gl @ P["ff2.weight"].T + P["ff2.bias"]
    dy = y - r.reshape(-1, d)
    loss = 0.5 * float(np.mean(dy * dy))
    dy /= dy.size
    g = {"ff2.weight": dy.T @ gl, "ff2.bias": dy.sum(0)}
    dgelu = 0.5 * (1 + th) + 0.5 * f1 * (1 - th * th) * GELU_C * (1 + 3 * GELU_A * f1 * f1)
    df1 = (dy @ P["ff2.weight"]) * dgelu
    g["ff1.weight"], g["ff1.bias"] = df1.T @ h2, df1.sum(0)
    dx3, g["ln2.weight"], g["ln2.bias"] = _ln_back(df1 @ P["ff1.weight"], c2, P["ln2.weight"])
    dx3 += dy
    g["attn.out.weight"], g["attn.out.bias"] = dx3.T @ ctx, dx3.sum(0)
    dctx = split(dx3 @ W["o"])
    dp = dctx @ v.transpose(0, 1, 3, 2)
    dv = p.transpose(0, 1, 3, 2) @ dctx
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
    dh1 = 0
    for n, dn, name in (("q", dq, "attn.q"), ("k", dk, "attn.k"), ("v", dv, "attn.v")):
        dn = merge(dn)
        g[f"{name}.weight"], g[f"{name}.bias"] = dn.T @ h1, dn.sum(0)
        dh1 = dh1 + dn @ W[n]
    _, g["ln1.weight"], g["ln1.bias"] = _ln_back(dh1, c1, P["ln1.weight"])
    return loss, g


def numpy_steps():
    data, out = _data(), {}
    fns = {"mlp": np_mlp, "cnn": np_cnn, "block": np_block}
    for task, model in _minidd_models().items():
        if task not in fns:  # the small models: minidd against PyTorch only
            continue
        P = {k: p.data.copy() for k, p in model.named_parameters()}
        x, y = data[task]

        def step(fn=fns[task], P=P, x=x, y=y):
            for k, g in fn(P, x, y)[1].items():
                P[k] -= LR * g

        out[task] = Step(lambda fn=fns[task], P=P, x=x, y=y: fn(P, x, y), step)
    return out


# ------------------------------------------------------------------ PyTorch (optional peer)
def torch_steps():
    import torch
    import torch.nn as tnn
    import torch.nn.functional as TF

    torch.set_num_threads(1)

    class MLP(tnn.Module):
        def __init__(self, sizes=(784, 1024, 1024, 10)):
            super().__init__()
            layers = []
            for a, b in zip(sizes[:-1], sizes[1:]):
                layers += [tnn.Linear(a, b), tnn.ReLU()]
            self.layers = tnn.Sequential(*layers[:-1])

        def forward(self, x):
            return self.layers(x)

    class CNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = tnn.Conv2d(1, 32, 3, padding=1), tnn.Conv2d(32, 64, 3, padding=1)
            self.fc = tnn.Linear(3136, 10)

        def forward(self, x):
            x = TF.max_pool2d(TF.relu(self.c1(x)), 2)
            x = TF.max_pool2d(TF.relu(self.c2(x)), 2)
            return self.fc(x.flatten(1))

    class Block(tnn.Module):
        def __init__(self, d=128, ff=512):
            super().__init__()
            self.attn = tnn.ModuleDict({n: tnn.Linear(d, d) for n in ("q", "k", "v", "out")})
            self.ln1, self.ln2 = tnn.LayerNorm(d), tnn.LayerNorm(d)
            self.ff1, self.ff2 = tnn.Linear(d, ff), tnn.Linear(ff, d)

        def forward(self, x):
            b, t, d = x.shape
            h = self.ln1(x)
            q, k, v = (self.attn[n](h).reshape(b, t, HEADS, -1).transpose(1, 2) for n in "qkv")
            s = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(d // HEADS))
            ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
            x = x + self.attn["out"](ctx)
            return x + self.ff2(TF.gelu(self.ff1(self.ln2(x)), approximate="tanh"))

    class CNN1d(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = tnn.Conv1d(1, 25, 5, stride=2, padding=1)
            self.c2 = tnn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.c3 = tnn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.fc = tnn.Linear(125, 10)

        def forward(self, x):
            return self.fc(TF.relu(self.c3(TF.relu(self.c2(TF.relu(self.c1(x)))))).flatten(1))

    class Tiny(tnn.Module):
        def __init__(self):
            super().__init__()
            self.b0, self.b1 = Block(64, 256), Block(64, 256)

        def forward(self, x):
            return self.b1(self.b0(x))

    data, out = _data(), {}
    ref = _minidd_models()
    for task, model in (("mlp", MLP()), ("cnn", CNN()), ("block", Block()), ("mlp1d", MLP((40, 100, 100, 10))),
                        ("cnn1d", CNN1d()), ("tiny", Tiny())):
        shapes = {}  # minidd's height-1 conv2d weights are (O, C, 1, k); torch's conv1d (O, C, k)
        with torch.no_grad():
            for k, p in ref[task].named_parameters():
                mine = dict(model.named_parameters())[k]
                shapes[k] = p.data.shape
                mine.copy_(torch.from_numpy(p.data).reshape(mine.shape))
        x, y = data[task]
        tx = torch.from_numpy(x[:, :, 0] if task == "cnn1d" else x)
        regress = task in ("block", "tiny")
        ty = torch.from_numpy(y) if regress else torch.from_numpy(y.astype(np.int64))
        crit = (lambda o, r: 0.5 * ((o - r) ** 2).mean()) if regress else TF.cross_entropy
        opt = (torch.optim.Adam(model.parameters(), lr=1e-3) if task in SMALL
               else torch.optim.SGD(model.parameters(), lr=LR))

        def check(model=model, tx=tx, ty=ty, crit=crit, shapes=shapes):
            model.zero_grad()
            loss = crit(model(tx), ty)
            loss.backward()
            return loss.item(), {k: p.grad.numpy().reshape(shapes[k]) for k, p in model.named_parameters()}

        def step(model=model, tx=tx, ty=ty, crit=crit, opt=opt):
            loss = crit(model(tx), ty)
            opt.zero_grad()
            loss.backward()
            opt.step()

        out[task] = Step(check, step)
    return out


def make_steps(key):
    """The steps of one worker process: ``key`` is "contender|task"."""
    contender, task = key.split("|")
    if contender.startswith("minidd@"):  # another checkout of minidd (--baseline)
        sys.path.insert(0, contender.split("@", 1)[1])
        steps = minidd_steps()
    else:
        steps = {"minidd": minidd_steps, "numpy": numpy_steps, "torch": torch_steps}[contender]()
    return {task: steps[task]}


# ------------------------------------------------------------------ checks, timing, profile
def check_agreement(pool, tasks, contenders):
    """Every contender's loss and gradients against minidd's, before any update
    (``contenders``: {task: [contender, ...]}, minidd first)."""
    for task in tasks:
        ref_loss, ref = pool.ask(f"minidd|{task}", "check", task)
        for c in contenders[task][1:]:
            loss, grads = pool.ask(f"{c}|{task}", "check", task)
            if set(grads) != set(ref):
                raise SystemExit(f"{task}: {c} has parameters {sorted(grads)}, minidd {sorted(ref)}")
            # each gradient's difference over its own scale, floored at 1% of the task's largest
            # gradient (the attention key bias has an exactly zero gradient: pure rounding)
            floor = 0.01 * max(float(np.abs(g).max()) for g in ref.values())
            worst = max(float(np.abs(grads[k] - ref[k]).max()) / max(float(np.abs(ref[k]).max()), floor)
                        for k in ref)
            if abs(loss - ref_loss) > 1e-4 * max(1.0, abs(ref_loss)) or worst > 1e-3:
                raise SystemExit(f"{task}: {c} disagrees with minidd: loss {loss} vs {ref_loss}, "
                                 f"largest gradient difference {worst:.2e} of the gradient's scale")
            print(f"check {task:5s} {c:6s}: loss {loss:.6f} (minidd {ref_loss:.6f}), "
                  f"gradients within {worst:.1e} of minidd's")


def profile(task, steps=20):
    """minidd's CPU time per op (forward and backward separately) over ``steps`` steps of
    ``task`` (CPU time: steadier than wall time on a shared machine)."""
    from minidd.autograd import Function

    spent = collections.defaultdict(float)

    def timed(cls, kind, fn):
        def run(*args, **kwargs):
            t = time.process_time()
            out = fn(*args, **kwargs)
            spent[f"{cls.name} {kind}"] += time.process_time() - t
            return out
        return staticmethod(run)

    for cls in list(Function.registry.values()):
        cls.forward, cls.backward = timed(cls, "fwd", cls.forward), timed(cls, "bwd", cls.backward)
    step = minidd_steps()[task]
    for _ in range(3):
        step.step()
    spent.clear()
    t = time.process_time()
    for _ in range(steps):
        step.step()
    total = (time.process_time() - t) / steps
    print(f"minidd {TASKS[task]}: {total * 1e3:.1f} ms CPU time per step (mean of {steps})")
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        if s / steps >= 0.002 * total:
            print(f"  {name:20s} {s / steps * 1e3:7.2f} ms  {s / steps / total:6.1%}")
    rest = total - sum(spent.values()) / steps
    print(f"  {'graph + optimizer':20s} {rest * 1e3:7.2f} ms  {rest / total:6.1%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median over them)")
    ap.add_argument("--steps", type=int, default=3, help="steps per contender per round")
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated subset of {','.join(TASKS)}")
    ap.add_argument("--profile", choices=sorted(TASKS),
                    help="print minidd's time per op for one task and stop")
    ap.add_argument("--baseline", metavar="DIR", help="also time minidd imported from another checkout "
                    "(e.g. an older commit unpacked with git archive), as the contender minidd@DIR")
    args = ap.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return
    tasks = [t for t in args.tasks.split(",") if t]
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        ap.error(f"--tasks: unknown {bad}, expected a comma-separated subset of {','.join(TASKS)}")
    contenders = ["minidd", "numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])
    if args.baseline:
        if not os.path.isdir(os.path.join(args.baseline, "minidd")):
            ap.error(f"--baseline: {args.baseline!r} has no minidd package folder")
        contenders.append(f"minidd@{os.path.abspath(args.baseline)}")
    load = os.getloadavg()[0]
    runs = {task: [c for c in contenders if not (c == "numpy" and task in SMALL)] for task in tasks}
    # one process per contender and task: a step's speed must not depend on which other
    # models ran in the same process (the allocator's state carries over between them)
    pool = ProcessPool(make_steps, [f"{c}|{task}" for task in tasks for c in runs[task]])
    try:
        check_agreement(pool, tasks, runs)
        medians = pool.interleaved_medians(tasks, args.rounds, args.steps)
        t = {(task, c): medians[(task, f"{c}|{task}")] for task in tasks for c in runs[task]}
    finally:
        pool.close()
    print(f"\none thread per process, float32; median over {args.rounds} interleaved rounds of "
          f"{args.steps} steps; load average {load:.1f} -> {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores" + ("" if "torch" in contenders else "; torch not installed")
          + "; OPENBLAS_CORETYPE " + os.environ.get("OPENBLAS_CORETYPE", "not set"))
    peers = [c for c in contenders if c != "minidd"]
    short = {c: "baseline" if c.startswith("minidd@") else c for c in contenders}
    for i, clock in enumerate(("wall", "CPU")):
        print(f"\n{clock} time per step" + " " * (56 - len(clock))
              + "".join(f"{short[c]:>10s}" for c in contenders)
              + "".join(f"{'/' + short[c]:>10s}" for c in peers))
        for task in tasks:
            ms = {c: t[(task, c)][i] for c in runs[task]}
            print(f"{TASKS[task]:70s}" + "".join(f"{ms[c] * 1e3:8.2f}ms" if c in ms else f"{'-':>10s}"
                                                 for c in contenders)
                  + "".join(f"{ms['minidd'] / ms[c]:10.2f}" if c in ms else f"{'-':>10s}" for c in peers))


if __name__ == "__main__":
    main()
