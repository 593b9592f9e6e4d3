"""The study's three model families as ready-to-run recipes, and one measured run of each.

``run("mlp", "deferred_dropout:0.9", seed=0)`` trains the model on its real data set under the
policy and measures what the study reports: the accuracy curve, the stash footprint (ledger
peak, per role, on a fixed probe batch), the gradient-fidelity probe against ``Dense``, the
step time against ``Dense``, and the hardware model's footprint and speedup for the model's trace.
The data split is fixed (split seed 0); ``seed`` varies initialisation, dropout and batch order.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import functional as F, stash
from .data import load_mnist, load_spam
from .nn import CNN, MLP, MiniBERT
from .optim import SGD, AdamW, warmup_cosine
from .trace import trace
from .train import _inputs, fit

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    epochs: int
    batch_size: int
    data: Callable | None     #: () -> (train, test, info)
    build: Callable | None    #: (rng, info) -> Module
    optimizer: Callable | None  #: (params, total_steps) -> Optimizer (None: see minidd.mlm)
    clip_norm: float | None = None


def _mnist(flatten):
    def load():
        (xtr, ytr), (xte, yte) = load_mnist(seed=0, flatten=flatten)
        return ((xtr - MNIST_MEAN) / MNIST_STD, ytr), ((xte - MNIST_MEAN) / MNIST_STD, yte), {}
    return load


def _spam():
    tr, te, tok = load_spam(seed=0, max_len=128)
    return tr, te, {"vocab_size": len(tok)}


def _sgd(lr):
    return lambda params, steps: SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4,
                                     lr_schedule=warmup_cosine(min(100, steps // 10), steps))


RECIPES = {
    "mlp": Recipe("mlp", "ReLU-MLP 784-512-512-10 on MNIST-10k (8,000 / 2,000)", 15, 64,
                  _mnist(True), lambda rng, info: MLP((784, 512, 512, 10), rng=rng), _sgd(0.05)),
    "cnn": Recipe("cnn", "VGG-style CNN [conv3x3-BN-ReLU, pool] x (16, 32) channels on MNIST-10k",
                  6, 64, _mnist(False), lambda rng, info: CNN(channels=(16, 32), rng=rng), _sgd(0.05)),
    "bert": Recipe("bert", "mini-BERT (2 blocks, d=64, 4 heads, ff 256, GELU) on SpamAssassin, "
                   "128 word tokens", 4, 32, _spam,
                   lambda rng, info: MiniBERT(info["vocab_size"], max_len=128, dim=64, heads=4,
                                              layers=2, ff_dim=256, dropout=0.1, rng=rng),
                   lambda params, steps: AdamW(params, lr=1e-3, weight_decay=0.01,
                                               lr_schedule=warmup_cosine(steps // 10, steps)),
                   clip_norm=1.0),
    "mlm": Recipe("mlm", "masked-language-model pre-training of a mini-BERT (2 pre-LN blocks, d=64, "
                  "2,000 words) on the e-mail bodies, 64 tokens; the budget counts steps, not epochs",
                  400, 32, None, None, None),
}


def make_policy(spec: str) -> stash.StashPolicy:
    """``"dense"``, ``"zero_value"`` or ``"deferred_dropout:<drop>"`` (``"dd:<drop>"`` for short)."""
    if spec == "dense":
        return stash.Dense()
    if spec == "zero_value":
        return stash.ZeroValue()
    kind, _, drop = spec.partition(":")
    if kind in ("deferred_dropout", "dd") and drop:
        try:
            return stash.DeferredDropout(float(drop))
        except ValueError as e:
            raise ValueError(f"policy {spec!r}: {e}") from None
    raise ValueError(f"unknown policy {spec!r}: use 'dense', 'zero_value' or 'deferred_dropout:<drop>'")


def policy_spec(policy: stash.StashPolicy) -> str:
    return f"deferred_dropout:{policy.drop:g}" if isinstance(policy, stash.DeferredDropout) else policy.name


def _hardware_policy(policy):
    import hardware
    if isinstance(policy, stash.DeferredDropout):
        return hardware.Policy("deferred_dropout", policy.drop)
    return hardware.Policy(policy.name)


def run(model: str, policy: str, seed: int, epochs: int | None = None, train_limit: int | None = None,
        progress: bool = False) -> dict:
    """Train one recipe under one policy and measure it; returns plain data (JSON-able)."""
    if model not in RECIPES:
        raise ValueError(f"unknown model {model!r}; choose from {tuple(RECIPES)}")
    recipe = RECIPES[model]
    pol = make_policy(policy)
    epochs = epochs or recipe.epochs
    if model == "mlm":
        from .mlm import pretrain
        result = pretrain(pol, seed, steps=epochs, batch_size=recipe.batch_size, max_len=64,
                          vocab_size=2000, pre_ln=True, dropout=0.0, lr=3e-3,
                          train_limit=train_limit, progress=progress)
        result.update(policy=policy, epochs=epochs, description=recipe.description)
        return result
    train, test, info = recipe.data()
    if train_limit:
        train = tuple(a[:train_limit] for a in train)
        test = tuple(a[:max(1, train_limit // 4)] for a in test)
    rng = np.random.default_rng(seed)
    net = recipe.build(rng, info)
    steps = epochs * -(-len(train[-1]) // recipe.batch_size)
    opt = recipe.optimizer(net.parameters(), steps)
    t0 = time.perf_counter()
    history = fit(net, train, optimizer=opt, epochs=epochs, batch_size=recipe.batch_size, rng=rng,
                  policy=pol, test_data=test, clip_norm=recipe.clip_norm, progress=progress,
                  desc=f"{model} {policy} s{seed}")
    train_seconds = time.perf_counter() - t0
    probe = tuple(a[:recipe.batch_size] for a in train)
    result = {
        "model": model, "policy": policy, "seed": seed, "epochs": epochs,
        "description": recipe.description, "history": history,
        "test_accuracy": history["test_accuracy"][-1], "test_loss": history["test_loss"][-1],
        "train_seconds": train_seconds,
    }
    result.update(measure(net, _loss_fn(probe), len(probe[-1]), pol))
    return result


def _loss_fn(probe):
    *xs, y = probe
    return lambda m: F.cross_entropy(m(*_inputs(xs)), y)


def measure(net, loss_fn, batch: int, policy: stash.StashPolicy, repeats: int = 5) -> dict:
    """Stash footprint, gradient fidelity, step time against Dense and the hardware model's view
    of ``net`` on one fixed batch (``loss_fn(net)`` builds its loss) under ``policy``."""
    import hardware
    from .nn import Dropout
    net.train()
    dropouts = [m for m in net.modules() if isinstance(m, Dropout)]
    inner = loss_fn

    def loss_fn(m):  # the same dropout masks on every call: Dense and the policy see one batch
        for d in dropouts:
            d.rng = np.random.default_rng(0)
        return inner(m)

    with stash.use(policy):
        loss = loss_fn(net)
        led = stash.ledger()
        by_role = led.by("role")
        footprint = {"stash_bytes": led.current,
                     "stash_dense_bytes": sum(t["dense_nbytes"] for t in by_role.values()),
                     "by_role": by_role}
        net.zero_grad()
        loss.backward()
        del loss
    fidelity = stash.gradient_fidelity(net, loss_fn, policy) if not isinstance(policy, stash.Dense) else []

    def step(pol):
        def go():
            with stash.use(pol):
                out = loss_fn(net)
                net.zero_grad()
                out.backward()
        return go

    times = {"policy": [], "dense": []}
    for _ in range(repeats):  # interleaved, medians
        for key, pol in (("policy", policy), ("dense", stash.Dense())):
            t = time.perf_counter()
            step(pol)()
            times[key].append(time.perf_counter() - t)
    net.zero_grad()
    workload = hardware.workload_from_dict(trace(net, loss_fn, batch, name=type(net).__name__))
    cmp = hardware.compare(hardware.TPUV3, workload, _hardware_policy(policy), batch=batch)
    return {
        "stash": footprint,
        "fidelity": fidelity,
        "step_seconds": statistics.median(times["policy"]),
        "step_seconds_dense": statistics.median(times["dense"]),
        "hardware": {"stash_reduction": cmp.stash_reduction,
                     "footprint_reduction": cmp.footprint_reduction,
                     "speedup_same_batch": cmp.speedup_same_batch,
                     "speedup_own_batch": cmp.speedup_own_batch,
                     "batch": batch, "max_batch_baseline": cmp.baseline_own.batch,
                     "max_batch_policy": cmp.proposed_own.batch},
    }
