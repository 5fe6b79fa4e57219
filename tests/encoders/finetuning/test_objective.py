"""The loss: heads start at the paper's temperature and bias; losses compare per pair."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from encoders.finetuning import finetune, per_pair_loss
from encoders.sigmoid_loss import sigmoid_loss, sigmoid_loss_sums
from encoders.towers import EfficientNetMiniLM
from tests.encoders.conftest import SMALL_FINETUNE
from tests.encoders.finetuning.helpers import siglip_with_logits


def test_new_heads_start_at_log10_and_minus10() -> None:
    model = EfficientNetMiniLM(dim=8)
    scale, bias = model.logit_parameters()
    assert math.isclose(scale.item(), math.log(10), rel_tol=1e-6) and bias.item() == -10.0


def test_training_and_validation_losses_are_per_pair_and_compare(
    world: Path, tiny_siglip: Path, tmp_path: Path
) -> None:
    """64-pair training batches and 24 held-out pairs give losses on one scale.

    With a temperature of 1 and a bias of -1 the non-matching pairs weigh as
    much as the matching ones, so a loss summed per image grows with the
    number of pairs it is computed on (it read 2.6 times higher in training
    than in validation for the same model). Per pair, at the training batches'
    share of matching pairs, the two agree; one step at a negligible learning
    rate leaves the model as it was.
    """
    checkpoint = siglip_with_logits(tiny_siglip, tmp_path / "ckpt", 0.0, -1.0)
    config = replace(
        SMALL_FINETUNE,
        towers="siglip",
        checkpoint=str(checkpoint),
        steps=1,
        batch_size=64,
        lr=1e-9,
        eval_every=1,
    )
    r = finetune(world, config, tmp_path / "out")
    assert r.n_val == 24 and r.best_val_loss is not None
    assert math.isclose(r.first_loss, r.best_val_loss, rel_tol=0.1), (r.first_loss, r.best_val_loss)
    # Per pair: mostly non-matching pairs at cosine ~0, each log(1 + e^-1) = 0.31 (measured 0.32).
    assert 0.2 < r.first_loss < 0.5


def test_the_loss_per_pair_is_the_batch_sum_over_n_squared() -> None:
    torch.manual_seed(0)
    n = 6
    zi = F.normalize(torch.randn(n, 8), dim=-1)
    zt = F.normalize(torch.randn(n, 8), dim=-1)
    t, b = torch.tensor(math.log(10)), torch.tensor(-10.0)
    positive, negative = sigmoid_loss_sums(zi, zt, t, b)
    per_pair = per_pair_loss(positive.item() / n, negative.item() / (n * n - n), n)
    assert math.isclose(per_pair, sigmoid_loss(zi, zt, t, b).item() / n, rel_tol=1e-5)
