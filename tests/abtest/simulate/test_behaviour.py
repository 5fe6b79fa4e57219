"""The behaviour model: probabilities, monotonicity, and the simulator's view of a world."""

from __future__ import annotations

import numpy as np
import pytest

from abtest.simulate.behaviour import (
    BehaviourParams,
    graded_relevance,
    position_bias,
    purchase_probability,
    relevance,
    tap_probability,
)
from abtest.simulate.marketplace import Marketplace
from abtest.simulate.world import WorldSummary
from abtest.store import Store

PARAMS = BehaviourParams()


@pytest.fixture(scope="module")
def market(small_world: WorldSummary) -> Marketplace:
    with Store(small_world.db, read_only=True) as store:
        return Marketplace.from_store(store)


def test_relevance_by_hand() -> None:
    w = PARAMS.relevance_weights
    a = np.array([2, 3, 1, 0, 2])
    assert relevance(a, np.array([5, 3, 1, 0, 2]), w) == 0.0  # other category
    assert relevance(a, a, w) == pytest.approx(sum(w))  # identical attributes
    assert relevance(a, np.array([2, 9, 9, 9, 9]), w) == pytest.approx(w[0])
    assert relevance(a, np.array([2, 3, 9, 9, 9]), w) == pytest.approx(w[0] + w[1])
    assert graded_relevance(a, np.array([5, 3, 1, 0, 2])) == 0
    assert graded_relevance(a, np.array([2, 9, 1, 0, 2])) == 1  # pattern alone does not count
    assert graded_relevance(a, np.array([2, 3, 9, 0, 2])) == 2
    assert graded_relevance(a, np.array([2, 3, 1, 9, 9])) == 3


def test_probabilities_are_in_the_unit_interval_and_monotone() -> None:
    rel = np.linspace(0, 1, 51)
    taste = np.linspace(-3, 2, 11)
    r, t = np.meshgrid(rel, taste, indexing="ij")
    for pos in range(1, 13):
        p = tap_probability(PARAMS, r, t, np.full_like(r, pos, dtype=int))
        assert ((p >= 0) & (p <= 1)).all()
        assert (np.diff(p, axis=0) > 0).all()  # more relevant → more taps
        assert (np.diff(p, axis=1) > 0).all()  # more to the user's taste → more taps
    by_position = tap_probability(PARAMS, np.full(12, 0.7), np.zeros(12), np.arange(1, 13))
    assert (np.diff(by_position) <= 0).all() and by_position[0] > by_position[-1]
    buy = purchase_probability(PARAMS, r, t, np.zeros_like(r))
    assert ((buy >= 0) & (buy <= 1)).all() and (np.diff(buy, axis=0) > 0).all()
    assert position_bias(PARAMS, np.array([1]))[0] == 1.0


def test_params_round_trip_through_json_dict() -> None:
    assert BehaviourParams.from_dict(PARAMS.to_dict()) == PARAMS


def test_module_outcomes_follow_their_probabilities(market: Marketplace) -> None:
    rng = np.random.default_rng(0)
    n, k = 40_000, 5
    users = rng.integers(market.n_users, size=n)
    sources = market.sample_views(rng, users)
    recs = rng.integers(market.n_items, size=(n, k))
    out = market.module_outcome(rng, users, sources, recs)
    assert out.tapped.shape == (n, k)
    assert not (out.purchased & ~out.tapped).any()  # purchases only after a tap
    # Observed tap rate per position within 4 standard errors of its expectation.
    expected = out.p_tap.mean(axis=0)
    se = np.sqrt(expected * (1 - expected) / n)
    assert (np.abs(out.tapped.mean(axis=0) - expected) < 4 * se).all()


def test_better_recommendations_earn_more_taps(market: Marketplace) -> None:
    """Showing same-category, same-colour items beats random items: lifts can emerge."""
    rng = np.random.default_rng(1)
    users = rng.integers(market.n_users, size=3000)
    sources = market.sample_views(rng, users)
    random_recs = rng.integers(market.n_items, size=(3000, 5))
    same = (market.codes[:, None, :2] == market.codes[None, :, :2]).all(axis=2)
    np.fill_diagonal(same, False)
    similar = np.stack(
        [rng.choice(np.flatnonzero(same[s])) if same[s].any() else s for s in sources]
    )
    similar_recs = np.repeat(similar[:, None], 5, axis=1)
    p_random, _ = market.module_probabilities(users, sources, random_recs)
    p_similar, _ = market.module_probabilities(users, sources, similar_recs)
    assert p_similar.mean() > 2 * p_random.mean()


def test_views_follow_category_taste(market: Marketplace) -> None:
    rng = np.random.default_rng(2)
    user = int(np.argmax(market.category_pref.max(axis=1)))
    views = market.sample_views(rng, np.full(5000, user))
    share = np.bincount(market.codes[views, 0], minlength=market.category_pref.shape[1]) / 5000
    np.testing.assert_allclose(share, market.category_pref[user], atol=0.03)


def test_item_index_maps_ids_and_rejects_unknown(market: Marketplace) -> None:
    ids = market.item_ids[[5, 0, 17]]
    assert market.item_index(ids).tolist() == [5, 0, 17]
    with pytest.raises(KeyError):
        market.item_index(np.array([10**9]))
