"""Fixtures for offline evaluation: a looklift store filled with small hand-made logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from abtest.store import Store

DAY0 = datetime(2024, 5, 1)


def interactions(rows: list[dict]) -> pl.DataFrame:
    """An interactions frame; each row needs source_item_id, item_id, event_type.

    Defaults: user "u1", position 1, propensity 1.0, policy "cnn-pca", one
    second apart from DAY0 (``day`` shifts a row by whole days).
    """
    out = []
    for i, row in enumerate(rows):
        day = row.get("day", 0)
        out.append(
            {
                "event_id": row.get("event_id", f"e{i}"),
                "ts": row.get("ts", DAY0 + timedelta(days=day, seconds=i)),
                "user_id": row.get("user_id", "u1"),
                "source_item_id": row["source_item_id"],
                "item_id": row["item_id"],
                "event_type": row["event_type"],
                "position": row.get("position", 1),
                "value": row.get("value"),
                "policy": row.get("policy", "cnn-pca"),
                "propensity": row.get("propensity", 1.0),
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "event_id": pl.String,
            "ts": pl.Datetime("us"),
            "user_id": pl.String,
            "source_item_id": pl.Int64,
            "item_id": pl.Int64,
            "event_type": pl.String,
            "position": pl.Int64,
            "value": pl.Float64,
            "policy": pl.String,
            "propensity": pl.Float64,
        },
    )


def neighbors(encoder: str, lists: dict[int, list[int]]) -> pl.DataFrame:
    """A neighbors frame from ``{item_id: [neighbor at rank 1, rank 2, ...]}``."""
    rows = [
        {"encoder": encoder, "item_id": item, "rank": r, "neighbor_id": n, "score": 1.0 / r}
        for item, ns in lists.items()
        for r, n in enumerate(ns, start=1)
    ]
    return pl.DataFrame(rows)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "looklift.duckdb") as s:
        yield s


@pytest.fixture
def fill(store: Store) -> Callable[..., Store]:
    """``fill(rows or frame, {"encoder": {item: [neighbors]}}, [item ids])`` into the store."""

    def _fill(
        interaction_rows: list[dict] | pl.DataFrame | None = None,
        neighbor_lists: dict[str, dict[int, list[int]]] | None = None,
        items: list[int] | None = None,
    ) -> Store:
        if isinstance(interaction_rows, pl.DataFrame):
            store.ingest("interactions", interaction_rows)
        elif interaction_rows:
            store.ingest("interactions", interactions(interaction_rows))
        for encoder, lists in (neighbor_lists or {}).items():
            store.ingest("neighbors", neighbors(encoder, lists))
        if items:
            store.ingest(
                "items",
                pl.DataFrame(
                    {
                        "item_id": items,
                        "title": [f"item {i}" for i in items],
                        "image_path": [f"img/{i}.jpg" for i in items],
                    }
                ),
            )
        return store

    return _fill
