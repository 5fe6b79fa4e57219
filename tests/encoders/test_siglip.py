"""``siglip``: any SigLIP / SigLIP 2 checkpoint, loaded the way its users load it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoders.catalog import read_catalog
from encoders.errors import EncoderError
from encoders.registry import create, load_encoder
from encoders.siglip import SiglipEncoder
from encoders.towers import minilm_path


@pytest.fixture(scope="module")
def photos(catalog_world: Path) -> tuple[str, ...]:
    return read_catalog(catalog_world).image_paths[:40]


def test_embeds_with_the_image_tower(tiny_siglip: Path, photos: tuple[str, ...]) -> None:
    encoder = create("siglip", checkpoint=str(tiny_siglip))
    x = encoder.encode(photos)
    assert x.shape == (40, 32) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert SiglipEncoder.from_pretrained(tiny_siglip).dim == 32  # a checkpoint loads directly


def test_pca_and_truncation_to_a_smaller_dim(
    tiny_siglip: Path, photos: tuple[str, ...], tmp_path: Path
) -> None:
    truncated = SiglipEncoder(tiny_siglip, dim=8, reduce="truncate")
    assert truncated.encode(photos).shape == (40, 8)
    reduced = SiglipEncoder(tiny_siglip, dim=8).fit(photos)
    x = reduced.encode(photos)
    assert x.shape == (40, 8)
    reduced.save_pretrained(tmp_path / "state")
    np.testing.assert_array_equal(load_encoder(tmp_path / "state").encode(photos), x)
    with pytest.raises(EncoderError, match="larger than the checkpoint's embedding size 32"):
        SiglipEncoder(tiny_siglip, dim=64)


def test_siglip2_naflex_checkpoints_work_too(tmp_path: Path) -> None:
    from transformers import Siglip2Config, Siglip2ImageProcessorPil, Siglip2Model

    config = Siglip2Config(
        text_config={
            "vocab_size": 64,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 8,
            "pad_token_id": 0,
            "bos_token_id": 0,
            "eos_token_id": 0,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "patch_size": 8,
            "num_patches": 16,
        },
    )
    Siglip2Model(config).save_pretrained(tmp_path)
    Siglip2ImageProcessorPil(patch_size=8, max_num_patches=16).save_pretrained(tmp_path)
    images = [np.full((40, 24, 3), v, np.uint8) for v in (10, 200)]
    x = SiglipEncoder(tmp_path).encode(images)
    assert x.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_bad_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match=r"checkpoint not found: .*/does/not/exist"):
        SiglipEncoder(tmp_path / "does" / "not" / "exist")
    with pytest.raises(EncoderError, match=r"checkpoint not found: \./nothing-here"):
        SiglipEncoder("./nothing-here")
    with pytest.raises(EncoderError, match=r"not a SigLIP checkpoint \(its model type is 'bert'"):
        SiglipEncoder(minilm_path())
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match=r"is not a SigLIP checkpoint: it has no config\.json"):
        SiglipEncoder(tmp_path / "empty")
    with pytest.raises(EncoderError, match="unknown reduction"):
        SiglipEncoder(minilm_path(), reduce="magic")


def test_no_checkpoint_says_what_to_pass() -> None:
    """Not "bad options ['dim']: __init__() missing 1 required positional argument"."""
    for options in ({}, {"dim": 32}):
        with pytest.raises(EncoderError) as caught:
            create("siglip", **options)
        assert str(caught.value) == "siglip needs --checkpoint (a local folder or a hub id)"
    with pytest.raises(EncoderError, match="--dim auto is for cnn-pca"):
        create("siglip", checkpoint="unused", dim="auto")
