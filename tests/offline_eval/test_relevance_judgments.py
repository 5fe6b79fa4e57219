"""Judgments from the interactions table, runs from the neighbors table, and their errors."""

from __future__ import annotations

from datetime import date

import pytest

from offline_eval import (
    OfflineEvalError,
    evaluate_encoder,
    load_judgments,
    load_run,
)

LOGS = [
    # Source 1 on day 0: 10 tapped then bought (gain = max = 2), 11 tapped, 12 only shown.
    {"source_item_id": 1, "item_id": 10, "event_type": "impression"},
    {"source_item_id": 1, "item_id": 10, "event_type": "tap"},
    {"source_item_id": 1, "item_id": 10, "event_type": "purchase"},
    {"source_item_id": 1, "item_id": 11, "event_type": "tap", "position": 2},
    {"source_item_id": 1, "item_id": 12, "event_type": "impression", "position": 3},
    # Source 2 on day 0: shown, never tapped: not a query.
    {"source_item_id": 2, "item_id": 20, "event_type": "impression"},
    # Source 3 on day 2: one tap.
    {"source_item_id": 3, "item_id": 30, "event_type": "tap", "day": 2},
]


def _as_dict(judgments) -> dict[int, dict[int, float]]:
    out: dict[int, dict[int, float]] = {}
    for row in judgments.to_frame().iter_rows(named=True):
        out.setdefault(row["query_id"], {})[row["item_id"]] = row["gain"]
    return out


def test_gains_are_the_max_over_events_and_unrelevant_sources_are_counted(fill) -> None:
    store = fill(LOGS)
    judgments = load_judgments(store)
    assert _as_dict(judgments) == {1: {10: 2.0, 11: 1.0}, 3: {30: 1.0}}
    assert judgments.n_no_relevant == 1
    # Rows of a query come in ideal order: by gain, then item id.
    assert judgments.item_ids.tolist() == [10, 11, 30]


def test_custom_gains_and_date_range(fill) -> None:
    store = fill(LOGS)
    taps_only = load_judgments(store.con, gains={"tap": 3})
    assert _as_dict(taps_only) == {1: {10: 3.0, 11: 3.0}, 3: {30: 3.0}}
    first_day = load_judgments(store, start=date(2024, 5, 1), end="2024-05-02")
    assert _as_dict(first_day) == {1: {10: 2.0, 11: 1.0}}
    assert first_day.n_no_relevant == 1
    later = load_judgments(store, start="2024-05-02")
    assert _as_dict(later) == {3: {30: 1.0}}
    assert later.n_no_relevant == 0


def test_logging_policy_filter(fill) -> None:
    store = fill(
        [*LOGS, {"source_item_id": 4, "item_id": 40, "event_type": "tap", "policy": "uniform"}]
    )
    assert _as_dict(load_judgments(store, logging_policy="uniform")) == {4: {40: 1.0}}
    assert 4 not in _as_dict(load_judgments(store, logging_policy="cnn-pca"))
    with pytest.raises(OfflineEvalError, match="from logging policy 'x'; the logs have policies"):
        load_judgments(store, logging_policy="x")


def test_event_types_are_parameters_not_sql(fill) -> None:
    store = fill(LOGS)
    with pytest.raises(OfflineEvalError, match="unknown event type \"tap'; DROP"):
        load_judgments(store, gains={"tap'; DROP TABLE interactions; --": 1})
    with pytest.raises(OfflineEvalError, match="gain of 'tap' must be a positive number"):
        load_judgments(store, gains={"tap": 0})
    with pytest.raises(OfflineEvalError, match="gains is empty"):
        load_judgments(store, gains={})
    assert store.count("interactions") == len(LOGS)


def test_empty_date_range_and_range_outside_the_logs(fill) -> None:
    store = fill(LOGS)
    with pytest.raises(OfflineEvalError, match=r"empty date range: start .* is not before end"):
        load_judgments(store, start="2024-05-03", end="2024-05-03")
    with pytest.raises(OfflineEvalError, match=r"no interactions between .*; the logs run from"):
        load_judgments(store, start="2025-01-01", end="2025-02-01")
    with pytest.raises(OfflineEvalError, match="is not a date; use ISO format"):
        load_judgments(store, start="last tuesday")


def test_logs_without_taps_and_empty_logs(fill, store) -> None:
    with pytest.raises(OfflineEvalError, match="interactions table is empty; log history"):
        load_judgments(store)
    fill([{"source_item_id": 1, "item_id": 10, "event_type": "impression"}])
    with pytest.raises(OfflineEvalError, match="no purchase or tap events in all logs"):
        load_judgments(store)


def test_runs_from_neighbors_and_unknown_encoder(fill) -> None:
    store = fill(
        LOGS,
        {"cnn-pca": {1: [11, 12, 10], 3: [31, 30]}, "siglip": {1: [10, 11], 3: [30]}},
        items=list(range(1, 40)),
    )
    run = load_run(store, "cnn-pca")
    assert run.query_ids.tolist() == [1, 3]
    assert run.items[0].tolist() == [11, 12, 10]
    with pytest.raises(OfflineEvalError, match=r"unknown encoder 'clip'.*cnn-pca \(5 rows\)"):
        load_run(store, "clip")
    judgments = load_judgments(store)
    ev = evaluate_encoder(store, "siglip", judgments, ks=(1, 2), metrics=("precision",))
    assert ev.scores["precision@1"].tolist() == [1.0, 1.0]
    assert ev.catalog_size == 39
    assert ev.coverage[2] == pytest.approx(3 / 39)
