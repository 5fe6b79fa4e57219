"""A fine-tuning run end to end: it learns, saves, reloads, and refuses bad settings."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from encoders.artifacts import Artifacts, read_embeddings
from encoders.catalog import read_catalog
from encoders.errors import EncoderError
from encoders.finetuned import FinetunedEncoder
from encoders.finetuning import FinetuneResult, finetune
from encoders.registry import load_encoder
from encoders.siglip import SiglipEncoder
from encoders.towers import load_dual_encoder, new_dual_encoder
from tests.encoders.conftest import SMALL_FINETUNE
from tests.encoders.finetuning.helpers import saved_logits, siglip_with_logits


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
