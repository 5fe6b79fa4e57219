"""Sigmoid-loss fine-tuning: it learns, saves, reloads, repeats and resumes."""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from encoders.artifacts import Artifacts, read_embeddings
from encoders.catalog import read_catalog
from encoders.errors import EncoderError
from encoders.finetuned import FinetunedEncoder
from encoders.finetuning import FinetuneResult, finetune
from encoders.registry import load_encoder
from encoders.siglip import SiglipEncoder
from encoders.towers import HEADS_FILE, EfficientNetMiniLM, load_dual_encoder, new_dual_encoder

from .conftest import SMALL_FINETUNE


def heads(folder: Path) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in load_file(str(folder / HEADS_FILE)).items()}


def assert_same_heads(a: Path, b: Path) -> None:
    ha, hb = heads(a), heads(b)
    assert ha.keys() == hb.keys()
    for k in ha:
        np.testing.assert_array_equal(ha[k], hb[k], err_msg=k)


def test_new_heads_start_at_log10_and_minus10() -> None:
    model = EfficientNetMiniLM(dim=8)
    scale, bias = model.logit_parameters()
    assert math.isclose(scale.item(), math.log(10), rel_tol=1e-6) and bias.item() == -10.0


def test_training_lowers_the_loss(finetuned: FinetuneResult) -> None:
    r = finetuned
    assert r.steps == 30 and r.n_train + r.n_val == 240 and r.n_val == 24
    assert r.cached_features == ("image", "text")
    assert r.last_loss < 0.6 * r.first_loss
    vals = [h.val_loss for h in r.history if h.val_loss is not None]
    assert len(vals) == 3 and vals[-1] < vals[0]
    assert r.trainable_parameters == (1280 + 1) * 128 + (384 + 1) * 128 + 2
    assert (r.out_dir / "towers.json").is_file() and (r.out_dir / "tokenizer.json").is_file()


def test_the_fine_tuned_variant_is_encoded(catalog_world: Path, finetuned: FinetuneResult) -> None:
    emb = read_embeddings(Artifacts.for_db(catalog_world).embeddings_path("finetuned"))
    assert len(emb) == 240 and emb.dim == 128
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    state = load_encoder(Artifacts.for_db(catalog_world).encoder_dir("finetuned"))
    assert isinstance(state, FinetunedEncoder) and state.checkpoint == finetuned.out_dir.resolve()


def test_save_load_round_trip_gives_identical_embeddings(
    catalog_world: Path, finetuned: FinetuneResult, tmp_path: Path
) -> None:
    photos = read_catalog(catalog_world).image_paths[:24]
    before = FinetunedEncoder(finetuned.out_dir).encode(photos)
    load_dual_encoder(finetuned.out_dir).save_pretrained(tmp_path / "copy")
    after = FinetunedEncoder(tmp_path / "copy").encode(photos)
    np.testing.assert_array_equal(before, after)
    stored = read_embeddings(Artifacts.for_db(catalog_world).embeddings_path("finetuned"))
    np.testing.assert_allclose(stored.vectors[:24], before, atol=1e-6)


def test_a_seed_makes_a_run_repeatable(world: Path, tmp_path: Path) -> None:
    config = replace(SMALL_FINETUNE, steps=12, eval_every=4, checkpoint_every=12, seed=5)
    a = finetune(world, config, tmp_path / "a")
    b = finetune(world, config, tmp_path / "b")
    assert [h.train_loss for h in a.history] == [h.train_loss for h in b.history]
    assert_same_heads(a.out_dir, b.out_dir)
    c = finetune(world, replace(config, seed=6), tmp_path / "c")
    assert c.history[-1].train_loss != a.history[-1].train_loss


def test_an_interrupted_run_resumes_to_the_same_weights(world: Path, tmp_path: Path) -> None:
    config = replace(SMALL_FINETUNE, steps=16, eval_every=4, checkpoint_every=8)
    straight = finetune(world, config, tmp_path / "straight")
    interrupted = finetune(world, config, tmp_path / "interrupted")
    # Simulate a crash just after the step-8 checkpoint: later files never got written.
    shutil.rmtree(interrupted.out_dir / "checkpoints" / "step-0000016")
    (interrupted.out_dir / HEADS_FILE).unlink()
    resumed = finetune(world, config, tmp_path / "interrupted", resume=True)
    assert resumed.resumed_from == 8 and resumed.steps == 16
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in straight.history]
    assert_same_heads(straight.out_dir, resumed.out_dir)
    with pytest.raises(EncoderError, match=r"different settings \(lr=None\)"):
        finetune(world, replace(config, lr=0.5), tmp_path / "interrupted", resume=True)


def test_early_stopping_keeps_the_best_weights(world: Path, tmp_path: Path) -> None:
    config = replace(SMALL_FINETUNE, steps=200, lr=0.05, eval_every=2, patience=2, weight_decay=0.0)
    r = finetune(world, config, tmp_path / "run")
    assert r.stopped_early and r.steps < 200 and r.best_step <= r.steps - 4
    assert_same_heads(r.out_dir, r.out_dir / "checkpoints" / "best")


def test_pairs_from_parquet_empty_titles_and_bad_photos(world: Path, tmp_path: Path) -> None:
    catalog = read_catalog(world)
    frame = pl.DataFrame(
        {"image_path": list(catalog.image_paths[:60]), "title": list(catalog.titles[:60])}
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit(str(tmp_path / "gone.jpg")))
        .otherwise(pl.col("image_path"))
        .alias("image_path")
    )
    frame.write_parquet(tmp_path / "pairs.parquet")
    config = replace(SMALL_FINETUNE, steps=3, batch_size=16, eval_every=3)
    r = finetune(tmp_path / "pairs.parquet", config, tmp_path / "out")
    assert r.n_pairs == 59 and [b.item_id for b in r.skipped] == [6]

    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("  ")).otherwise("title").alias("title")
    ).write_parquet(tmp_path / "empty.parquet")
    with pytest.raises(EncoderError, match=r"item 3 in .*empty\.parquet has an empty title"):
        finetune(tmp_path / "empty.parquet", config, tmp_path / "out2")
    with pytest.raises(EncoderError, match="needs an output folder"):
        finetune(tmp_path / "pairs.parquet", config)


