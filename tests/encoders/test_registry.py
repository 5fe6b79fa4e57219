"""Encoders by name: built-ins, registration in code, and plugins via an entry point."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from encoders import registry
from encoders.encode import encode_catalog
from encoders.errors import EncoderError
from encoders.protocol import Encoder, check_embeddings

PLUGIN = textwrap.dedent(
    '''
    """A toy encoder shipped by another package: the mean colour of the photo."""
    import numpy as np
    from PIL import Image


    class MeanColour:
        name = "mean-colour"

        def __init__(self, scale: float = 1.0) -> None:
            self.scale = scale

        @property
        def dim(self) -> int:
            return 3

        def encode(self, images, *, progress=None):
            rows = []
            for image in images:
                with Image.open(image) as im:
                    rows.append(np.asarray(im.convert("RGB"), np.float32).mean(axis=(0, 1)))
            x = np.stack(rows) * self.scale + 1.0
            return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


    class Unnormalised(MeanColour):
        name = "unnormalised"

        def encode(self, images, *, progress=None):
            return np.full((len(images), 3), 2.0, dtype=np.float32)
    '''
)


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install a package with ``looklift.encoders`` entry points by putting it on sys.path."""
    (tmp_path / "toy_encoders.py").write_text(PLUGIN)
    dist = tmp_path / "toy_encoders-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-encoders\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[looklift.encoders]\n"
        "mean-colour = toy_encoders:MeanColour\n"
        "unnormalised = toy_encoders:Unnormalised\n"
        "broken = toy_encoders_missing:Nothing\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("toy_encoders", None)


def test_builtins_are_listed() -> None:
    assert {"cnn-pca", "siglip", "finetuned"} <= set(registry.available())


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(EncoderError, match=r"unknown encoder 'nope'; known encoders: .*cnn-pca"):
        registry.create("nope")


def test_bad_options_are_a_clear_error() -> None:
    with pytest.raises(EncoderError, match="encoder 'cnn-pca': bad options"):
        registry.create("cnn-pca", colour="blue")
    with pytest.raises(EncoderError, match="dim must be between"):
        registry.create("cnn-pca", dim=0)


def test_register_in_code() -> None:
    class Constant:
        name = "constant"
        dim = 2

        def encode(self, images, *, progress=None):
            return np.tile(np.float32([0.6, 0.8]), (len(images), 1))

    registry.register("constant", Constant)
    try:
        encoder = registry.create("constant")
        assert isinstance(encoder, Encoder) and "constant" in registry.available()
        with pytest.raises(EncoderError, match="already registered"):
            registry.register("constant", Constant)
        with pytest.raises(EncoderError, match="already registered"):
            registry.register("cnn-pca", Constant)
    finally:
        registry.unregister("constant")
    assert "constant" not in registry.available()


def test_names_must_be_safe_folder_names() -> None:
    with pytest.raises(EncoderError, match="invalid encoder name"):
        registry.register("../escape", object)  # type: ignore[arg-type]
    # matched in full: ``$`` alone would let a final newline into a folder name
    with pytest.raises(EncoderError, match=r"invalid encoder name 'cnn-pca\\n'"):
        registry.check_name("cnn-pca\n")


def test_a_plugin_registers_through_the_entry_point(plugin: Path, world: Path) -> None:
    assert {"mean-colour", "unnormalised", "broken"} <= set(registry.available())
    encoder = registry.create("mean-colour", scale=0.5)
    assert encoder.dim == 3 and encoder.scale == 0.5  # type: ignore[attr-defined]
    result = encode_catalog(world, "mean-colour", "toy", options={"scale": 0.5})
    assert result.encoder == "mean-colour" and result.n_encoded == result.n_items == 240
    frame = pl.read_parquet(result.embeddings_path)
    assert frame.columns == ["item_id", "vector"] and frame.height == 240
    assert result.state_dir is None  # the toy has no save_pretrained


def test_a_broken_plugin_or_bad_output_is_reported(plugin: Path, world: Path) -> None:
    with pytest.raises(EncoderError, match=r"encoder 'broken' \(entry point .*\) failed to load"):
        registry.create("broken")
    with pytest.raises(EncoderError, match="not L2-normalised"):
        encode_catalog(world, "unnormalised")


def test_check_embeddings() -> None:
    good = np.eye(3, dtype=np.float32)
    assert check_embeddings(good, 3, "x") is not None
    with pytest.raises(EncoderError, match="float32"):
        check_embeddings(good.astype(np.float64), 3, "x")
    with pytest.raises(EncoderError, match="shape"):
        check_embeddings(good, 4, "x")
    with pytest.raises(EncoderError, match="NaN"):
        check_embeddings(np.full((1, 2), np.nan, np.float32), 1, "x")
