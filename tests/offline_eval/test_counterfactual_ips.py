"""IPS / SNIPS: unbiased on simulated logs with a known target tap rate; SQL = arrays."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import polars as pl
import pytest

from offline_eval import (
    OfflineEvalError,
    counterfactual_tap_rate,
    coverage_warning,
    ips_estimate,
)

N_SOURCES, POOL, SLOTS, EPSILON = 40, 8, 4, 0.3
EXAMINE = np.array([1.0, 0.7, 0.5, 0.35])
"""Probability that a user looks at each slot (position bias)."""


class Market:
    """Source items with a pool of candidates, a production ranking and a better one.

    Logging policy: with probability 1 - EPSILON the production top SLOTS,
    otherwise the first SLOTS of a uniformly shuffled pool; so the propensity
    of item i at slot p is (1 - EPSILON) [prod(p) = i] + EPSILON / POOL.
    A tap happens with probability attractiveness(source, item) * EXAMINE[p],
    independently per slot: the item-position model holds.
    """

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.attract = rng.uniform(0.05, 0.6, size=(N_SOURCES, POOL))
        self.prod = np.argsort(rng.random((N_SOURCES, POOL)), axis=1)[:, :SLOTS]
        self.target = np.argsort(-self.attract, axis=1)[:, :SLOTS]

    def true_tap_rate(self, ranking: np.ndarray) -> float:
        """Taps per slot of a deterministic ranking, sources uniform, slots equally often."""
        shown = np.take_along_axis(self.attract, ranking, axis=1)
        return float(np.mean(shown * EXAMINE))

    def log(self, n_requests: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One row per impression: request, source, slot, item, propensity, tap."""
        source = rng.integers(0, N_SOURCES, n_requests)
        explore = rng.random(n_requests) < EPSILON
        shuffled = np.argsort(rng.random((n_requests, POOL)), axis=1)[:, :SLOTS]
        shown = np.where(explore[:, None], shuffled, self.prod[source])
        is_prod = shown == self.prod[source]
        propensity = (1 - EPSILON) * is_prod + EPSILON / POOL
        p_tap = self.attract[source[:, None], shown] * EXAMINE
        tap = rng.random((n_requests, SLOTS)) < p_tap
        return {
            "request": np.repeat(np.arange(n_requests), SLOTS),
            "source": np.repeat(source, SLOTS),
            "slot": np.tile(np.arange(SLOTS), n_requests),
            "item": shown.ravel(),
            "propensity": propensity.ravel(),
            "tap": tap.ravel().astype(np.float64),
        }

    def target_propensity(self, log: dict[str, np.ndarray]) -> np.ndarray:
        return (self.target[log["source"], log["slot"]] == log["item"]).astype(np.float64)


def test_ips_and_snips_are_unbiased_with_calibrated_errors() -> None:
    """Over R independent logs, mean estimate - truth is within 4 standard errors of
    that mean (sd / sqrt(R)), the reported SE matches the spread, and the 95%
    intervals cover the truth about 95% of the time."""
    market = Market(seed=1)
    truth = market.true_tap_rate(market.target)
    assert truth > market.true_tap_rate(market.prod) + 0.02  # the target is really better
    rng = np.random.default_rng(2)
    n_reps = 200
    estimates = [
        ips_estimate(log["tap"], log["propensity"], market.target_propensity(log))
        for log in (market.log(4000, rng) for _ in range(n_reps))
    ]
    for name in ("ips", "snips"):
        values = np.array([getattr(e, name) for e in estimates])
        ses = np.array([getattr(e, f"{name}_se") for e in estimates])
        spread = values.std(ddof=1)
        assert abs(values.mean() - truth) < 4 * spread / math.sqrt(n_reps), name
        assert ses.mean() == pytest.approx(spread, rel=0.2), name
        cis = [getattr(e, f"{name}_ci") for e in estimates]
        coverage = np.mean([low <= truth <= high for low, high in cis])
        assert coverage > 0.95 - 4 * math.sqrt(0.95 * 0.05 / n_reps), name


