"""Hostile files, made for real: a FIFO, a tiny PNG that declares a huge image, and a
guard for calls that might wait forever on such a file.

Shared by the unit tests (gallery, encoders, store) and the hostile-input corpus.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def make_fifo(path: Path) -> None:
    """A named pipe at ``path``: opening it to read waits for a writer, forever."""
    os.mkfifo(path)


def png_bomb(width: int = 40000, height: int = 40000) -> bytes:
    """A valid-looking PNG of a few dozen bytes whose header declares ``width``×``height``
    RGB pixels (40000×40000: 4.8 GB once decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def make_png_bomb(path: Path) -> None:
    path.write_bytes(png_bomb())


def returns_within(seconds: float, call: Callable[[], T], *, fifos: tuple[Path, ...] = ()) -> T:
    """``call()``'s result, or an AssertionError if it is still running after ``seconds``
    (a reader stuck on one of ``fifos`` is then released by opening it for writing, so
    that the test run itself does not hang)."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in fifos:  # a writer that opens and closes: the reader sees end of file
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        raise AssertionError(f"still running after {seconds:g} s (waiting on a FIFO?)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
