"""What assignment answers: a batch's outcomes as a frame."""

from __future__ import annotations

import polars as pl

from abtest.assignment import assign_batch
from tests.abtest.assignment.builders import spec_of


def test_to_frame_has_one_row_per_unit() -> None:
    spec = spec_of(coverage=0.5)
    ids = ["a", None, "c", "d", "e", "f"]
    frame = assign_batch(spec, ids).to_frame()
    assert frame.columns == [
        "experiment",
        "user_id",
        "variant",
        "encoder",
        "in_experiment",
        "reason",
        "bucket",
    ]
    assert frame.height == len(ids) and frame["user_id"].to_list() == ids
    inside = frame.filter(pl.col("in_experiment"))
    assert inside["variant"].null_count() == 0 and inside["bucket"].null_count() == 0
    assert (
        frame.filter(~pl.col("in_experiment"))["variant"].null_count()
        == frame.height - inside.height
    )