def test_one_large_log_is_within_its_standard_error() -> None:
    market = Market(seed=3)
    log = market.log(40_000, np.random.default_rng(4))
    est = ips_estimate(log["tap"], log["propensity"], market.target_propensity(log), policy="t")
    truth = market.true_tap_rate(market.target)
    assert abs(est.ips - truth) < 4 * est.ips_se
    assert abs(est.snips - truth) < 4 * est.snips_se
    assert est.logged_tap_rate == pytest.approx(log["tap"].mean())
    weights = market.target_propensity(log) / log["propensity"]
    assert est.effective_sample_size == pytest.approx(weights.sum() ** 2 / (weights**2).sum())
    assert est.n_matched == np.count_nonzero(weights)
    # A stochastic target: the logging policy itself, with its own propensities,
    # has weight 1 everywhere, so IPS = SNIPS = the observed tap rate.
    itself = ips_estimate(log["tap"], log["propensity"], log["propensity"])
    assert itself.ips == pytest.approx(log["tap"].mean())
    assert itself.snips == pytest.approx(log["tap"].mean())
    assert itself.effective_sample_size == pytest.approx(log["tap"].size)
    # The production ranking (deterministic) on the same log is close to its true rate.
    own = (market.prod[log["source"], log["slot"]] == log["item"]).astype(float)
    production = ips_estimate(log["tap"], log["propensity"], own)
    assert abs(production.snips - market.true_tap_rate(market.prod)) < 4 * production.snips_se


def _interactions(log: dict[str, np.ndarray], policy: str) -> pl.DataFrame:
    """The simulated log as interactions rows: an impression per slot, a tap when tapped."""
    t0 = datetime(2024, 5, 1)
    base = pl.DataFrame(
        {
            "request": log["request"],
            "source_item_id": log["source"] * 100,
            "item_id": log["source"] * 100 + 1 + log["item"],
            "position": log["slot"] + 1,
            "propensity": log["propensity"],
            "tap": log["tap"] > 0,
        }
    ).with_columns(
        user_id=pl.format("u{}", pl.col("request") % 97),
        ts=pl.lit(t0) + pl.duration(seconds=pl.col("request")),
        policy=pl.lit(policy),
    )
    impressions = base.with_columns(
        event_id=pl.format("{}-{}-{}-imp", pl.lit(policy), "request", "position"),
        event_type=pl.lit("impression"),
    )
    taps = base.filter("tap").with_columns(
        event_id=pl.format("{}-{}-{}-tap", pl.lit(policy), "request", "position"),
        event_type=pl.lit("tap"),
        ts=pl.col("ts") + pl.duration(milliseconds=500),
    )
    columns = [
        "event_id",
        "ts",
        "user_id",
        "source_item_id",
        "item_id",
        "event_type",
        "position",
        "policy",
        "propensity",
    ]
    return pl.concat([impressions.select(columns), taps.select(columns)])


def test_sql_estimate_equals_the_array_estimate(fill) -> None:
    market = Market(seed=5)
    log = market.log(3000, np.random.default_rng(6))
    other = market.log(500, np.random.default_rng(7))  # another logging policy, filtered out
    target_lists = {
        int(s) * 100: [int(s) * 100 + 1 + int(i) for i in market.target[s]]
        for s in range(N_SOURCES)
    }
    store = fill(
        pl.concat([_interactions(log, "cnn-pca"), _interactions(other, "random")]),
        {"siglip": target_lists},
    )
    got = counterfactual_tap_rate(store, "siglip", logging_policy="cnn-pca")
    want = ips_estimate(log["tap"], log["propensity"], market.target_propensity(log))
    assert got.policy == "siglip"
    assert got.n_impressions == want.n_impressions
    for name in ("ips", "ips_se", "snips", "snips_se", "effective_sample_size"):
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12), name
    assert 0 < got.target_slots_logged <= 1
    assert got.to_frame().height == 1
    half = counterfactual_tap_rate(
        store, "siglip", logging_policy="cnn-pca", end="2024-05-01 00:25"
    )
    assert half.n_impressions == 1500 * SLOTS


