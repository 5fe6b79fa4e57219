"""Historical logs of the "similar looks" module under a production encoder.

Two surfaces are logged for every item view.

The "similar looks" module (``policy`` = the production encoder) shows the
production encoder's top-k neighbors, except in
a small share ``epsilon`` of views, where it shows a uniformly random ordered
subset of the top-``pool`` candidates. Every impression carries the exact
marginal probability that the policy shows that item at that position:

    propensity(i, p) = (1 - epsilon) * [i is the top-p neighbor] + epsilon / M

where M is the number of candidates in the pool. That is what counterfactual
estimators (IPS, SNIPS) need to predict another encoder's tap rate offline.

Search results (``policy = "search"``) list ``search`` random items of the
viewed item's category, as a category browse would, with propensity 1 / (M - 1)
at every position (M items in the category). No encoder chose them, so the
taps and purchases they earn are relevance judgments that favour neither the
production encoder nor a challenger: the fair input of offline evaluation.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from abtest.simulate.marketplace import Marketplace
from abtest.simulate.sessions import day_rng, draw_views, module_events, neighbor_matrix
from abtest.simulate.world import WorldError
from abtest.store import Store

HISTORY_STREAM = 11
SEARCH_POLICY = "search"


class HistoryError(WorldError):
    """Bad settings for simulating historical logs."""


@dataclass(frozen=True)
class HistoryConfig:
    """Which encoder served the logs, for how long, and how much it explored."""

    policy: str = "cnn-pca"
    start: dt.date = dt.date(2026, 2, 1)
    days: int = 28
    k: int = 5
    epsilon: float = 0.1
    pool: int = 20
    seed: int = 0
    traffic: float = 1.0
    search: int = 10
    """Search results logged per view (0: none)."""

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days)

    def validate(self) -> None:
        if self.days < 1:
            raise HistoryError(f"--days must be at least 1 (got {self.days})")
        if self.k < 1:
            raise HistoryError(f"--k must be at least 1 (got {self.k})")
        if not 0.0 <= self.epsilon <= 1.0:
            raise HistoryError(f"--epsilon must be between 0 and 1 (got {self.epsilon})")
        if self.pool < self.k:
            raise HistoryError(f"--pool ({self.pool}) must be at least --k ({self.k})")
        if self.traffic <= 0:
            raise HistoryError(f"--traffic must be positive (got {self.traffic})")
        if self.search < 0:
            raise HistoryError(f"--search must be 0 or more (got {self.search})")


@dataclass(frozen=True)
class HistorySummary:
    """What ``simulate_history`` wrote into ``interactions``."""

    policy: str
    start: dt.date
    end: dt.date
    views: int
    explored_views: int
    impressions: int
    taps: int
    purchases: int
    search_impressions: int
    search_taps: int
    inserted: int
    seconds: float

    @property
    def tap_rate(self) -> float:
        return self.taps / self.impressions if self.impressions else float("nan")


def logging_slates(
    rng: np.random.Generator, candidates: np.ndarray, k: int, epsilon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slates (n, k) of item rows, their propensities, and which views explored.

    ``candidates`` (n, pool) are the production ranking (-1 pads). Greedy views
    show the first k; exploring views a uniformly random ordered k-subset of
    the valid candidates.
    """
    n, pool = candidates.shape
    valid = candidates >= 0
    m = valid.sum(axis=1)
    greedy = candidates[:, :k]
    explore = rng.random(n) < epsilon
    keys = np.where(valid, rng.random((n, pool)), -1.0)
    order = np.argsort(-keys, axis=1, kind="stable")[:, :k]
    random_slate = np.take_along_axis(candidates, order, axis=1)
    random_slate = np.where(np.take_along_axis(valid, order, axis=1), random_slate, -1)
    slates = np.where(explore[:, None], random_slate, greedy)
    is_greedy_item = (slates == greedy) & (slates >= 0)
    in_pool = (slates[:, :, None] == np.where(valid, candidates, -2)[:, None, :]).any(axis=2)
    propensity = (1 - epsilon) * is_greedy_item + epsilon * in_pool / np.maximum(m, 1)[:, None]
    return slates, propensity, explore


