"""The gallery: for a fixed sample of items, what each variant recommends under it.

Items are sampled deterministically (a seeded shuffle, taken round-robin over
categories so the sample shows several kinds of product) among those every
variant's encoder has neighbors for. Photos become small JPEG thumbnails, so
that the HTML report stays small whatever the size of the catalog's images.
Photos are read with :func:`abtest.photos.read_photo` (regular files only, with a
size and a pixel limit): anything else shows as "no photo" instead of stopping
the report.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from itertools import zip_longest

import numpy as np

from abtest.photos import PhotoError, read_photo
from abtest.store import Store
from reports.errors import ReportError
from reports.inputs import Gallery, GalleryRow, Thumbnail, VariantInfo, VariantNeighbors

SOURCE_PX = 280
NEIGHBOR_PX = 160
JPEG_QUALITY = 72


def thumbnail(path: str | os.PathLike[str], size: int) -> bytes | None:
    """A JPEG at most ``size`` pixels on its longer side; ``None`` ("no photo") if the
    photo is missing, unreadable, not a regular file, or over the size or pixel limit."""
    try:
        image = read_photo(path)
    except PhotoError:
        return None
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def sample_items(store: Store, encoders: Sequence[str], n: int, seed: int) -> list[int]:
    """``n`` items that every encoder has neighbors for: a seeded shuffle, round-robin
    over categories (so a sample of 8 is not 8 dresses)."""
    marks = ", ".join("?" for _ in encoders)
    frame = store.query(
        f"""
        SELECT i.item_id AS item_id, COALESCE(i.category, '') AS category
        FROM items AS i
        JOIN (
            SELECT item_id FROM neighbors WHERE encoder IN ({marks})
            GROUP BY item_id HAVING COUNT(DISTINCT encoder) = ?
        ) AS n ON n.item_id = i.item_id
        ORDER BY i.item_id
        """,
        [*encoders, len(encoders)],
    )
    if frame.is_empty():
        return []
    ids = frame["item_id"].to_numpy()
    categories = frame["category"].to_list()
    order = np.random.default_rng(seed).permutation(len(ids))
    by_category: dict[str, list[int]] = {}
    for i in order:
        by_category.setdefault(categories[i], []).append(int(ids[i]))
    interleaved = [
        item for round_ in zip_longest(*by_category.values()) for item in round_ if item is not None
    ]
    return interleaved[:n]


def build_gallery(
    store: Store,
    variants: Sequence[VariantInfo],
    *,
    n_items: int = 8,
    k: int = 5,
    seed: int = 0,
) -> Gallery | None:
    """The gallery for the variants that serve an encoder; ``None`` when there is nothing
    to show (no encoder, no items, or no neighbors)."""
    if n_items < 1 or k < 1:
        raise ReportError(f"the gallery needs at least one item and k >= 1 (got {n_items}, {k})")
    served = [v for v in variants if v.encoder]
    if not served or not store.has_table("items") or not store.has_table("neighbors"):
        return None
    encoders = list(dict.fromkeys(v.encoder for v in served if v.encoder))
    items = sample_items(store, encoders, n_items, seed)
    if not items:
        return None
    item_marks = ", ".join("?" for _ in items)
    enc_marks = ", ".join("?" for _ in encoders)
    neighbors = store.query(
        f"""
        SELECT n.encoder, n.item_id, n.rank, n.neighbor_id,
               i.title AS title, i.image_path AS image_path
        FROM neighbors AS n LEFT JOIN items AS i ON i.item_id = n.neighbor_id
        WHERE n.encoder IN ({enc_marks}) AND n.item_id IN ({item_marks}) AND n.rank <= ?
        ORDER BY n.encoder, n.item_id, n.rank
        """,
        [*encoders, *items, k],
    )
    sources = store.query(
        f"SELECT item_id, title, image_path, category FROM items WHERE item_id IN ({item_marks})",
        [*items],
    )
    cache: dict[tuple[int, int], Thumbnail] = {}

    def thumb(item_id: int, title: str | None, image_path: str | None, size: int) -> Thumbnail:
        key = (item_id, size)
        if key not in cache:
            cache[key] = Thumbnail(
                item_id=item_id,
                title=title if title is not None else f"item {item_id}",
                image_path=image_path or "",
                jpeg=thumbnail(store.resolve(image_path), size) if image_path else None,
            )
        return cache[key]

    top: dict[tuple[str, int], list[Thumbnail]] = {}
    for row in neighbors.iter_rows(named=True):
        top.setdefault((row["encoder"], row["item_id"]), []).append(
            thumb(row["neighbor_id"], row["title"], row["image_path"], NEIGHBOR_PX)
        )
    by_id = {row["item_id"]: row for row in sources.iter_rows(named=True)}
    rows = []
    for item_id in items:
        source = by_id[item_id]
        rows.append(
            GalleryRow(
                item=thumb(item_id, source["title"], source["image_path"], SOURCE_PX),
                category=source["category"],
                neighbors=tuple(
                    VariantNeighbors(
                        variant=v.name,
                        encoder=v.encoder or "",
                        items=tuple(top.get((v.encoder or "", item_id), [])),
                    )
                    for v in served
                ),
            )
        )
    return Gallery(rows=tuple(rows), k=k, seed=seed)
