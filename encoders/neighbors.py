"""The ``neighbors`` table: each item's k most similar other items, per encoder.

Rows are ``(encoder, item_id, rank, neighbor_id, score)`` with ranks 1..k,
the item itself excluded, scores (cosine similarity, rounded to 1e-6)
descending and ties broken by ``neighbor_id``: the same embeddings always give
the same table. One encoder's rows are replaced atomically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from encoders.artifacts import Artifacts, read_embeddings
from encoders.catalog import open_store
from encoders.errors import EncoderError
from encoders.index import IndexSpec, RecallReport, build_index, measure_recall, nearest, save_index
from encoders.protocol import StageProgress
from encoders.registry import check_name

DEFAULT_K = 20
_CHUNK = 4096


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
    return _frame(ids, vecs, build_index(vecs, index), k, progress)


def _frame(
    ids: np.ndarray, vecs: np.ndarray, faiss_index: object, k: int, progress: StageProgress | None
) -> pl.DataFrame:
    if k < 1:
        raise EncoderError(f"k must be at least 1 (got {k})")
    n = len(ids)
    parts = []
    for start in range(0, n, _CHUNK):
        rows = np.arange(start, min(n, start + _CHUNK))
        scores, pos = nearest(faiss_index, vecs, rows, k)  # type: ignore[arg-type]
        keep = pos >= 0
        q, r = np.nonzero(keep)
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
    return pl.concat(parts) if parts else pl.DataFrame()


def write_neighbors(
    db: str | os.PathLike[str],
    name: str,
    *,
    k: int = DEFAULT_K,
    index: IndexSpec | None = None,
    progress: StageProgress | None = None,
    recall_queries: int = 1000,
) -> NeighborsResult:
    """Build the FAISS index of encoder ``name``'s embeddings and rewrite its neighbors.

    Approximate indexes (``hnsw``, ``ivf``) are measured against exact search
    (recall@k on ``recall_queries`` sampled items) and the figure is returned
    and stored in ``index.json`` beside ``index.faiss``.
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
        ids, vecs = emb.item_ids[in_catalog], emb.vectors[in_catalog]
        if len(ids) < 2:
            raise EncoderError(
                f"encoder {name!r} has embeddings for {len(ids)} catalog item(s); "
                "neighbors need at least 2"
            )
        t0 = time.perf_counter()
        faiss_index = build_index(vecs, spec)
        build_seconds = time.perf_counter() - t0
        frame = _frame(ids, vecs, faiss_index, k, progress)
        recall = None
        if spec.kind != "exact":
            recall = measure_recall(
                vecs,
                faiss_index,
                k,
                description=spec.describe(len(ids)),
                build_seconds=build_seconds,
                n_queries=recall_queries,
            )
        frame = frame.select(pl.lit(name).alias("encoder"), pl.all())
        store.replace_rows(
            "neighbors", frame, where="encoder = ?", params=[name], source_name=f"{name} neighbors"
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
        n_rows=frame.height,
        n_dropped=int((~in_catalog).sum()),
        recall=recall,
        index_path=artifacts.index_path(name),
        seconds=time.perf_counter() - started,
    )
