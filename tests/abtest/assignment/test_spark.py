"""Assignment on Spark equals the numpy path for every user, on a million users.

Spark hands the users to the assigner in Arrow batches, in whatever order its
partitions run: the two paths' rows are compared as sorted multisets of whole rows
(unit id, variant, encoder, in_experiment, reason, bucket), which equal only if every
user got the same outcome.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest.assignment import REASONS, Assigner
from abtest.spec import ExperimentSpec
from tests.abtest.assignment.builders import random_ids, spec_of


def users_frame(n: int, seed: int) -> pl.DataFrame:
    """Ids of many shapes (hex, numeric, long, non-ASCII, empty, missing) and the
    attributes targeting reads."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "user_id": random_ids(n, seed=seed),
            "platform": pl.Series(rng.choice(["ios", "android", "web", "none"], n)).replace(
                "none", None
            ),
            "age": rng.integers(10, 60, n),
            "is_new": rng.random(n) < 0.3,
        }
    )


def assert_same_as_numpy(spark_session, spec: ExperimentSpec, frame: pl.DataFrame, tmp: Path):
    from abtest.assignment.spark import assign_dataframe

    frame.write_parquet(tmp / "users.parquet")
    users = spark_session.read.parquet(str(tmp / "users.parquet")).repartition(3)
    assign_dataframe(spec, users).write.parquet(str(tmp / "assigned"))
    got = pl.read_parquet(tmp / "assigned" / "*.parquet")
    want = Assigner(spec).assign_frame(frame).to_frame(unit_column=spec.unit)
    assert got.schema == want.schema and got.height == want.height == frame.height
    order = list(want.columns)
    assert got.sort(order, nulls_last=True).equals(want.sort(order, nulls_last=True))
    return want


def test_every_feature_on_a_million_users(spark_session, tmp_path: Path) -> None:
    frame = users_frame(1_000_000, seed=2)
    ids = frame["user_id"]
    spec = spec_of(
        hash_version=1,
        coverage=0.9,
        namespace={"name": "module", "range": [0.0, 0.8]},
        holdout={"fraction": 0.1, "hash_version": 1},
        targeting={
            "platform": {"$in": ["ios", "web"]},
            "$or": [{"age": {"$gte": 25}}, {"is_new": True}],
        },
        forced={ids[1]: "treatment", ids[2]: "control"},
    )
    want = assert_same_as_numpy(spark_session, spec, frame, tmp_path)
    assert set(want["reason"].unique()) == set(REASONS)  # every path was exercised


def test_hash_v2_and_uneven_weights_on_a_million_users(spark_session, tmp_path: Path) -> None:
    spec = spec_of(
        seed="million",
        hash_version=2,
        coverage=0.85,
        namespace={"name": "module", "range": [0.1, 0.9]},
        variants=[
            {"name": "a", "weight": 0.2},
            {"name": "b", "weight": 0.3},
            {"name": "c", "weight": 0.5},
        ],
    )
    want = assert_same_as_numpy(spark_session, spec, users_frame(1_000_000, seed=3), tmp_path)
    shares = want.filter(pl.col("in_experiment"))["variant"].value_counts(normalize=True)
    assert dict(shares.iter_rows()) == pytest.approx({"a": 0.2, "b": 0.3, "c": 0.5}, abs=0.005)


def test_integer_unit_ids_are_assigned_like_their_text(spark_session, tmp_path: Path) -> None:
    from abtest.assignment.spark import assign_dataframe

    spec = spec_of(hash_version=2)
    numbers = pl.DataFrame({"user_id": np.arange(1, 50_001, dtype=np.int64)})
    numbers.write_parquet(tmp_path / "ints.parquet")
    users = spark_session.read.parquet(str(tmp_path / "ints.parquet"))
    got = pl.from_arrow(assign_dataframe(spec, users).toArrow())
    text = numbers.with_columns(pl.col("user_id").cast(pl.String))
    want = Assigner(spec).assign_frame(text).to_frame()
    assert isinstance(got, pl.DataFrame)
    assert got.sort("user_id").equals(want.sort("user_id"))
