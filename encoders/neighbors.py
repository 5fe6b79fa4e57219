"""The ``neighbors`` table: each item's k most similar other items, per encoder.

Rows are ``(encoder, item_id, rank, neighbor_id, score)`` with ranks 1..k,
the item itself excluded, scores (cosine similarity, rounded to 1e-6)
descending and ties broken by ``neighbor_id``: the same embeddings always give
the same table. One encoder's rows are replaced atomically.

The table is written as it is searched, in batches of ``batch_size`` items
(32,768 by default): each batch's rows are appended to the store inside the one
transaction that first deletes the encoder's old rows, so building the table
for a million items holds the embeddings, the index and one batch, never all
n x k rows at once; readers still see the old rows or the new, never a mix.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from abtest.store import Store
from encoders.artifacts import Artifacts, read_embeddings
from encoders.catalog import open_store
from encoders.errors import EncoderError
from encoders.index import IndexSpec, RecallReport, build_index, measure_recall, nearest, save_index
from encoders.protocol import StageProgress
from encoders.registry import check_name

DEFAULT_K = 20
DEFAULT_BATCH = 32_768
"""Items searched and written to the store per batch."""
_CHUNK = 4096
"""Items per search (and per progress update) within a batch."""


@dataclass(frozen=True)
class NeighborsResult:
    """What ``write_neighbors`` wrote."""

    encoder: str
    k: int
    index: str
    n_items: int
    n_rows: int
    n_dropped: int
    recall: RecallReport | None
    index_path: Path
    seconds: float


def neighbor_frame(
    item_ids: np.ndarray,
    vectors: np.ndarray,
    k: int = DEFAULT_K,
    *,
    index: IndexSpec | None = None,
    progress: StageProgress | None = None,
) -> pl.DataFrame:
    """``item_id, rank, neighbor_id, score`` for every row of ``vectors`` (no database)."""
    ids = np.asarray(item_ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ids, vecs = ids[order], np.asarray(vectors, dtype=np.float32)[order]
    spec = (index or IndexSpec()).validate()
    faiss_index = build_index(vecs, spec)
    parts = list(
        neighbor_batches(ids, vecs, faiss_index, k, rerank=spec.search_rerank, progress=progress)
    )
    return pl.concat(parts) if parts else pl.DataFrame()


def neighbor_batches(
    ids: np.ndarray,
    vecs: np.ndarray,
    faiss_index: object,
    k: int,
    *,
    batch_size: int = DEFAULT_BATCH,
    rerank: int = 0,
    progress: StageProgress | None = None,
) -> Iterator[pl.DataFrame]:
    """``item_id, rank, neighbor_id, score`` frames of ``batch_size`` items each, in row order.

    ``ids`` (sorted) name the rows of ``vecs`` and ``faiss_index``; concatenated,
    the frames are the whole table.
    """
    if k < 1:
        raise EncoderError(f"k must be at least 1 (got {k})")
    if batch_size < 1:
        raise EncoderError(f"batch size must be at least 1 (got {batch_size})")
    n = len(ids)
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        parts = []
        for start in range(lo, hi, _CHUNK):
            rows = np.arange(start, min(hi, start + _CHUNK))
            scores, pos = nearest(faiss_index, vecs, rows, k, rerank=rerank)  # type: ignore[arg-type]
            q, r = np.nonzero(pos >= 0)
            parts.append(
                pl.DataFrame(
                    {
                        "item_id": ids[rows[q]],
                        "rank": (r + 1).astype(np.int32),
                        "neighbor_id": ids[pos[q, r]],
                        "score": scores[q, r],
                    }
                )
            )
            if progress:
                progress("searching neighbors", int(rows[-1]) + 1, n)
        yield pl.concat(parts)


def write_neighbors(
    db: str | os.PathLike[str],
    name: str,
    *,
    k: int = DEFAULT_K,
    index: IndexSpec | None = None,
    progress: StageProgress | None = None,
    recall_queries: int = 1000,
    batch_size: int = DEFAULT_BATCH,
) -> NeighborsResult:
    """Build the FAISS index of encoder ``name``'s embeddings and rewrite its neighbors.

    Approximate indexes (``hnsw``, ``ivf``, ``ivfpq``) are measured against
    exact search (recall@k on ``recall_queries`` sampled items) and the figure
    is returned and stored in ``index.json`` beside ``index.faiss``. The rows
    are searched and appended ``batch_size`` items at a time, in one transaction.
    """
    started = time.perf_counter()
    spec = (index or IndexSpec()).validate()
    name = check_name(name)
    if k < 1:
        raise EncoderError(f"k must be at least 1 (got {k})")
    artifacts = Artifacts.for_db(db)
    emb = read_embeddings(artifacts.embeddings_path(name))
    with open_store(db) as store:
        catalog = store.query("SELECT item_id FROM items")["item_id"].to_numpy()
        in_catalog = np.isin(emb.item_ids, catalog)
        if in_catalog.all():  # no copy of a million vectors when nothing is dropped
            ids, vecs = emb.item_ids, emb.vectors
        else:
            ids, vecs = emb.item_ids[in_catalog], emb.vectors[in_catalog]
        del emb, catalog
        if len(ids) < 2:
            raise EncoderError(
                f"encoder {name!r} has embeddings for {len(ids)} catalog item(s); "
                "neighbors need at least 2"
            )
        t0 = time.perf_counter()
        faiss_index = build_index(vecs, spec)
        build_seconds = time.perf_counter() - t0
        batches = neighbor_batches(
            ids,
            vecs,
            faiss_index,
            k,
            batch_size=batch_size,
            rerank=spec.search_rerank,
            progress=progress,
        )
        n_rows = _replace_neighbors(store, name, batches)
        recall = None
        if spec.kind != "exact":
            recall = measure_recall(
                vecs,
                faiss_index,
                k,
                description=spec.describe(len(ids)),
                build_seconds=build_seconds,
                n_queries=recall_queries,
                rerank=spec.search_rerank,
            )
    save_index(faiss_index, artifacts.index_path(name))
    info = {
        "index": asdict(spec),
        "description": spec.describe(len(ids)),
        "n": len(ids),
        "dim": int(vecs.shape[1]),
        "k": k,
        "recall": asdict(recall) if recall else None,
    }
    artifacts.index_info_path(name).write_text(json.dumps(info, indent=2) + "\n")
    return NeighborsResult(
        encoder=name,
        k=k,
        index=spec.describe(len(ids)),
        n_items=len(ids),
        n_rows=n_rows,
        n_dropped=int((~in_catalog).sum()),
        recall=recall,
        index_path=artifacts.index_path(name),
        seconds=time.perf_counter() - started,
    )


def _replace_neighbors(store: Store, name: str, batches: Iterator[pl.DataFrame]) -> int:
    """Delete encoder ``name``'s rows and append ``batches``, in one transaction.

    The rows are made here (ranks from 1, no nulls, one per key), so each batch is
    appended as it comes rather than staged and checked as an ingested file is.
    """
    n_rows = 0
    with store.transaction() as con:
        con.execute("DELETE FROM neighbors WHERE encoder = ?", [name])
        for frame in batches:
            con.register("__looklift_neighbors_batch", frame)
            try:
                con.execute(
                    "INSERT INTO neighbors (encoder, item_id, rank, neighbor_id, score) "
                    "SELECT ?, item_id, rank, neighbor_id, score FROM __looklift_neighbors_batch",
                    [name],
                )
            finally:
                con.unregister("__looklift_neighbors_batch")
            n_rows += frame.height
    return n_rows
