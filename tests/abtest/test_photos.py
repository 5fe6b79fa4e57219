"""The one reader of catalog photos: regular files only, a size and a pixel limit.

Real files throughout: a FIFO made with ``os.mkfifo``, a crafted PNG, real images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from abtest.photos import MAX_PHOTO_PIXELS, PhotoError, photo_problem, read_photo
from tests.hostile_files import make_fifo, png_bomb, returns_within


def test_a_photo_is_read_fully_as_rgb(tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    Image.new("L", (30, 20), 128).save(path)
    image = read_photo(path)
    assert image.mode == "RGB" and image.size == (30, 20)
    assert photo_problem(path) is None


def test_only_regular_files_are_read_and_a_fifo_is_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "photo.jpg"
    make_fifo(fifo)
    reason = returns_within(10, lambda: photo_problem(fifo), fifos=(fifo,))
    assert reason == "is a FIFO, not a regular file"
    assert photo_problem(tmp_path) == "is a folder, not a regular file"
    assert photo_problem("/dev/zero") == "is a device, not a regular file"
    assert photo_problem(tmp_path / "gone.jpg") == "file not found"


def test_a_png_that_declares_40000_by_40000_pixels_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    assert bomb.stat().st_size < 100
    with pytest.raises(PhotoError, match="declares 1,600,000,000 pixels, more than the limit"):
        read_photo(bomb)
    # Below Pillow's own limits, above looklift's: refused by the declared size, unread.
    bomb.write_bytes(png_bomb(9000, 6000))
    assert photo_problem(bomb) == (
        f"declares 9000×6000 pixels, more than the limit of {MAX_PHOTO_PIXELS:,} for a photo"
    )
    real = tmp_path / "real.png"
    Image.new("RGB", (100, 100)).save(real)
    with pytest.raises(PhotoError, match="declares 100×100 pixels"):
        read_photo(real, max_pixels=5000)


def test_size_limit_and_undecodable_files(tmp_path: Path) -> None:
    real = tmp_path / "real.png"
    noise = np.random.default_rng(0).integers(0, 256, (50, 50, 3), dtype=np.uint8)
    Image.fromarray(noise).save(real)
    size = real.stat().st_size
    with pytest.raises(PhotoError, match=f"{size:,} bytes, more than the limit of 100"):
        read_photo(real, max_bytes=100)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(real.read_bytes()[: size // 2])
    assert photo_problem(truncated).startswith("cannot decode")  # type: ignore[union-attr]
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    assert photo_problem(junk) == "cannot decode: not an image Pillow can read"
