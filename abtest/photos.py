"""Reading catalog photos safely: the one reader for every file an ``image_path`` names.

A catalog's ``image_path`` is the user's data, and the file it names may be
anything: a FIFO (opening it for reading waits for a writer forever), a device,
a huge file, or a small file that declares enormous dimensions (a 69-byte PNG
can declare 40000×40000 pixels, 4.8 GB once decoded). Every part of looklift
that opens a catalog photo (the report's gallery, the encoders, fine-tuning)
reads it through :func:`read_photo`, which:

- opens without blocking (``O_NONBLOCK``) and accepts only a *regular file*
  (checked on the opened descriptor, so the file cannot be swapped in between);
- refuses a file larger than :data:`MAX_PHOTO_BYTES`;
- refuses an image that declares more than :data:`MAX_PHOTO_PIXELS` pixels,
  before decoding it (Pillow's own decompression-bomb warning and error count
  as the same refusal);
- decodes it fully, so that a truncated or corrupt file fails here, not later.

A refusal raises :class:`PhotoError` with a short reason (one line); callers
show "no photo" (the report) or skip and count the item (encoding).
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings

from PIL import Image, UnidentifiedImageError

MAX_PHOTO_BYTES = 64 * 1024 * 1024
"""The largest photo file read (64 MiB): far above any product photo."""

MAX_PHOTO_PIXELS = 50_000_000
"""The most pixels a photo may declare (50 megapixels, e.g. 8660×5773), checked before
decoding: a decoded RGB photo then takes at most 150 MB of memory."""


class PhotoError(Exception):
    """A photo that is not read, and why (``reason`` is one short line)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_photo_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_PHOTO_BYTES) -> bytes:
    """The bytes of a photo file: a regular file of at most ``max_bytes``, read without
    ever blocking; raises :class:`PhotoError` otherwise."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise PhotoError(name, "file not found") from None
    except IsADirectoryError:
        raise PhotoError(name, "is a folder, not a photo") from None
    except OSError as exc:
        raise PhotoError(name, f"cannot open: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _kind(info.st_mode)
            what = kind if kind == "not a regular file" else f"is {kind}, not a regular file"
            raise PhotoError(name, what)
        if info.st_size > max_bytes:
            raise PhotoError(
                name, f"{info.st_size:,} bytes, more than the limit of {max_bytes:,} for a photo"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise PhotoError(name, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise PhotoError(name, f"more than the limit of {max_bytes:,} bytes for a photo")
    return data


def read_photo(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_PHOTO_BYTES,
    max_pixels: int = MAX_PHOTO_PIXELS,
) -> Image.Image:
    """A catalog photo as a fully decoded RGB image, or :class:`PhotoError` saying why not
    (not a regular file, too large, too many pixels, not an image, corrupt)."""
    name = str(path)
    data = read_photo_bytes(path, max_bytes=max_bytes)
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own (larger) limit: here that is a refusal, not noise.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise PhotoError(name, _too_many(width, height, max_pixels))
                return image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refused before the size could be checked here; it says how many pixels.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise PhotoError(
            name, f"declares {declared}, more than the limit of {max_pixels:,} for a photo"
        ) from None
    except UnidentifiedImageError:
        raise PhotoError(name, "cannot decode: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise PhotoError(name, f"cannot decode: {_first_line(exc)}") from None


def photo_problem(path: str | os.PathLike[str]) -> str | None:
    """Why :func:`read_photo` refuses ``path`` (one line), or None if it reads."""
    try:
        read_photo(path)
    except PhotoError as exc:
        return exc.reason
    return None


def _too_many(width: int, height: int, limit: int) -> str:
    return f"declares {width}×{height} pixels, more than the limit of {limit:,} for a photo"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