def test_counterfactual_bad_input(fill, store) -> None:
    with pytest.raises(OfflineEvalError, match="the logs have no taps"):
        ips_estimate([0, 0], [0.5, 0.5], [1, 0])
    with pytest.raises(OfflineEvalError, match="logging propensities must be in"):
        ips_estimate([1, 0], [0.0, 0.5], [1, 0])
    with pytest.raises(OfflineEvalError, match="never shows what the log shows"):
        ips_estimate([1, 0], [0.5, 0.5], [0, 0])
    with pytest.raises(OfflineEvalError, match="differ in length"):
        ips_estimate([1], [0.5, 0.5], [1, 0])
    fill(
        [
            {"source_item_id": 1, "item_id": 10, "event_type": "impression", "propensity": None},
            {"source_item_id": 1, "item_id": 10, "event_type": "tap"},
        ],
        {"siglip": {1: [10]}},
    )
    with pytest.raises(OfflineEvalError, match=r"unknown encoder 'clip'.*siglip"):
        counterfactual_tap_rate(store, "clip")
    with pytest.raises(
        OfflineEvalError, match="1 of 1 impressions lack a position or a propensity"
    ):
        counterfactual_tap_rate(store, "siglip")
    with pytest.raises(OfflineEvalError, match=r"no impressions .* for the chosen logging policy"):
        counterfactual_tap_rate(store, "siglip", logging_policy="nobody")
    with pytest.raises(OfflineEvalError, match="empty date range"):
        counterfactual_tap_rate(store, "siglip", start="2024-06-01", end="2024-05-01")


def test_sql_log_without_taps(fill) -> None:
    store = fill(
        [{"source_item_id": 1, "item_id": 10, "event_type": "impression", "propensity": 0.5}],
        {"siglip": {1: [10]}},
    )
    with pytest.raises(OfflineEvalError, match="the logs have no taps"):
        counterfactual_tap_rate(store, "siglip")


def test_low_coverage_warning_says_what_it_does_to_each_estimator() -> None:
    """A log that never shows 6 of the target's 10 slots: IPS counts them as never
    tapped (far too low), SNIPS averages over the 4 logged ones only (here the unseen
    slots tap more, so SNIPS is low too, by far less). The warning says which is which
    and never calls the shown number (SNIPS) simply "too low"."""
    rng = np.random.default_rng(8)
    n = 200_000
    slot = rng.integers(0, 4, n)  # the log only ever shows slots 0-3, uniformly
    tap_rate = np.array([0.04] * 4 + [0.08] * 6)  # the unseen slots tap twice as often
    taps = (rng.random(n) < tap_rate[slot]).astype(float)
    # the target shows one of its 10 slots per impression: p1 = 1/10 for a logged slot
    logged_p, target_p = np.full(n, 1 / 4), np.full(n, 1 / 10)
    est = ips_estimate(taps, logged_p, target_p, policy="better", target_slots_logged=0.4)
    truth = tap_rate.mean()
    assert est.ips == pytest.approx(0.4 * 0.04, rel=0.05) and est.ips < truth / 3
    assert est.snips == pytest.approx(0.04, rel=0.05) and est.ips < est.snips < truth
    warning = coverage_warning(est)
    assert warning is not None
    assert "only 40% of the slots better would fill" in warning
    assert f"IPS estimate ({est.ips:.2%})" in warning and "likely too low" in warning
    ips_part, snips_part = warning.split("SNIPS", 1)
    assert "too low" in ips_part and "too low" not in snips_part
    assert f"({est.snips:.2%}, the one shown)" in snips_part and "either way" in snips_part
    covered = ips_estimate(taps, logged_p, target_p, policy="better", target_slots_logged=0.9)
    assert coverage_warning(covered) is None
