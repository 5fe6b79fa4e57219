"""Embed a whole catalog with one encoder and store the vectors as an artifact.

``encode_catalog`` checks every photo first: missing or corrupt ones are
reported, counted and skipped (one bad photo never sinks a catalog). A
fittable encoder (``cnn-pca``) is fitted on the readable photos; its state is
saved beside the embeddings so that new items can be embedded the same way.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from encoders.artifacts import Artifacts, write_embeddings
from encoders.catalog import read_catalog
from encoders.errors import EncoderError
from encoders.feature_cache import FeatureCache
from encoders.images import BadImage, find_unreadable
from encoders.protocol import (
    CachingEncoder,
    Encoder,
    FittableEncoder,
    ProgressCallback,
    SavableEncoder,
    StageProgress,
    check_embeddings,
)
from encoders.registry import check_name, create

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodeResult:
    """What ``encode_catalog`` wrote."""

    name: str
    encoder: str
    dim: int
    n_items: int
    n_encoded: int
    skipped: tuple[BadImage, ...]
    fitted: bool
    embeddings_path: Path
    state_dir: Path | None
    seconds: float

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)


def _stage(progress: StageProgress | None, stage: str) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda done, total: progress(stage, done, total)


def encode_catalog(
    db: str | os.PathLike[str],
    encoder: Encoder | str = "cnn-pca",
    name: str | None = None,
    *,
    options: dict[str, Any] | None = None,
    fit: bool = True,
    use_cache: bool = True,
    progress: StageProgress | None = None,
) -> EncodeResult:
    """Embed every item of ``db`` and write ``<db>-artifacts/encoders/<name>/``.

    ``encoder`` is an Encoder or a registry name (created with ``options``);
    ``name`` (default: the encoder's name) is the artifact and neighbors name.
    ``fit`` fits a fittable encoder on the catalog first; ``use_cache`` shares
    cached trunk features with other encoders of the same database.
    """
    started = time.perf_counter()
    if isinstance(encoder, str):
        encoder = create(encoder, **(options or {}))
    elif options:
        raise EncoderError("options are only for an encoder given by name")
    name = check_name(name or encoder.name)
    artifacts = Artifacts.for_db(db)
    catalog = read_catalog(db)

    bad = find_unreadable(catalog.image_paths, catalog.item_ids)
    for b in bad:
        log.warning("skipping item %s: %s (%s)", b.item_id, b.path, b.reason)
    good = catalog.without({b.item_id for b in bad if b.item_id is not None})
    if len(good) == 0:
        raise EncoderError(
            f"none of the {len(catalog)} photos of {db} can be read "
            f"(first: {bad[0].path}: {bad[0].reason})"
        )

    if use_cache and isinstance(encoder, CachingEncoder) and encoder.feature_key:
        encoder.use_feature_cache(FeatureCache.in_folder(artifacts.cache_dir, encoder.feature_key))
    fitted = False
    if fit and isinstance(encoder, FittableEncoder):
        encoder.fit(good.image_paths, progress=_stage(progress, f"fitting {name}"))
        fitted = True
    vectors = encoder.encode(good.image_paths, progress=_stage(progress, f"encoding {name}"))
    vectors = check_embeddings(vectors, len(good), encoder.name)

    folder = artifacts.encoder_dir(name)
    for stale in (artifacts.index_path(name), artifacts.index_info_path(name)):
        stale.unlink(missing_ok=True)
    write_embeddings(artifacts.embeddings_path(name), good.item_ids, vectors)
    state_dir = None
    if isinstance(encoder, SavableEncoder):
        encoder.save_pretrained(folder)
        state_dir = folder
    return EncodeResult(
        name=name,
        encoder=encoder.name,
        dim=int(vectors.shape[1]),
        n_items=len(catalog),
        n_encoded=len(good),
        skipped=tuple(bad),
        fitted=fitted,
        embeddings_path=artifacts.embeddings_path(name),
        state_dir=state_dir,
        seconds=time.perf_counter() - started,
    )
