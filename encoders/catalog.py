"""Reading the catalog (items with their photos and titles) from the store or a parquet.

Encoders only ever read the public ``items`` table, never ``truth_*``. Photo
paths are stored relative to the database's folder and resolved here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from abtest.store import Store
from encoders.errors import EncoderError


@dataclass(frozen=True, eq=False)
class Catalog:
    """Items, in item-id order, with absolute photo paths and titles."""

    item_ids: np.ndarray  # (n,) int64
    image_paths: tuple[str, ...]
    titles: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.item_ids)

    def without(self, item_ids: set[int]) -> Catalog:
        """The catalog less the items in ``item_ids``."""
        keep = [i for i, x in enumerate(self.item_ids.tolist()) if x not in item_ids]
        return Catalog(
            self.item_ids[keep],
            tuple(self.image_paths[i] for i in keep),
            tuple(self.titles[i] for i in keep),
            self.source,
        )

    def check_titles(self) -> None:
        """Raise naming the first item whose title is empty (fine-tuning needs one per image)."""
        for item_id, title in zip(self.item_ids.tolist(), self.titles, strict=True):
            if not title or not title.strip():
                raise EncoderError(
                    f"item {item_id} in {self.source} has an empty title; fine-tuning pairs each "
                    "photo with its title, so give it a title or remove the item"
                )


def open_store(db: str | os.PathLike[str]) -> Store:
    """The store at ``db``, which must exist (so that a typo never creates an empty one)."""
    if not Path(db).is_file():
        raise EncoderError(f"database not found: {db}; create one with 'looklift world'")
    return Store(db, create=False)  # never adds looklift tables to another DuckDB file


def read_catalog(db: str | os.PathLike[str]) -> Catalog:
    """Every item of the ``items`` table of ``db``."""
    with open_store(db) as store:
        frame = store.query("SELECT item_id, image_path, title FROM items ORDER BY item_id")
        paths = tuple(str(store.resolve(p)) for p in frame["image_path"].to_list())
    if frame.is_empty():
        raise EncoderError(f"{db} has no items; import a catalog or run 'looklift world'")
    titles = tuple("" if t is None else str(t) for t in frame["title"].to_list())
    return Catalog(frame["item_id"].to_numpy().astype(np.int64), paths, titles, str(db))


def read_pairs_parquet(path: str | os.PathLike[str]) -> Catalog:
    """Image-title pairs from a parquet with ``image_path`` and ``title`` (``item_id`` optional).

    Relative image paths are relative to the parquet file's folder; without an
    ``item_id`` column, rows are numbered from 1.
    """
    path = Path(path)
    if not path.is_file():
        raise EncoderError(f"pairs file not found: {path}")
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:
        raise EncoderError(f"cannot read {path} as parquet: {exc}") from None
    missing = [c for c in ("image_path", "title") if c not in frame.columns]
    if missing:
        raise EncoderError(
            f"{path} lacks column(s) {', '.join(missing)}; a pairs file needs image_path and title"
        )
    if frame.is_empty():
        raise EncoderError(f"{path} has no rows")
    if "item_id" in frame.columns:
        ids = frame["item_id"].to_numpy().astype(np.int64)
    else:
        ids = np.arange(1, len(frame) + 1, dtype=np.int64)
    root = path.resolve().parent
    paths = tuple(
        str(Path(p) if Path(p).is_absolute() else root / p) for p in frame["image_path"].to_list()
    )
    titles = tuple("" if t is None else str(t) for t in frame["title"].to_list())
    return Catalog(ids, paths, titles, str(path))


def read_pairs(source: str | os.PathLike[str]) -> Catalog:
    """Fine-tuning pairs from a database's ``items`` or from a ``.parquet`` file."""
    if str(source).endswith(".parquet"):
        return read_pairs_parquet(source)
    return read_catalog(source)
