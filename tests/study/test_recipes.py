"""The recipe table: every hyperparameter is data, and the builders read nothing else."""
import json

import numpy as np
import pytest

from minidd.study import recipes
from minidd.study import charlm, mlm


@pytest.mark.parametrize("task", sorted(recipes.RECIPES))
def test_config_is_plain_data_and_a_fresh_copy(task):
    hp = recipes.config(task)
    assert json.loads(json.dumps(hp)) == hp
    for key in ("lr", "optimizer", "schedule", "batch_size"):
        assert key in hp
    assert ("steps" if task in ("mlm", "charlm") or task.startswith("mnist1d") else "epochs") in hp
    hp["lr"] = -1
    assert recipes.config(task)["lr"] != -1


def test_language_model_recipes_give_every_hyperparameter_pretrain_reads():
    assert set(mlm.HYPERPARAMETERS) <= set(recipes.config("mlm"))
    assert set(charlm.HYPERPARAMETERS) <= set(recipes.config("charlm"))


def test_overrides_change_what_is_built():
    hp = recipes.config("mlp", sizes=[784, 16, 10], lr=0.2, optimizer="adamw")
    net = recipes.build("mlp", hp, np.random.default_rng(0), {})
    assert [p.shape for n, p in net.named_parameters() if n.endswith("weight")] == [(16, 784), (10, 16)]
    opt = recipes.optimizer(hp, net.parameters(), total_steps=50)
    assert type(opt).__name__ == "AdamW" and opt.lr == 0.2
    assert opt.lr_schedule(0) == pytest.approx(1 / 5)    # warm-up: 10% of 50 steps


def test_sgd_warmup_is_capped():
    hp = recipes.config("cnn")
    opt = recipes.optimizer(hp, recipes.build("mlp", recipes.config("mlp"), np.random.default_rng(0), {}).parameters(),
                            total_steps=5000)
    assert opt.lr_schedule(99) == 1.0 and opt.lr_schedule(98) < 1.0   # min(100, 500) warm-up steps
    assert type(opt).__name__ == "SGD" and opt.lr == hp["lr"]


def test_bad_task_or_hyperparameter_is_refused():
    with pytest.raises(ValueError, match="unknown task 'resnet'"):
        recipes.config("resnet")
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['lrr'\]"):
        recipes.config("mlp", lrr=0.1)
    with pytest.raises(ValueError, match="hp\\['optimizer'\\] must be 'sgd' or 'adamw'"):
        recipes.optimizer(recipes.config("mlp", optimizer="lion"), [], 10)
