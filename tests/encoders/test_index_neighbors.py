"""FAISS search and the neighbors table: self excluded, sorted, deterministic, measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.store import Store
from encoders.artifacts import Artifacts, write_embeddings
from encoders.errors import EncoderError
from encoders.index import (
    IndexSpec,
    build_index,
    load_index,
    measure_recall,
    nearest,
    recall_at_k,
)
from encoders.neighbors import neighbor_frame, write_neighbors
from encoders.protocol import l2_normalize


def clustered(n: int = 2000, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, d))
    return l2_normalize(centres[rng.integers(0, 40, n)] + 0.3 * rng.normal(size=(n, d)))


def test_neighbors_exclude_self_are_sorted_and_break_ties_by_id() -> None:
    x = l2_normalize(np.array([[1, 0], [1, 0], [1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32))
    ids = np.array([50, 40, 30, 20, 10])
    frame = neighbor_frame(ids, x, k=3)
    first = frame.filter(pl.col("item_id") == 50)
    # 30 and 40 tie at score 1 (identical photos): the smaller id ranks first.
    assert first["neighbor_id"].to_list() == [30, 40, 20]
    assert first["rank"].to_list() == [1, 2, 3] and first["score"].to_list()[:2] == [1.0, 1.0]
    assert (frame["item_id"] != frame["neighbor_id"]).all()
    for _, group in frame.group_by("item_id"):
        scores = group.sort("rank")["score"].to_numpy()
        assert np.all(np.diff(scores) <= 0)
    assert frame.equals(neighbor_frame(ids[::-1], x[::-1], k=3))  # input order does not matter


def test_k_larger_than_the_catalog() -> None:
    x = l2_normalize(np.eye(3, dtype=np.float32) + 0.1)
    frame = neighbor_frame(np.arange(3), x, k=10)
    assert frame.height == 6 and frame["rank"].max() == 2


def test_recall_is_measured_against_exact_search() -> None:
    x = clustered()
    k = 10
    truth = np.argsort(-(x @ x.T) + 2 * np.eye(len(x)), axis=1, kind="stable")[:, :k]
    _, exact = nearest(build_index(x), x, np.arange(len(x)), k)
    assert recall_at_k(exact, truth) > 0.999  # numpy agrees with FAISS up to float ties
    ivf = build_index(x, IndexSpec("ivf", nlist=40, nprobe=1))
    _, found = nearest(ivf, x, np.arange(len(x)), k)
    report = measure_recall(x, ivf, k, n_queries=len(x))
    assert report.recall == pytest.approx(recall_at_k(found, exact))
    assert 0.3 < report.recall < 1.0 and report.n_queries == len(x)
    hnsw = measure_recall(x, build_index(x, IndexSpec("hnsw")), k)
    assert hnsw.recall > 0.95 and hnsw.n_queries == 1000
    assert recall_at_k(np.array([[1, 2, 3]]), np.array([[1, 5, 3]])) == pytest.approx(2 / 3)


def test_index_options_are_checked() -> None:
    with pytest.raises(EncoderError, match="unknown index 'annoy'; choose from exact, hnsw, ivf"):
        IndexSpec("annoy").validate()
    with pytest.raises(EncoderError, match="nprobe must be at least 1"):
        IndexSpec("ivf", nprobe=0).validate()
    assert IndexSpec("ivf").lists_for(5000) == 128 and IndexSpec("ivf").lists_for(10) == 1


def test_write_neighbors_replaces_one_encoders_rows(world: Path) -> None:
    artifacts = Artifacts.for_db(world)
    first = write_neighbors(world, "cnn-pca", k=5)
    again = write_neighbors(world, "cnn-pca", k=5)
    with Store(world) as store:
        rows = store.query(
            "SELECT * FROM neighbors WHERE encoder = 'cnn-pca' ORDER BY item_id, rank"
        )
    assert first.n_rows == again.n_rows == rows.height == 240 * 5
    assert first.recall is None and load_index(first.index_path).ntotal == 240
    hnsw = write_neighbors(world, "cnn-pca", k=8, index=IndexSpec("hnsw"))
    assert hnsw.recall is not None and hnsw.recall.recall > 0.9
    info = json.loads(artifacts.index_info_path("cnn-pca").read_text())
    assert info["index"]["kind"] == "hnsw" and info["recall"]["recall"] == hnsw.recall.recall
    with Store(world) as store:
        assert store.count("neighbors", "encoder = ?", ["cnn-pca"]) == 240 * 8
    exact = write_neighbors(world, "cnn-pca", k=5)
    with Store(world) as store:
        assert store.query(
            "SELECT * FROM neighbors WHERE encoder = 'cnn-pca' ORDER BY item_id, rank"
        ).equals(rows)
    assert exact.n_rows == 1200


def test_embeddings_of_items_no_longer_in_the_catalog_are_dropped(world: Path) -> None:
    x = clustered(n=242, d=8)
    ids = np.r_[np.arange(1, 241), 9001, 9002]
    write_embeddings(Artifacts.for_db(world).embeddings_path("extra"), ids, x)
    result = write_neighbors(world, "extra", k=3)
    assert result.n_items == 240 and result.n_dropped == 2


def test_neighbors_need_embeddings(world: Path) -> None:
    with pytest.raises(EncoderError, match=r"embeddings not found.*run 'looklift encode' first"):
        write_neighbors(world, "never-encoded")
    with pytest.raises(EncoderError, match="k must be at least 1"):
        write_neighbors(world, "cnn-pca", k=0)
