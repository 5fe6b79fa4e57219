"""The training data: readable image-title pairs, their split, batches and cached features.

Pairs come from the ``items`` table (or a parquet of ``image_path, title``);
an empty title is an error naming the item, an unreadable photo is skipped.
A held-out share of pairs (a seeded split) gives the validation loss; the
training batches are seeded shuffles of the rest. A frozen trunk's features
are computed once here (and cached on disk for the pretrained EfficientNet
trunk), so that training the heads takes seconds on a CPU.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from encoders.catalog import Catalog, read_pairs
from encoders.device import autocast
from encoders.efficientnet import BATCH_SIZE
from encoders.embedding import embed_images
from encoders.errors import EncoderError
from encoders.feature_cache import FeatureCache
from encoders.finetuning.config import FinetuneConfig
from encoders.images import BadImage, find_unreadable
from encoders.protocol import StageProgress
from encoders.towers import DualEncoder

log = logging.getLogger(__name__)

_TEXT_BATCH = 256


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Training pairs, with the frozen sides' features precomputed where possible."""

    pairs: Catalog
    train: np.ndarray  # row positions
    val: np.ndarray
    title_index: np.ndarray  # row -> position in unique titles
    unique_titles: list[str]
    image_features: torch.Tensor | None  # (n, d) per row, when the image trunk is frozen
    text_features: torch.Tensor | None  # (n_unique, d), when the text trunk is frozen

    @property
    def cached_sides(self) -> tuple[str, ...]:
        """The towers (``image``, ``text``) whose trunk features were computed once."""
        return tuple(
            side
            for side, feats in (("image", self.image_features), ("text", self.text_features))
            if feats is not None
        )


def readable_pairs(source: str | os.PathLike[str]) -> tuple[Catalog, list[BadImage]]:
    """The pairs of ``source`` whose photo reads, and the photos skipped (each logged).

    An empty title is an error naming the item; fewer than two readable pairs
    is an error too (a loss needs two).
    """
    pairs = read_pairs(source)
    pairs.check_titles()
    bad = find_unreadable(pairs.image_paths, pairs.item_ids)
    for b in bad:
        log.warning("skipping item %s: %s (%s)", b.item_id, b.path, b.reason)
    pairs = pairs.without({b.item_id for b in bad if b.item_id is not None})
    if len(pairs) < 2:
        raise EncoderError(
            f"fine-tuning needs at least 2 readable pairs; {source} has {len(pairs)}"
        )
    return pairs, bad


def split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, val) row positions: a seeded share ``fraction`` held out.

    No validation set when it would leave fewer than two training pairs or
    hold a single pair (a loss needs two).
    """
    perm = np.random.default_rng([seed, 1]).permutation(n)
    n_val = round(fraction * n) if fraction > 0 else 0
    if n_val and n - n_val < 2:
        n_val = 0
    if n_val == 1:  # a loss needs two pairs
        n_val = 0
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _text_features(
    model: DualEncoder, titles: list[str], device: torch.device, progress: StageProgress | None
) -> torch.Tensor:
    """The text trunk's features of ``titles``, batched by length (less padding)."""
    order = sorted(range(len(titles)), key=lambda i: (len(titles[i]), i))
    out: list[torch.Tensor | None] = [None] * len(titles)
    with torch.inference_mode():
        for start in range(0, len(order), _TEXT_BATCH):
            chunk = order[start : start + _TEXT_BATCH]
            inputs = model.text_inputs([titles[i] for i in chunk])
            with autocast(device):
                feats = model.text_features(**{k: v.to(device) for k, v in inputs.items()})
            for i, f in zip(chunk, feats.float().cpu(), strict=True):
                out[i] = f
            if progress:
                progress("text features", min(len(order), start + _TEXT_BATCH), len(order))
    return torch.stack(out)  # type: ignore[arg-type]


def _image_features(
    model: DualEncoder,
    paths: Sequence[str],
    device: torch.device,
    cache_dir: Path | None,
    progress: StageProgress | None,
) -> torch.Tensor:
    """The image trunk's features of the photos at ``paths`` (cached on disk when it can)."""
    key = model.image_feature_key
    cache = (
        FeatureCache.in_folder(cache_dir, key)
        if key and cache_dir is not None
        else FeatureCache(key or "image-trunk")
    )

    def forward(batch: list[Any]) -> torch.Tensor:
        inputs = {k: v.to(device) for k, v in model.image_inputs(batch).items()}
        with autocast(device):
            return model.image_features(**inputs)

    report = (lambda d, t: progress("image features", d, t)) if progress else None
    feats = embed_images(paths, forward, batch_size=BATCH_SIZE, progress=report, cache=cache)
    return torch.from_numpy(feats)


def prepare_data(
    model: DualEncoder,
    pairs: Catalog,
    config: FinetuneConfig,
    device: torch.device,
    cache_dir: Path | None,
    progress: StageProgress | None,
) -> TrainingData:
    """Split the pairs and compute the features of each side whose trunk is frozen."""
    train, val = split(len(pairs), config.val_fraction, config.seed)
    unique = sorted(set(pairs.titles))
    position = {t: i for i, t in enumerate(unique)}
    title_index = np.array([position[t] for t in pairs.titles], dtype=np.int64)
    model.eval()
    image = (
        _image_features(model, pairs.image_paths, device, cache_dir, progress)
        if "image" not in model.trained_trunks
        else None
    )
    text = (
        _text_features(model, unique, device, progress)
        if "text" not in model.trained_trunks
        else None
    )
    return TrainingData(pairs, train, val, title_index, unique, image, text)


def fit_standardizers(model: DualEncoder, data: TrainingData) -> None:
    """Fit the heads' input standardizers on the training rows' cached trunk features."""
    model.fit_standardizers(
        data.image_features[data.train] if data.image_features is not None else None,
        data.text_features[data.title_index[data.train]]
        if data.text_features is not None
        else None,
    )


def batch_rows(train: np.ndarray, batch_size: int, seed: int, index: int) -> np.ndarray:
    """The ``index``-th batch; epochs are seeded shuffles of the training rows (tail dropped)."""
    size = min(batch_size, len(train))
    per_epoch = max(1, len(train) // size)
    epoch, pos = divmod(index, per_epoch)
    perm = np.random.default_rng([seed, 2, epoch]).permutation(len(train))
    return train[perm[pos * size : (pos + 1) * size]]
