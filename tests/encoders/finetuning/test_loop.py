"""The training loop's schedule and optimizer."""

from __future__ import annotations

import math

import pytest

from encoders.finetuning import FinetuneConfig, apply_freeze
from encoders.finetuning.loop import lr_lambda, make_optimizer
from encoders.towers import EfficientNetMiniLM


def test_the_learning_rate_warms_up_linearly_then_decays_to_zero() -> None:
    factor = lr_lambda(warmup=4, total=20)
    assert [factor(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(4) == 1.0 and math.isclose(factor(12), 0.5)
    assert factor(20) == pytest.approx(0.0, abs=1e-12) and factor(40) == factor(20)


def test_weight_decay_applies_to_weight_matrices_of_trained_parameters_only() -> None:
    model = EfficientNetMiniLM(dim=8)
    apply_freeze(model, model.default_freeze)
    optimizer = make_optimizer(model, FinetuneConfig(weight_decay=0.3, lr=0.01))
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 and p.requires_grad for p in decay["params"])
    assert all(p.ndim < 2 and p.requires_grad for p in no_decay["params"])
    trained = [p for _, p in model.qualified_parameters() if p.requires_grad]
    assert len(decay["params"]) + len(no_decay["params"]) == len(trained)
    assert optimizer.defaults["lr"] == 0.01
