"""The Encoder protocol: what every image encoder, built in or from a plugin, provides.

An encoder has a ``name``, a ``dim`` and ``encode(images) -> float32 (n, dim)``
with L2-normalised rows. Optional capabilities are separate protocols:
``fit`` (learns something from the catalog, e.g. a PCA), ``save_pretrained``
(its fitted state can be stored and reloaded with ``from_pretrained``) and
``use_feature_cache`` (it can reuse cached trunk features of unchanged files).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from encoders.errors import EncoderError
from encoders.images import ImageInput

if TYPE_CHECKING:
    from os import PathLike

    from encoders.feature_cache import FeatureCache

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while images are encoded."""

StageProgress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` by multi-step pipelines."""


@runtime_checkable
class Encoder(Protocol):
    """Turns images into L2-normalised float32 vectors."""

    name: str

    @property
    def dim(self) -> int: ...

    def encode(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> np.ndarray: ...


@runtime_checkable
class FittableEncoder(Encoder, Protocol):
    """An encoder that learns from the catalog before encoding it (e.g. a PCA)."""

    def fit(
        self, images: Sequence[ImageInput], *, progress: ProgressCallback | None = None
    ) -> object: ...


@runtime_checkable
class SavableEncoder(Encoder, Protocol):
    """An encoder whose state is written by ``save_pretrained`` and read by ``from_pretrained``."""

    def save_pretrained(self, directory: str | PathLike[str]) -> None: ...


@runtime_checkable
class CachingEncoder(Encoder, Protocol):
    """An encoder that can reuse cached trunk features (``feature_key`` names the trunk)."""

    @property
    def feature_key(self) -> str | None: ...

    def use_feature_cache(self, cache: FeatureCache) -> None: ...


def check_embeddings(vectors: object, n: int, encoder: str) -> np.ndarray:
    """Check an encoder's output: ``(n, dim)`` finite float32 rows of unit length."""
    arr = np.asarray(vectors)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise EncoderError(
            f"encoder {encoder!r} returned an array of shape {arr.shape}; expected ({n}, dim)"
        )
    if arr.dtype != np.float32:
        raise EncoderError(f"encoder {encoder!r} returned {arr.dtype}; encoders return float32")
    if not np.isfinite(arr).all():
        raise EncoderError(f"encoder {encoder!r} returned NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    if n and not np.allclose(norms, 1.0, atol=1e-3):
        worst = int(np.argmax(np.abs(norms - 1.0)))
        raise EncoderError(
            f"encoder {encoder!r} returned rows that are not L2-normalised "
            f"(row {worst} has norm {norms[worst]:.4f})"
        )
    return arr


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
