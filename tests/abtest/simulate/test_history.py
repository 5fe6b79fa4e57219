"""Historical logs: the logging policy's propensities are exact, and the logs are sound."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from abtest.simulate.history import (
    HistoryConfig,
    HistoryError,
    logging_slates,
    search_results,
    simulate_history,
)
from abtest.store import Store
from tests.conftest import write_toy_neighbors


def test_logged_propensities_are_the_true_marginals() -> None:
    """Empirical P(item at position) over many draws equals the logged propensity."""
    rng = np.random.default_rng(0)
    candidates = np.array([[10, 11, 12, 13, 14, 15, -1, -1]])  # 6 valid candidates
    draws = 200_000
    slates, propensity, explore = logging_slates(
        rng, np.repeat(candidates, draws, axis=0), k=3, epsilon=0.3
    )
    assert abs(explore.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / draws)
    for pos in range(3):
        for item in range(10, 16):
            shown = slates[:, pos] == item
            freq = shown.mean()
            logged = propensity[shown, pos]
            assert np.allclose(logged, logged[0])  # one propensity per (item, position)
            expected = 0.7 * (item == 10 + pos) + 0.3 / 6
            assert logged[0] == pytest.approx(expected)
            assert abs(freq - expected) < 4.5 * np.sqrt(expected * (1 - expected) / draws)
    assert (slates >= 0).all()  # padding is never shown when enough candidates exist
    explored = slates[explore]
    assert (np.sort(explored, axis=1)[:, 1:] != np.sort(explored, axis=1)[:, :-1]).all()


def test_no_exploration_means_propensity_one() -> None:
    rng = np.random.default_rng(1)
    candidates = np.arange(40).reshape(4, 10)
    slates, propensity, explore = logging_slates(rng, candidates, k=5, epsilon=0.0)
    assert not explore.any()
    assert (slates == candidates[:, :5]).all() and (propensity == 1.0).all()


@pytest.fixture()
def logged_world(world_copy: Path) -> Path:
    write_toy_neighbors(world_copy, "prod", k=20)
    return world_copy


def test_history_writes_sound_interactions(logged_world: Path) -> None:
    config = HistoryConfig(policy="prod", days=5, epsilon=0.2, pool=10)
    summary = simulate_history(logged_world, config)
    assert summary.views > 0 and summary.impressions == 5 * summary.views
    assert summary.search_impressions == 10 * summary.views
    assert summary.inserted > summary.impressions + summary.taps + summary.search_impressions
    assert 0.01 < summary.tap_rate < 0.3
    with Store(logged_world, read_only=True) as store:
        checks = store.query(
            """
            SELECT
              min(propensity) AS min_p, max(propensity) AS max_p,
              count(*) FILTER (WHERE policy NOT IN ('prod', 'search')) AS other_policy,
              min(ts) AS first, max(ts) AS last,
              count(*) FILTER (WHERE event_type = 'purchase' AND value IS NULL) AS unpriced
            FROM interactions WHERE policy = 'prod'
            """
        ).row(0, named=True)
        (orphan_taps,) = store.fetch_one(
            "SELECT count(*) FROM interactions t "
            "WHERE t.event_type = 'tap' AND NOT EXISTS (SELECT 1 FROM interactions i "
            "WHERE i.event_type = 'impression' AND i.user_id = t.user_id "
            "AND i.source_item_id = t.source_item_id AND i.item_id = t.item_id "
            "AND i.position = t.position AND i.ts <= t.ts)"
        )
    assert checks["min_p"] > 0 and checks["max_p"] <= 1
    assert checks["min_p"] == pytest.approx(0.2 / 10)
    assert checks["other_policy"] == 0 and checks["unpriced"] == 0
    assert checks["first"] >= dt.datetime(2026, 2, 1) and checks["last"] < dt.datetime(2026, 2, 6)
    assert orphan_taps == 0


def test_history_is_deterministic_and_refuses_to_log_twice(logged_world: Path) -> None:
    config = HistoryConfig(policy="prod", days=2)
    first = simulate_history(logged_world, config)
    with Store(logged_world, read_only=True) as store:
        snapshot = store.query("SELECT * FROM interactions ORDER BY event_id")
    with pytest.raises(HistoryError, match="pass --replace"):
        simulate_history(logged_world, config)
    again = simulate_history(logged_world, config, replace=True)
    with Store(logged_world, read_only=True) as store:
        assert store.query("SELECT * FROM interactions ORDER BY event_id").equals(snapshot)
    assert (first.views, first.taps) == (again.views, again.taps)


def test_history_bad_input(logged_world: Path) -> None:
    with pytest.raises(HistoryError, match="no neighbors for encoder 'nope'"):
        simulate_history(logged_world, HistoryConfig(policy="nope", days=1))
    with pytest.raises(HistoryError, match="--days must be at least 1"):
        simulate_history(logged_world, HistoryConfig(policy="prod", days=0))
    with pytest.raises(HistoryError, match="--pool"):
        simulate_history(logged_world, HistoryConfig(policy="prod", k=5, pool=3))


def test_search_results_are_uniform_over_the_category() -> None:
    rng = np.random.default_rng(3)
    categories = np.array([0] * 6 + [1] * 30)
    draws = 60_000
    source = np.zeros(draws, dtype=np.int64)  # item 0, category 0: 5 other items
    results, propensity = search_results(rng, categories, source, 3)
    assert (results != 0).all() and (results < 6).all()
    assert (np.sort(results, axis=1)[:, 1:] != np.sort(results, axis=1)[:, :-1]).all()
    assert np.allclose(propensity, 1 / 5)
    for pos in range(3):
        freq = np.bincount(results[:, pos], minlength=6)[1:] / draws
        assert np.abs(freq - 0.2).max() < 4.5 * np.sqrt(0.2 * 0.8 / draws)
    small, _ = search_results(rng, categories, np.array([0]), 8)  # more asked than exist
    assert sorted(small[0][small[0] >= 0]) == [1, 2, 3, 4, 5]