def search_results(
    rng: np.random.Generator, categories: np.ndarray, source_idx: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random other items of each viewed item's category, in random order (-1 pads),
    and the propensity of each: 1 / (items in the category - 1)."""
    results = np.full((len(source_idx), n), -1, dtype=np.int64)
    propensity = np.zeros((len(source_idx), n))
    source_cat = categories[source_idx]
    for c in np.unique(source_cat):
        rows = np.flatnonzero(source_cat == c)
        members = np.flatnonzero(categories == c)
        others = len(members) - 1
        take = min(n, others)
        if take <= 0:
            continue
        keys = rng.random((len(rows), len(members)))
        keys[members[None, :] == source_idx[rows, None]] = 2.0  # never the item itself
        chosen = np.argpartition(keys, take - 1, axis=1)[:, :take]
        order = np.argsort(np.take_along_axis(keys, chosen, axis=1), axis=1)
        results[rows, :take] = members[np.take_along_axis(chosen, order, axis=1)]
        propensity[rows, :take] = 1.0 / others
    return results, propensity


def simulate_history(
    db: str | Store,
    config: HistoryConfig,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> HistorySummary:
    """Simulate ``config.days`` days of logs served by ``config.policy`` into ``interactions``."""
    config.validate()
    started = time.perf_counter()
    store = db if isinstance(db, Store) else Store(db)
    try:
        market = Marketplace.from_store(store)
        try:
            candidates = neighbor_matrix(store, market, config.policy, config.pool)
        except KeyError as exc:
            raise HistoryError(f"{exc.args[0]}; run 'looklift neighbors' for it first") from None
        where, params = _logged_range(store, config, replace)
        frames, views, explored = [], 0, 0
        for d in range(config.days):
            day = config.start + dt.timedelta(days=d)
            day_frames, day_views, day_explored = _simulate_day(market, candidates, config, day)
            frames.extend(day_frames)
            views += day_views
            explored += day_explored
            if progress:
                progress(d + 1, config.days)
        logs = pl.concat(frames)
        counts = {
            (policy, kind): n
            for policy, kind, n in logs.group_by("policy", "event_type").len().iter_rows()
        }
        report = store.replace_rows(
            "interactions",
            logs,
            where=where,
            params=params,
            source_name=f"simulated history of {config.policy}",
        )
    finally:
        if not isinstance(db, Store):
            store.close()
    return HistorySummary(
        policy=config.policy,
        start=config.start,
        end=config.end,
        views=views,
        explored_views=explored,
        impressions=counts.get((config.policy, "impression"), 0),
        taps=counts.get((config.policy, "tap"), 0),
        purchases=counts.get((config.policy, "purchase"), 0),
        search_impressions=counts.get((SEARCH_POLICY, "impression"), 0),
        search_taps=counts.get((SEARCH_POLICY, "tap"), 0),
        inserted=report.inserted,
        seconds=time.perf_counter() - started,
    )


def _logged_range(store: Store, config: HistoryConfig, replace: bool) -> tuple[str, list[Any]]:
    """The SQL filter (and its parameters) of the logs this run writes: its policies
    between its dates. Logs already there are an error unless ``replace``."""
    policies = [config.policy] + ([SEARCH_POLICY] if config.search else [])
    where = f"policy IN ({', '.join('?' for _ in policies)}) AND ts >= ? AND ts < ?"
    params: list[Any] = [*policies, config.start, config.end]
    existing = store.count("interactions", where, params)
    if existing and not replace:
        raise HistoryError(
            f"interactions already holds {existing:,} events of {' and '.join(policies)} "
            f"between {config.start} and {config.end}; pass --replace to simulate them again"
        )
    return where, params


def _simulate_day(
    market: Marketplace, candidates: np.ndarray, config: HistoryConfig, day: dt.date
) -> tuple[list[pl.DataFrame], int, int]:
    """One day of logs: the module's events (and the search results' when logged), the
    number of views and how many of them explored. Draws from the day's own stream."""
    rng = day_rng(config.seed, HISTORY_STREAM, day)
    day_views = draw_views(market, rng, day, traffic=config.traffic)
    slates, propensity, explore = logging_slates(
        rng, candidates[day_views.source_idx], config.k, config.epsilon
    )
    events, _ = module_events(
        market,
        rng,
        day,
        day_views,
        slates,
        id_prefix=f"h-{config.policy}",
        extra={"propensity": propensity},
        organic=False,
    )
    frames = [events.with_columns(policy=pl.lit(config.policy))]
    if config.search:
        found, search_propensity = search_results(
            rng, market.codes[:, 0], day_views.source_idx, config.search
        )
        searched, _ = module_events(
            market,
            rng,
            day,
            day_views,
            found,
            id_prefix="h-search",
            extra={"propensity": search_propensity},
            organic=False,
        )
        frames.append(searched.with_columns(policy=pl.lit(SEARCH_POLICY)))
    return frames, len(day_views), int(explore.sum())
