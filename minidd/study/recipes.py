"""The study's tasks as recipes: a table of every hyperparameter, and how to train each task.

``config("mlp")`` gives every hyperparameter of a task as plain data (model widths, optimizer,
learning rate, schedule, batch size, epochs or steps, vocabulary ...); sweeps record it, so a
changed recipe is a different configuration.  ``train(task, hp, policy, seed)`` trains the task
from those numbers alone (the classifiers through :func:`minidd.train.fit`, the masked LM and the
character LM through :func:`minidd.study.mlm.pretrain` and :func:`minidd.study.charlm.pretrain`,
which use fit's hooks; tuning reads their ``val_*`` metrics, never the test e-mails).  Measuring a trained run is
:mod:`minidd.study.measure`'s job.  The data split is fixed (split seed 0); a run's seed varies
initialisation, dropout, masking and batch order.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from .. import functional as F
from ..data import load_mnist, load_spam
from . import charlm, mlm, mnist1d
from ..nn import CNN, MLP, MiniBERT
from ..optim import SGD, AdamW, warmup_cosine
from ..train import fit, model_inputs

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class Trained(NamedTuple):
    """What training a task gives the harness."""
    model: object
    history: dict    #: fit's history (curves; ``seconds`` is wall-clock)
    probe: Callable  #: ``probe(model)`` builds the loss of one fixed training batch
    batch: int       #: that batch's size
    metrics: dict    #: final ``test_accuracy`` and ``test_loss``


@dataclass(frozen=True)
class Recipe:
    """One task: its description, every hyperparameter (``hp``, plain data) and its trainer
    ``train(task, hp, policy, seed, train_limit, progress) -> Trained``."""
    name: str
    description: str
    hp: dict
    train: Callable


def _train_classifier(task, hp, policy, seed, train_limit, progress) -> Trained:
    train_set, test, info = data(task, hp)
    if train_limit:
        train_set = tuple(a[:train_limit] for a in train_set)
        test = tuple(a[:max(1, train_limit // 4)] for a in test)
    rng = np.random.default_rng(seed)
    net = build(task, hp, rng, info)
    steps = hp["epochs"] * -(-len(train_set[-1]) // hp["batch_size"])
    history = fit(net, train_set, optimizer=optimizer(hp, net.parameters(), steps), epochs=hp["epochs"],
                  batch_size=hp["batch_size"], rng=rng, policy=policy, test_data=test,
                  clip_norm=hp.get("clip_norm"), progress=progress, desc=f"{task} s{seed}")
    *xs, y = (a[:hp["batch_size"]] for a in train_set)
    return Trained(net, history, lambda m: F.cross_entropy(m(*model_inputs(xs)), y), len(y),
                   {"test_accuracy": history["test_accuracy"][-1], "test_loss": history["test_loss"][-1]})


def _train_lm(task, hp, policy, seed, train_limit, progress) -> Trained:
    """The language models (``mlm``, ``charlm``): their ``pretrain`` gives the final metrics,
    ``val_*`` from the validation slice of the training e-mails, ``test_*`` from the test e-mails."""
    net, history, probe, metrics = _PRETRAIN[task](hp, policy, seed, train_limit, progress)
    return Trained(net, history, probe, hp["batch_size"], metrics)


def _train_mnist1d(task, hp, policy, seed, train_limit, progress) -> Trained:
    return Trained(*mnist1d.train(task, hp, policy, seed, train_limit, progress))


_SGD = {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
        "schedule": "warmup_cosine", "warmup_fraction": 0.1, "warmup_max_steps": 100}

RECIPES = {r.name: r for r in (
    Recipe("mlp", "ReLU-MLP 784-512-512-10 on MNIST-10k (8,000 / 2,000)",
           {"sizes": [784, 512, 512, 10], "epochs": 15, "batch_size": 64, "lr": 0.05, **_SGD,
            "normalize": [MNIST_MEAN, MNIST_STD]}, _train_classifier),
    Recipe("cnn", "VGG-style CNN [conv3x3-BN-ReLU, pool] x (16, 32) channels on MNIST-10k",
           {"channels": [16, 32], "epochs": 6, "batch_size": 64, "lr": 0.05, **_SGD,
            "normalize": [MNIST_MEAN, MNIST_STD]}, _train_classifier),
    Recipe("bert", "mini-BERT (2 blocks, d=64, 4 heads, ff 256, GELU) on SpamAssassin, 128 word tokens",
           {"vocab_size": 8000, "max_len": 128, "dim": 64, "heads": 4, "layers": 2, "ff_dim": 256,
            "dropout": 0.1, "epochs": 4, "batch_size": 32, "optimizer": "adamw", "lr": 1e-3,
            "weight_decay": 0.01, "schedule": "warmup_cosine", "warmup_fraction": 0.1,
            "warmup_max_steps": None, "clip_norm": 1.0}, _train_classifier),
    Recipe("mlm", "masked-language-model pre-training of a mini-BERT (1 pre-LN block, d=32, "
           "1,000 words) on the e-mail bodies, 32 tokens; the budget counts steps, not epochs "
           "(lr and warm-up: an earlier MLM study's dense setting at 1,500 steps, tuned then on the test "
           "e-mails; python -m minidd.study.mlm_study now tunes on the validation slice)",
           {"vocab_size": 1000, "max_len": 32, "dim": 32, "heads": 4, "layers": 1, "ff_dim": 128,
            "pre_ln": True, "dropout": 0.0, "mask_rate": 0.15, "batch_size": 32, "steps": 1500,
            "optimizer": "adamw", "lr": 1e-2, "weight_decay": 0.01, "schedule": "warmup_cosine",
            "warmup_steps": 150, "encoder_lr_scale": 1.0, "eval_every": 150}, _train_lm),
    Recipe("charlm", "causal character LM (2 pre-LN blocks, d=64, 4 heads, ff 256, GELU, untied head) on "
           "the e-mail bodies, 64-symbol windows, 96 symbols; metric: bits/char on held-out text "
           "(validation slice of the training e-mails for tuning, test e-mails for the comparison)",
           {"vocab_size": 96, "context": 64, "dim": 64, "heads": 4, "layers": 2, "ff_dim": 256, "dropout": 0.0,
            "batch_size": 32, "steps": 1500, "optimizer": "adamw", "lr": 1e-2, "weight_decay": 0.01,
            "schedule": "warmup_cosine", "warmup_steps": 150, "eval_every": 150, "eval_windows": 512,
            "freeze": None}, _train_lm),
    Recipe("mnist1d_mlp", "the MNIST-1D reference MLP (40-100-100-10, residual second layer) on "
           "MNIST-1D (4,000 / 1,000), Adam 1e-2, batch 100, 8,000 steps",
           dict(mnist1d.HP), _train_mnist1d),
    Recipe("mnist1d_cnn", "the MNIST-1D reference CNN (3 Conv1d x 25 channels, linear head on 125 "
           "features) on MNIST-1D, Adam 1e-2, batch 100, 8,000 steps", dict(mnist1d.HP), _train_mnist1d),
)}
_PRETRAIN = {"mlm": mlm.pretrain, "charlm": charlm.pretrain}


def config(task: str, **overrides) -> dict:
    """Every hyperparameter of ``task`` (a fresh copy), with ``overrides`` applied.

    An override must name an existing hyperparameter: a typo is refused, not silently ignored.
    """
    if task not in RECIPES:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(RECIPES)}")
    hp = copy.deepcopy(RECIPES[task].hp)
    unknown = sorted(set(overrides) - set(hp))
    if unknown:
        raise ValueError(f"config({task!r}): unknown hyperparameters {unknown}; {task} has {sorted(hp)}")
    hp.update(overrides)
    return hp


def _mnist(hp, flatten):
    mean, std = hp["normalize"]
    (xtr, ytr), (xte, yte) = load_mnist(seed=0, flatten=flatten)
    return ((xtr - mean) / std, ytr), ((xte - mean) / std, yte), {}


def data(task: str, hp: dict):
    """``(train, test, info)`` for a classifier task; the arrays' last element is the labels."""
    if task == "mlp":
        return _mnist(hp, True)
    if task == "cnn":
        return _mnist(hp, False)
    if task == "bert":
        tr, te, tok = load_spam(seed=0, max_len=hp["max_len"], vocab_size=hp["vocab_size"])
        return tr, te, {"vocab_size": len(tok)}
    raise ValueError(f"data: {task!r} is not a classifier task (the language models train through their pretrain)")


