"""Freezing: frozen parts keep their pretrained weights, unfrozen ones train and are saved."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from encoders.catalog import read_catalog
from encoders.finetuned import FinetunedEncoder
from encoders.finetuning import finetune
from encoders.towers import EfficientNetMiniLM
from tests.encoders.conftest import SMALL_FINETUNE
from tests.encoders.finetuning.helpers import heads


def test_training_part_of_the_image_trunk(world: Path, tmp_path: Path) -> None:
    """Unfrozen blocks train (no cached image features), are saved, and embed after reloading."""
    frozen = (
        "text.trunk.*",
        "image.trunk.net._conv_stem.*",
        "image.trunk.net._bn0.*",
        "image.trunk.net._blocks.[0-9].*",
        "image.trunk.net._blocks.1[0-4].*",
    )
    config = replace(SMALL_FINETUNE, steps=2, batch_size=8, eval_every=2, freeze=frozen)
    r = finetune(world, config, tmp_path / "run")
    assert r.cached_features == ("text",)
    saved, pristine = heads(r.out_dir), EfficientNetMiniLM(dim=8).state_dict()
    block3 = [k for k in saved if k.startswith("image.trunk.net._blocks.3.")]
    assert block3 and "image.trunk.net._blocks.3._bn1.running_mean" in block3
    for k in block3:  # frozen: weights and batch-norm statistics as pretrained
        np.testing.assert_array_equal(saved[k], pristine[k].numpy(), err_msg=k)
    key = "image.trunk.net._blocks.15._project_conv.weight"
    assert not np.array_equal(saved[key], pristine[key].numpy())
    photos = read_catalog(world).image_paths[:6]
    encoder = FinetunedEncoder(r.out_dir)
    assert encoder.feature_key is None  # the trunk changed: its features are not the cached ones
    again = FinetunedEncoder(r.out_dir)
    np.testing.assert_array_equal(encoder.encode(photos), again.encode(photos))
