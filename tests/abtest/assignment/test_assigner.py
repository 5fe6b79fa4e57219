"""The assigner: the online and batch paths agree; forcing and holdouts work."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest

from abtest.assignment import REASONS, Assigner, AssignmentError, assign_batch, assign_user
from tests.abtest.assignment.builders import online_indices, random_ids, spec_of


def test_batch_equals_online_on_a_million_random_ids() -> None:
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
    ids = random_ids(1_000_000, seed=1)
    assigner = Assigner(spec)
    batch = assigner.assign_batch(ids)
    index, reason = online_indices(assigner, ids)
    assert np.array_equal(batch.variant_index, index)
    assert np.array_equal(batch.reason_code, reason)
    counts = batch.reason_counts()
    assert counts["assigned"] > 600_000 and counts["namespace"] > 150_000
    assert counts["coverage"] > 80_000 and counts["no_unit"] == 2


def test_batch_equals_online_with_every_feature() -> None:
    n = 120_000
    rng = np.random.default_rng(5)
    ids = random_ids(n, seed=2)
    frame = pl.DataFrame(
        {
            "user_id": ids,
            "platform": pl.Series(rng.choice(["ios", "android", "web", "none"], n)).replace(
                "none", None
            ),
            "age": rng.integers(10, 60, n),
            "is_new": rng.random(n) < 0.3,
        }
    )
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
    assigner = Assigner(spec)
    batch = assigner.assign_frame(frame)
    codes = {r: i for i, r in enumerate(REASONS)}
    decisions = [assigner.decide(row) for row in frame.iter_rows(named=True)]
    assert batch.variant_index.tolist() == [d.variant_index for d in decisions]
    assert batch.reason_code.tolist() == [codes[d.reason] for d in decisions]
    online_bucket = np.array([np.nan if d.bucket is None else d.bucket for d in decisions])
    assert np.array_equal(batch.bucket, online_bucket, equal_nan=True)
    assert set(batch.reason_counts()) == set(REASONS)  # every path was exercised


def test_integer_ids_are_assigned_like_their_text() -> None:
    spec = spec_of(hash_version=2)
    ints = np.arange(1, 5001, dtype=np.int64)
    by_int = assign_batch(spec, ints)
    by_text = assign_batch(spec, [str(i) for i in ints])
    assert np.array_equal(by_int.variant_index, by_text.variant_index)
    assert assign_user(spec, {"user_id": 17}) == assign_user(spec, {"user_id": "17"})
    # targeting on the unit sees it as given: an integer stays an integer
    targeted = Assigner(spec_of(targeting={"user_id": {"$in": [3, 5, 8]}}))
    batch = targeted.assign_frame(pl.DataFrame({"user_id": ints[:10]}))
    online = [targeted.assign({"user_id": int(i)}) is not None for i in ints[:10]]
    assert batch.in_experiment.tolist() == online and sum(online) == 3


def test_missing_ids_stay_in_the_output_as_given() -> None:
    # As a GrowthBook SDK skips a user whose hash attribute is empty, a missing id
    # is not in the experiment; its row stays, with the id as it was given.
    ids = ["u1", "", None, "u2"]
    frame = Assigner(spec_of()).assign_batch(ids).to_frame()
    assert frame["user_id"].to_list() == ids
    assert frame["in_experiment"].to_list() == [True, False, False, True]
    assert frame["reason"].to_list() == ["assigned", "no_unit", "no_unit", "assigned"]
    assert frame["variant"].to_list()[1:3] == [None, None]
    # a zero number is missing too (and never forced), as online
    forced = {"0": "treatment", "5": "control"}
    assigner = Assigner(spec_of(), forced=forced)
    batch = assigner.assign_batch(np.array([0, 5], dtype=np.int64))
    assert batch.to_frame()["user_id"].to_list() == ["0", "5"]
    assert batch.reasons().tolist() == ["no_unit", "forced"]
    assert [assigner.decide({"user_id": v}).reason for v in (0, 5)] == ["no_unit", "forced"]


def test_the_same_unit_gets_the_same_variant_across_assigners() -> None:
    ids = [f"u{i}" for i in range(2000)]
    first = Assigner(spec_of(seed="s")).assign_batch(ids).variant_index
    again = Assigner(spec_of(seed="s")).assign_batch(list(reversed(ids))).variant_index[::-1]
    other = Assigner(spec_of(seed="t")).assign_batch(ids).variant_index
    assert np.array_equal(first, again)
    assert 0.4 < np.mean(first == other) < 0.6  # a new seed reshuffles


def test_forced_units_get_their_variant_whatever_else_applies() -> None:
    spec = spec_of(
        coverage=0.0,
        namespace={"name": "m", "range": [0.0, 0.01]},
        targeting={"country": "nowhere"},
        forced={"qa-1": "treatment"},
    )
    a = assign_user(spec, {"user_id": "qa-1", "country": "JP"})
    assert a is not None and a.variant == "treatment" and a.forced and a.bucket is None
    assert not a.exposed
    assert assign_user(spec, {"user_id": "someone", "country": "JP"}) is None
    # an argument adds or overrides forced units
    b = assign_user(spec, {"user_id": "qa-1"}, forced={"qa-1": "control"})
    assert b is not None and b.variant == "control"
    batch = assign_batch(
        spec, ["qa-1", "qa-2", "x"], {"country": ["JP"] * 3}, forced={"qa-2": "control"}
    )
    assert batch.variant_names().tolist() == ["treatment", "control", None]
    assert batch.reasons().tolist() == ["forced", "forced", "namespace"]
    assert not batch.exposed.any()


def test_forcing_an_unknown_variant_is_an_error() -> None:
    with pytest.raises(AssignmentError, match="not a variant"):
        assign_user(spec_of(), "u1", forced={"u1": "nope"})


def test_holdout_excludes_the_same_units_from_every_experiment_sharing_it() -> None:
    ids = [f"user-{i}" for i in range(60_000)]
    holdout = {"fraction": 0.05}
    a = assign_batch(
        spec_of(key="a", namespace={"name": "m", "range": [0, 0.5]}, holdout=holdout), ids
    )
    b = assign_batch(
        spec_of(key="b", namespace={"name": "m", "range": [0.5, 1]}, holdout=holdout), ids
    )
    held_a = a.reason_code == REASONS.index("holdout")
    held_b = b.reason_code == REASONS.index("holdout")
    assert np.array_equal(held_a, held_b)  # same default seed: the namespace's
    assert abs(held_a.mean() - 0.05) < 0.006
    assert not (a.in_experiment & held_a).any() and not (b.in_experiment & held_b).any()
    assert not (a.in_experiment & b.in_experiment).any()  # the namespace keeps them apart
    # a larger fraction holds out a superset; another seed other units
    wider = assign_batch(
        spec_of(key="a", namespace={"name": "m", "range": [0, 0.5]}, holdout={"fraction": 0.1}), ids
    )
    held_wide = wider.reason_code == REASONS.index("holdout")
    assert held_wide[held_a].all() and held_wide.sum() > 1.5 * held_a.sum()
    other = assign_batch(spec_of(key="a", holdout={"fraction": 0.05, "seed": "other"}), ids)
    held_other = other.reason_code == REASONS.index("holdout")
    assert np.mean(held_other & held_a) < 0.01


def test_holdout_is_independent_of_the_split() -> None:
    ids = [f"u{i}" for i in range(50_000)]
    full = assign_batch(spec_of(), ids)
    held = assign_batch(spec_of(holdout={"fraction": 0.2}), ids)
    kept = held.in_experiment
    # holding out never changes anyone's variant, and the split stays balanced
    assert np.array_equal(held.variant_index[kept], full.variant_index[kept])
    share = np.mean(held.variant_index[kept] == 0)
    assert abs(share - 0.5) < 4.5 * np.sqrt(0.25 / kept.sum())


def test_online_path_takes_microseconds() -> None:
    spec = spec_of(
        namespace={"name": "m", "range": [0, 0.7]}, targeting={"platform": {"$in": ["ios", "web"]}}
    )
    assigner = Assigner(spec)
    users = [{"user_id": f"u{i}", "platform": "ios"} for i in range(20_000)]
    t0 = time.perf_counter()
    for u in users:
        assigner.assign(u)
    per_call = (time.perf_counter() - t0) / len(users)
    assert per_call < 200e-6  # typically about 10 microseconds
