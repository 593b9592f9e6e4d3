"""The MNIST-1D tasks: the reference MLP and CNN of the MNIST-1D repository, trained as there.

``mnist1d_mlp`` and ``mnist1d_cnn`` (:data:`minidd.study.recipes.RECIPES`) train
:class:`~minidd.nn.ResidualMLP` / :class:`~minidd.nn.CNN1d` with Adam at a constant 1e-2, batch
100, 8,000 steps, on the 4,000 training signals, scored on the 1,000 test signals (the
published table: MLP 68%, CNN 94%).  Hyperparameters beyond the reference, for the study's arms:

``weight_decay``  AdamW's decoupled weight decay (0: plain Adam, the reference);
``dropout``       dropout rate of the model (0: none, the reference);
``freeze``        (:func:`minidd.study.freeze.freeze`) ``None``; ``"touched"``: the layers deferred dropout sparsifies by default
                  (every Linear / Conv layer not marked ``stash_dense``) are frozen at their
                  initial values, weight *and* bias (not trained, not decayed, their inputs not
                  stashed): the floor of a policy that touches those layers; ``"touched_weights"``:
                  only their weights frozen, their biases train: the limit drop -> 1 of deferred
                  dropout, which stores nothing for the weight gradient but still has the bias
                  gradient (it reads only the output gradient); ``"all"``: every Linear / Conv
                  layer frozen, the floor of ``keep_marked_dense=false``;
``validation``    0, or the size of a stratified validation split carved from the training
                  signals (split seed 0): the run then trains on the rest and is scored on the
                  validation split (``metrics["split"] == 1``), never on the test signals;
``probe_steps``   the steps at which the gradient probe (:func:`minidd.stash.gradient_noise`,
                  ``probe_batches`` fixed training batches) measures the policy's weight-gradient
                  error against SGD's sampling variance; recorded in ``curves["gradient_noise"]``.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import Tensor
from ..data import load_mnist1d
from ..nn import CNN1d, ResidualMLP
from ..optim import AdamW
from ..stash import Dense, gradient_noise
from ..train import evaluate, fit
from .freeze import freeze

HP = {"hidden": 100, "channels": 25, "steps": 8000, "batch_size": 100, "optimizer": "adamw", "schedule": "constant",
      "lr": 1e-2, "weight_decay": 0.0,
      "dropout": 0.0, "freeze": None, "validation": 0, "eval_every": 500,
      "probe_steps": [500, 2000, 8000], "probe_batches": 16}


def build(task: str, hp: dict, rng):
    """The task's model, initialised from ``rng``."""
    if task == "mnist1d_mlp":
        return ResidualMLP(40, hp["hidden"], 10, dropout=hp["dropout"], rng=rng)
    return CNN1d(40, hp["channels"], 10, dropout=hp["dropout"], rng=rng)


def _loss(x, y):
    return lambda m: F.cross_entropy(m(Tensor(x)), y)


def data(hp: dict, train_limit=None):
    """``(train, scored)``: the training signals and the split the run is scored on."""
    if hp["validation"]:
        train, scored, _ = load_mnist1d(validation=hp["validation"], seed=0)
    else:
        train, scored = load_mnist1d()
    if train_limit:
        train = tuple(a[:train_limit] for a in train)
        scored = tuple(a[:max(1, train_limit // 4)] for a in scored)
    return train, scored


class _Evaluator:
    """fit's ``eval_fn``: scores the model every ``eval_every`` steps and runs the gradient probe
    at ``probe_steps`` (on ``probe_batches`` fixed training batches, chosen by the seed alone)."""

    def __init__(self, hp, policy, scored, train, seed):
        self.hp, self.policy, self.scored, self.step = hp, policy, scored, 0
        self.total = hp["steps"]
        pick = np.random.default_rng([seed, 1])
        b = min(hp["batch_size"], len(train[1]))
        self.batches = [_loss(*(a[i] for a in train)) for i in
                        (pick.choice(len(train[1]), b, replace=False) for _ in range(hp["probe_batches"]))]
        self.noise = []

    def __call__(self, model):
        self.step = min(self.step + self.hp["eval_every"], self.total)
        if self.step in self.hp["probe_steps"] and self.policy.config() != Dense().config():
            model.train()
            rows = gradient_noise(model, self.batches, self.policy)
            model.eval()
            self.noise.append({"step": self.step, "rows": rows})
        ev = evaluate(model, self.scored)
        return {"accuracy": ev["accuracy"], "loss": ev["loss"]}


def _fit(net, hp, policy, train_set, evaluator, rng, task, progress) -> dict:
    """fit's history for ``net`` (its trainable parameters under AdamW at a constant rate)."""
    if (hp["optimizer"], hp["schedule"]) != ("adamw", "constant"):
        raise ValueError(f"{task}: trains with optimizer 'adamw' and schedule 'constant' only, got "
                         f"{hp['optimizer']!r} / {hp['schedule']!r}")
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:  # every layer frozen: the model stays at its initialisation, scored once
        ev = evaluate(net, evaluator.scored)
        return {"curve": [{"step": 0, "accuracy": ev["accuracy"], "loss": ev["loss"]}], "step_loss": [], "seconds": []}
    opt = AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"])
    return fit(net, train_set, optimizer=opt, steps=hp["steps"], batch_size=hp["batch_size"], rng=rng,
               policy=policy, eval_fn=evaluator, eval_every=hp["eval_every"], progress=progress, desc=task)


def train(task, hp, policy, seed, train_limit=None, progress=False):
    """Train ``task`` under ``policy``; returns the fields of a :class:`minidd.study.recipes.Trained`
    (model, history, probe loss, its batch size, metrics)."""
    train_set, scored = data(hp, train_limit)
    rng = np.random.default_rng(seed)
    net = build(task, hp, rng)
    frozen = freeze(net, hp["freeze"])
    evaluator = _Evaluator(hp, policy, scored, train_set, seed)
    history = _fit(net, hp, policy, train_set, evaluator, rng, task, progress)
    losses = history.pop("step_loss")
    every = hp["eval_every"]
    history["train_loss_per_eval"] = [float(np.mean(losses[i:i + every])) for i in range(0, len(losses), every)]
    history["gradient_noise"] = evaluator.noise
    history["frozen"] = frozen
    final = history["curve"][-1]
    metrics = {"test_accuracy": final["accuracy"], "test_loss": final["loss"],
               "split": 1 if hp["validation"] else 0,
               "best_accuracy": max(c["accuracy"] for c in history["curve"])}
    b = min(hp["batch_size"], len(train_set[1]))
    return net, history, _loss(train_set[0][:b], train_set[1][:b]), b, metrics