def test_bad_settings(world: Path, tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match=r"pattern 'image\.trunc\.\*' matches no parameter"):
        finetune(world, replace(SMALL_FINETUNE, freeze=("image.trunc.*",)), tmp_path / "x")
    with pytest.raises(EncoderError, match="every parameter is frozen"):
        finetune(world, replace(SMALL_FINETUNE, freeze=("*",)), tmp_path / "x")
    with pytest.raises(EncoderError, match="batch size must be at least 2"):
        finetune(world, replace(SMALL_FINETUNE, batch_size=1), tmp_path / "x")
    with pytest.raises(
        EncoderError, match=r"siglip towers need --checkpoint \(a local folder or a hub id\)"
    ):
        finetune(world, replace(SMALL_FINETUNE, towers="siglip"), tmp_path / "x")
    with pytest.raises(EncoderError, match="fine-tuned checkpoint not found"):
        FinetunedEncoder(tmp_path / "nothing")


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


def test_siglip_towers_fine_tune_into_a_siglip_checkpoint(
    world: Path, tiny_siglip: Path, tmp_path: Path
) -> None:
    config = replace(
        SMALL_FINETUNE,
        towers="siglip",
        checkpoint=str(tiny_siglip),
        steps=6,
        batch_size=32,
        lr=3e-3,
        eval_every=3,
    )
    r = finetune(world, config, tmp_path / "siglip")
    assert r.cached_features == () and r.last_loss < r.first_loss
    photos = read_catalog(world).image_paths[:10]
    as_siglip = SiglipEncoder(r.out_dir).encode(photos)  # the result is a SigLIP checkpoint
    np.testing.assert_allclose(FinetunedEncoder(r.out_dir).encode(photos), as_siglip, atol=1e-6)
    assert not np.allclose(SiglipEncoder(tiny_siglip).encode(photos), as_siglip, atol=1e-4)
    # Freezing the whole image tower caches its features and leaves it unchanged.
    frozen = finetune(
        world, replace(config, freeze=("image.trunk.*",), steps=2), tmp_path / "frozen"
    )
    assert frozen.cached_features == ("image",)
    np.testing.assert_allclose(
        SiglipEncoder(frozen.out_dir).encode(photos),
        SiglipEncoder(tiny_siglip).encode(photos),
        atol=1e-6,
    )


def siglip_with_logits(checkpoint: Path, folder: Path, scale: float, bias: float) -> Path:
    """A copy of ``checkpoint`` whose temperature and bias are ``scale`` and ``bias``."""
    from transformers import SiglipModel

    shutil.copytree(checkpoint, folder)
    model = SiglipModel.from_pretrained(str(checkpoint))
    with torch.no_grad():
        model.logit_scale.fill_(scale)
        model.logit_bias.fill_(bias)
    model.save_pretrained(str(folder))
    return folder


def saved_logits(folder: Path) -> tuple[float, float]:
    weights = load_file(str(folder / "model.safetensors"))
    return weights["logit_scale"].item(), weights["logit_bias"].item()


def test_untrained_temperature_and_bias_start_at_log10_and_minus10(
    world: Path, tiny_siglip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """transformers' untrained 0 and 0 do not learn: they are reset, and the run says so."""
    untrained = siglip_with_logits(tiny_siglip, tmp_path / "untrained", 0.0, 0.0)
    config = replace(
        SMALL_FINETUNE, towers="siglip", checkpoint=str(untrained), steps=2, batch_size=16
    )
    with caplog.at_level(logging.WARNING, logger="encoders.finetuning"):
        r = finetune(world, replace(config, lr=1e-9, eval_every=2), tmp_path / "out")
    assert r.reset_logits
    assert any("untrained 0 and 0" in m and "log 10 and -10" in m for m in caplog.messages)
    scale, bias = saved_logits(r.out_dir)
    assert math.isclose(scale, math.log(10), abs_tol=1e-4) and math.isclose(bias, -10, abs_tol=1e-4)
    summary = json.loads((r.out_dir / "training.json").read_text())
    assert summary["result"]["reset_logits"] is True


def test_a_checkpoints_own_temperature_and_bias_are_kept(
    world: Path, tiny_siglip: Path, tmp_path: Path
) -> None:
    """Values that are not both 0 were learnt: fine-tuning starts from them."""
    trained = siglip_with_logits(tiny_siglip, tmp_path / "trained", 1.5, -3.0)
    model = new_dual_encoder("siglip", checkpoint=str(trained))
    assert not model.reset_untrained_logits()
    scale, bias = model.logit_parameters()
    assert math.isclose(scale.item(), 1.5, rel_tol=1e-6) and bias.item() == -3.0
    config = replace(
        SMALL_FINETUNE, towers="siglip", checkpoint=str(trained), steps=2, batch_size=16
    )
    r = finetune(world, replace(config, lr=1e-9, eval_every=2), tmp_path / "out")
    assert not r.reset_logits
    scale_after, bias_after = saved_logits(r.out_dir)
    assert math.isclose(scale_after, 1.5, abs_tol=1e-4) and math.isclose(
        bias_after, -3, abs_tol=1e-4
    )


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