def build(task: str, hp: dict, rng, info: dict):
    """The model of a classifier task, initialised from ``rng``."""
    if task == "mlp":
        return MLP(hp["sizes"], rng=rng)
    if task == "cnn":
        return CNN(channels=tuple(hp["channels"]), rng=rng)
    if task == "bert":
        return MiniBERT(info["vocab_size"], max_len=hp["max_len"], dim=hp["dim"], heads=hp["heads"],
                        layers=hp["layers"], ff_dim=hp["ff_dim"], dropout=hp["dropout"], rng=rng)
    raise ValueError(f"build: {task!r} is not a classifier task")


def optimizer(hp: dict, params, total_steps: int):
    """The optimizer and schedule ``hp`` names, over ``total_steps`` steps."""
    warmup = int(round(total_steps * hp["warmup_fraction"], 6))  # floor, free of float noise
    if hp["warmup_max_steps"] is not None:
        warmup = min(hp["warmup_max_steps"], warmup)
    schedule = warmup_cosine(warmup, total_steps)
    if hp["optimizer"] == "sgd":
        return SGD(params, lr=hp["lr"], momentum=hp["momentum"], nesterov=hp["nesterov"],
                   weight_decay=hp["weight_decay"], lr_schedule=schedule)
    if hp["optimizer"] == "adamw":
        return AdamW(params, lr=hp["lr"], weight_decay=hp["weight_decay"], lr_schedule=schedule)
    raise ValueError(f"optimizer: hp['optimizer'] must be 'sgd' or 'adamw', got {hp['optimizer']!r}")


def train(task: str, hp: dict, policy, seed: int, train_limit: int | None = None,
          progress: bool = False) -> Trained:
    """Train ``task`` with hyperparameters ``hp`` (see :func:`config`) under ``policy``."""
    if task not in RECIPES:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(RECIPES)}")
    return RECIPES[task].train(task, hp, policy, seed, train_limit, progress)
