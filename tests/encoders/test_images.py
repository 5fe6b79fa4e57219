"""Loading and preprocessing images without torchvision; bad files name themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from encoders.efficientnet import MEAN, STD
from encoders.errors import ImageError
from encoders.images import find_unreadable, load_image, resize_center_crop, to_tensor
from tests.hostile_files import make_fifo, make_png_bomb, returns_within


def test_load_image_from_path_array_and_pil(tmp_path: Path) -> None:
    array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    Image.fromarray(array).save(path)
    for source in (path, str(path), array, Image.fromarray(array).convert("L").convert("RGB")):
        image = load_image(source)
        assert image.mode == "RGB" and image.size == (30, 20)
    assert np.array_equal(np.asarray(load_image(path)), array)


def test_missing_and_corrupt_files_raise_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"image not found: .*nope\.jpg") as missing:
        load_image(tmp_path / "nope.jpg")
    assert missing.value.path.endswith("nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(ImageError, match=r"cannot read image .*bad\.jpg"):
        load_image(bad)
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((4, 4), dtype=np.uint8))


def test_find_unreadable_lists_each_bad_file_with_its_item(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    found = find_unreadable([good, tmp_path / "missing.jpg", bad], item_ids=[1, 2, 3])
    assert [(b.item_id, b.reason.split(":")[0]) for b in found] == [
        (2, "file not found"),
        (3, "cannot decode"),
    ]


def test_resize_center_crop_and_normalise() -> None:
    image = Image.new("RGB", (200, 100), (127, 255, 0))
    assert resize_center_crop(image, 64).size == (64, 64)
    batch = to_tensor([image, image], 32, MEAN, STD)
    assert batch.shape == (2, 3, 32, 32) and batch.dtype.is_floating_point
    # (pixel - 127) / 128, the TensorFlow Lite convention of EfficientNet-Lite.
    np.testing.assert_allclose(batch[0, :, 16, 16].numpy(), [0.0, 1.0, -127 / 128], atol=1e-6)


def test_a_fifo_or_a_pixel_bomb_is_an_image_error_not_a_hang(tmp_path: Path) -> None:
    """Encoders read files through :func:`abtest.photos.read_photo`: a FIFO is refused
    without waiting for a writer, and a PNG declaring 40000×40000 pixels is refused
    before it is decoded (Pillow's DecompressionBombError is not let through)."""
    fifo, bomb = tmp_path / "fifo.jpg", tmp_path / "bomb.png"
    make_fifo(fifo)
    make_png_bomb(bomb)
    with pytest.raises(ImageError, match=r"cannot read image .*fifo\.jpg: is a FIFO"):
        returns_within(10, lambda: load_image(fifo), fifos=(fifo,))
    with pytest.raises(ImageError, match=r"bomb\.png: declares .* pixels, more than the limit"):
        load_image(bomb)
    found = returns_within(
        10, lambda: find_unreadable([fifo, bomb], item_ids=[1, 2]), fifos=(fifo,)
    )
    assert [(b.item_id, b.reason.split(",")[0]) for b in found] == [
        (1, "is a FIFO"),
        (2, "declares 1"),
    ]
