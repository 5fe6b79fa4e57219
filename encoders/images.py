"""Loading and preprocessing images with PIL, numpy and torch (no torchvision).

Encoders accept images as file paths, PIL images or ``(H, W, 3)`` uint8 arrays.
Files are read with :func:`abtest.photos.read_photo`, the one reader of catalog
photos: regular files only (a FIFO is refused, never waited on), at most
:data:`~abtest.photos.MAX_PHOTO_BYTES` bytes and
:data:`~abtest.photos.MAX_PHOTO_PIXELS` pixels. A file that is missing, refused
or cannot be decoded raises :class:`ImageError` naming the path;
:func:`find_unreadable` checks a whole catalog up front so that the bad files
can be reported, counted and skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from abtest.photos import PhotoError, photo_problem, read_photo
from encoders.errors import ImageError

ImageInput = str | os.PathLike[str] | Image.Image | np.ndarray
"""What encoders accept as one image."""

T = TypeVar("T")


@dataclass(frozen=True)
class BadImage:
    """An image that could not be read, and why."""

    path: str
    reason: str
    item_id: int | None = None


def describe(image: ImageInput) -> str:
    """A short name for an image in messages: its path, or its kind."""
    if isinstance(image, str | os.PathLike):
        return str(image)
    if isinstance(image, np.ndarray):
        return f"array of shape {image.shape}"
    return f"{type(image).__name__} image"


def load_image(image: ImageInput) -> Image.Image:
    """An RGB PIL image; raises :class:`ImageError` naming a missing or corrupt file."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ImageError(
                f"an image array must have shape (height, width, 3); got {image.shape}",
                path=describe(image),
            )
        return Image.fromarray(np.ascontiguousarray(image).astype(np.uint8), "RGB")
    path = Path(image)
    try:
        return read_photo(path)
    except PhotoError as exc:
        if exc.reason == "file not found":
            raise ImageError(f"image not found: {path}", path=str(path)) from None
        raise ImageError(f"cannot read image {path}: {exc.reason}", path=str(path)) from None


def find_unreadable(
    paths: Sequence[str | os.PathLike[str]], item_ids: Sequence[int] | None = None
) -> list[BadImage]:
    """Every path in ``paths`` that :func:`abtest.photos.read_photo` refuses (missing, not a
    regular file, over the size or pixel limit, not decodable), with the reason."""
    bad: list[BadImage] = []
    for i, p in enumerate(paths):
        reason = photo_problem(p)
        if reason is not None:
            bad.append(_bad(p, reason, item_ids, i))
    return bad


def _bad(
    path: str | os.PathLike[str], reason: str, item_ids: Sequence[int] | None, i: int
) -> BadImage:
    return BadImage(str(path), reason, None if item_ids is None else int(item_ids[i]))


def resize_center_crop(image: Image.Image, size: int) -> Image.Image:
    """Scale the shorter side to ``size`` (bicubic), then crop the centre square."""
    w, h = image.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        image = image.resize(
            (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC
        )
        w, h = image.size
        left, top = (w - size) // 2, (h - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return image


def to_tensor(
    images: Sequence[Image.Image],
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """A normalised ``(n, 3, size, size)`` float32 batch; ``mean``/``std`` are on the 0..1 scale."""
    batch = torch.from_numpy(np.stack([np.asarray(resize_center_crop(im, size)) for im in images]))
    batch = batch.permute(0, 3, 1, 2).float()
    scale = 255.0 * torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    shift = 255.0 * torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    return batch.sub_(shift).div_(scale).contiguous()


def batches(items: Sequence[T], size: int) -> Iterator[tuple[int, Sequence[T]]]:
    """``(start, chunk)`` pairs covering ``items`` in order, ``size`` at a time."""
    for start in range(0, len(items), size):
        yield start, items[start : start + size]
