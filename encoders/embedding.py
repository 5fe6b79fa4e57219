"""The batching loop every image encoder shares: load, forward, collect, cache, report."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from encoders.feature_cache import FeatureCache, file_key
from encoders.images import ImageInput, batches, load_image
from encoders.protocol import ProgressCallback

Forward = Callable[[list[Image.Image]], torch.Tensor]
"""Maps a batch of RGB images to a ``(batch, dim)`` tensor."""


def embed_images(
    images: Sequence[ImageInput],
    forward: Forward,
    *,
    batch_size: int,
    progress: ProgressCallback | None = None,
    cache: FeatureCache | None = None,
) -> np.ndarray:
    """``forward`` applied to every image in batches, as a float32 ``(n, dim)`` array.

    With a ``cache``, files whose vector is stored are not read at all, and
    the new vectors are stored (and the cache saved) at the end.
    """
    n = len(images)
    keys: list[str | None] = [None] * n
    rows: list[np.ndarray | None] = [None] * n
    if cache is not None:
        keys = [file_key(im) if isinstance(im, str | os.PathLike) else None for im in images]
        rows = cache.get(keys)
    todo = [i for i in range(n) if rows[i] is None]
    done = n - len(todo)
    if progress:
        progress(done, n)
    with torch.inference_mode():
        for _, chunk in batches(todo, max(1, batch_size)):
            out = forward([load_image(images[i]) for i in chunk]).float().cpu().numpy()
            for i, vector in zip(chunk, out, strict=True):
                rows[i] = vector
            done += len(chunk)
            if progress:
                progress(done, n)
    if cache is not None and todo:
        cache.put([keys[i] for i in todo], np.stack([rows[i] for i in todo]))
        cache.save()
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack(rows).astype(np.float32, copy=False)  # type: ignore[arg-type]
