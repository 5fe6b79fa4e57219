"""Targeting over arrays of units: the batch path passes the rows the online path does."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from abtest.assignment import Assigner, AssignmentError, assign_batch
from tests.abtest.assignment.builders import spec_of


def test_targeting_on_one_column_and_on_the_unit_itself() -> None:
    ids = [f"u{i}" for i in range(4000)]
    country = ["JP", "US", None, "DE"] * 1000
    for targeting in (
        {"country": {"$in": ["JP", "DE"]}},
        {"country": {"$exists": False}},
        {"user_id": {"$regex": "7$"}},
        {"user_id": {"$inGroup": "beta"}, "country": {"$ne": "US"}},
    ):
        spec = spec_of(targeting=targeting, saved_groups={"beta": ids[::3]})
        assigner = Assigner(spec)
        batch = assigner.assign_batch(ids, {"country": country})
        online = [
            (a.variant_index if (a := assigner.assign({"user_id": u, "country": c})) else -1)
            for u, c in zip(ids, country, strict=True)
        ]
        assert batch.variant_index.tolist() == online
        assert 0 < (batch.variant_index >= 0).sum() < len(ids)


def test_attribute_problems_are_assignment_errors() -> None:
    spec = spec_of(targeting={"country": "JP"})
    with pytest.raises(AssignmentError, match="reads 'country'"):
        assign_batch(spec, ["a", "b"])
    with pytest.raises(AssignmentError, match="reads 'country'"):
        assign_batch(spec, ["a", "b"], pl.DataFrame({"platform": ["ios", "web"]}))
    with pytest.raises(AssignmentError, match="must align"):
        assign_batch(spec, ["a", "b"], {"country": ["JP"]})
    with pytest.raises(AssignmentError, match="strings or integers"):
        assign_batch(spec_of(), np.array([1.5]))
    with pytest.raises(AssignmentError, match="no 'user_id' column"):
        Assigner(spec).assign_frame(pl.DataFrame({"id": ["a"]}))
