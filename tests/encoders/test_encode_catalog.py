"""Embedding a whole catalog: artifacts, bad photos skipped and counted, the shared cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoders.artifacts import Artifacts, read_embeddings
from encoders.catalog import read_catalog
from encoders.efficientnet import EfficientNetTrunk
from encoders.encode import encode_catalog
from encoders.errors import EncoderError
from tests.hostile_files import make_fifo, make_png_bomb, returns_within


def test_writes_embeddings_and_state_beside_the_database(catalog_world: Path) -> None:
    artifacts = Artifacts.for_db(catalog_world)
    assert artifacts.root == catalog_world.parent / "world-artifacts"
    emb = read_embeddings(artifacts.embeddings_path("cnn-pca"))
    assert len(emb) == 240 and emb.dim == 32 and emb.vectors.dtype == np.float32
    assert np.all(np.diff(emb.item_ids) > 0)
    assert (artifacts.encoder_dir("cnn-pca") / "encoder.json").is_file()
    assert (artifacts.encoder_dir("cnn-pca") / "pca.npz").is_file()
    assert "cnn-pca" in artifacts.encoded()


def test_one_bad_photo_is_reported_skipped_and_counted(world: Path) -> None:
    """A missing photo, a corrupt one, a FIFO (opening it would wait forever) and a tiny
    PNG that declares 40000×40000 pixels: each is skipped and counted, none stops or
    hangs the encoding."""
    catalog = read_catalog(world)
    # Replace four photos (the folder is a link to the shared photos: relink one item each).
    images = world.parent / "world-images"
    private = world.parent / "private-images"
    private.mkdir()
    for p in images.resolve().iterdir():
        (private / p.name).symlink_to(p)
    images.unlink()
    private.rename(images)
    Path(catalog.image_paths[3]).unlink()
    corrupt = Path(catalog.image_paths[7])
    corrupt.unlink()
    corrupt.write_bytes(b"not a jpeg at all")
    fifo, bomb = Path(catalog.image_paths[11]), Path(catalog.image_paths[13])
    for path in (fifo, bomb):
        path.unlink()
    make_fifo(fifo)
    make_png_bomb(bomb)

    result = returns_within(
        300,
        lambda: encode_catalog(world, "cnn-pca", "partial", options={"dim": 16}),
        fifos=(fifo,),
    )
    assert result.n_items == 240 and result.n_encoded == 236 and result.n_skipped == 4
    skipped = {b.item_id: b.reason for b in result.skipped}
    assert skipped.keys() == {int(catalog.item_ids[i]) for i in (3, 7, 11, 13)}
    assert skipped[int(catalog.item_ids[3])] == "file not found"
    assert skipped[int(catalog.item_ids[7])].startswith("cannot decode")
    assert skipped[int(catalog.item_ids[11])] == "is a FIFO, not a regular file"
    assert "pixels, more than the limit" in skipped[int(catalog.item_ids[13])]
    emb = read_embeddings(result.embeddings_path)
    assert len(emb) == 236 and not set(skipped) & set(emb.item_ids.tolist())


def test_cached_trunk_features_are_reused(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The photos were embedded once (catalog_world); a second encoder never runs the trunk."""

    def no_trunk(*_: object, **__: object) -> None:
        raise AssertionError("the trunk ran although its features were cached")

    monkeypatch.setattr(EfficientNetTrunk, "forward", no_trunk)
    result = encode_catalog(world, "cnn-pca", "cnn-pca-64", options={"dim": 64})
    assert result.n_encoded == 240 and result.dim == 64
    with pytest.raises(AssertionError, match="the trunk ran"):
        encode_catalog(world, "cnn-pca", "uncached", options={"dim": 8}, use_cache=False)


def test_bad_inputs(tmp_path: Path, world: Path) -> None:
    with pytest.raises(EncoderError, match="database not found"):
        encode_catalog(tmp_path / "missing.duckdb", "cnn-pca")
    assert not (tmp_path / "missing.duckdb").exists()
    with pytest.raises(EncoderError, match="unknown encoder 'nope'"):
        encode_catalog(world, "nope")
    with pytest.raises(EncoderError, match="invalid encoder name"):
        encode_catalog(world, "cnn-pca", "Bad Name")
    with pytest.raises(EncoderError, match="PCA to 512 dims needs at least 513 items"):
        encode_catalog(world, "cnn-pca", options={"dim": 512})
