"""FAISS indexes over L2-normalised embeddings (inner product = cosine similarity).

``exact`` (``IndexFlatIP``) is the default and what the neighbors tables of an
experiment should use unless the catalog is large; ``hnsw`` and ``ivf`` are
approximate, and :func:`measure_recall` says how much they miss: the share of
the exact top-k that the index returns, on a sample of catalog items.

Searches are deterministic: every item's own vector is excluded from its
results, and equal scores (to 1e-6) are ordered by row, i.e. by item id.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from encoders.errors import EncoderError

INDEX_KINDS = ("exact", "hnsw", "ivf")
SCORE_DECIMALS = 6
"""Scores are rounded to this many decimals, so that float noise never reorders ties."""
_EXTRA = 16
"""Candidates fetched beyond k + 1, so that self-exclusion and ties never run short."""


@dataclass(frozen=True)
class IndexSpec:
    """Which FAISS index to build, with its knobs."""

    kind: str = "exact"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    nlist: int | None = None
    nprobe: int = 8

    def validate(self) -> IndexSpec:
        if self.kind not in INDEX_KINDS:
            raise EncoderError(f"unknown index {self.kind!r}; choose from {', '.join(INDEX_KINDS)}")
        for field in ("hnsw_m", "ef_construction", "ef_search", "nprobe"):
            if getattr(self, field) < 1:
                raise EncoderError(f"index option {field} must be at least 1")
        if self.nlist is not None and self.nlist < 1:
            raise EncoderError("index option nlist must be at least 1")
        return self

    def lists_for(self, n: int) -> int:
        """IVF lists for ``n`` vectors: ``nlist`` or about 4 sqrt(n), with >= 39 vectors each."""
        wanted = self.nlist if self.nlist is not None else round(4 * math.sqrt(n))
        return max(1, min(wanted, n // 39 if self.nlist is None else n))

    def describe(self, n: int | None = None) -> str:
        if self.kind == "hnsw":
            return f"hnsw (M={self.hnsw_m}, efSearch={self.ef_search})"
        if self.kind == "ivf":
            lists = self.lists_for(n) if n is not None else self.nlist or "auto"
            return f"ivf (nlist={lists}, nprobe={self.nprobe})"
        return "exact (flat inner product)"


def build_index(vectors: np.ndarray, spec: IndexSpec | None = None) -> faiss.Index:
    """An index over ``vectors`` (rows are ids 0..n-1)."""
    spec = (spec or IndexSpec()).validate()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise EncoderError("cannot build an index over no vectors")
    n, d = x.shape
    if spec.kind == "exact":
        index: faiss.Index = faiss.IndexFlatIP(d)
    elif spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    else:
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, spec.lists_for(n), faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.nprobe = spec.nprobe
    index.add(x)
    return index


def save_index(index: faiss.Index, path: str | os.PathLike[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)


def load_index(path: str | os.PathLike[str]) -> faiss.Index:
    if not Path(path).is_file():
        raise EncoderError(f"index not found: {path}; run 'looklift neighbors' to build it")
    return faiss.read_index(str(path))


def _search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = max(index.hnsw.efSearch, k)
    return index.search(np.ascontiguousarray(queries, dtype=np.float32), k)


def nearest(
    index: faiss.Index, vectors: np.ndarray, rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` other rows for each of ``rows``: ``(scores, positions)``, both ``(len(rows), k)``.

    The query row itself is excluded; scores are rounded to 1e-6 and ties
    ordered by position. Missing results (fewer than k found) are -1 / NaN.
    """
    rows = np.asarray(rows, dtype=np.int64)
    fetch = min(index.ntotal, k + 1 + _EXTRA)
    scores, pos = _search(index, vectors[rows], fetch)
    scores = np.round(scores.astype(np.float64), SCORE_DECIMALS)
    invalid = (pos < 0) | (pos == rows[:, None])
    scores = np.where(invalid, -np.inf, scores)
    big = np.iinfo(np.int64).max
    order = np.lexsort((np.where(invalid, big, pos), -scores), axis=1)[:, :k]
    top_pos = np.take_along_axis(pos, order, axis=1)
    top_scores = np.take_along_axis(scores, order, axis=1)
    missing = ~np.isfinite(top_scores)
    top_pos = np.where(missing, -1, top_pos)
    top_scores = np.where(missing, np.nan, top_scores)
    if top_pos.shape[1] < k:  # tiny catalogs: fewer rows than k
        pad = k - top_pos.shape[1]
        top_pos = np.pad(top_pos, ((0, 0), (0, pad)), constant_values=-1)
        top_scores = np.pad(top_scores, ((0, 0), (0, pad)), constant_values=np.nan)
    return top_scores, top_pos


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact top-k (ignoring -1) that ``found`` also has."""
    hits, total = 0, 0
    for f, e in zip(found, exact, strict=True):
        truth = set(e[e >= 0].tolist())
        hits += len(truth & set(f[f >= 0].tolist()))
        total += len(truth)
    return hits / total if total else 1.0


@dataclass(frozen=True)
class RecallReport:
    """How an approximate index compares with exact search on a sample of items."""

    index: str
    k: int
    n_queries: int
    recall: float
    qps_index: float
    qps_exact: float
    build_seconds: float


def measure_recall(
    vectors: np.ndarray,
    index: faiss.Index,
    k: int,
    *,
    description: str = "",
    build_seconds: float = 0.0,
    n_queries: int = 1000,
    seed: int = 0,
) -> RecallReport:
    """Recall@k of ``index`` against exact search, and both search speeds (queries/s)."""
    n = len(vectors)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(n_queries, n), replace=False))
    exact_index = build_index(vectors, IndexSpec("exact"))
    t0 = time.perf_counter()
    _, exact = nearest(exact_index, vectors, rows, k)
    t1 = time.perf_counter()
    _, found = nearest(index, vectors, rows, k)
    t2 = time.perf_counter()
    return RecallReport(
        index=description,
        k=k,
        n_queries=len(rows),
        recall=recall_at_k(found, exact),
        qps_index=len(rows) / max(t2 - t1, 1e-9),
        qps_exact=len(rows) / max(t1 - t0, 1e-9),
        build_seconds=build_seconds,
    )
