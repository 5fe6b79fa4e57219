"""Historical logs of the "similar looks" module under a production encoder.

The logging policy shows the production encoder's top-k neighbours, except in
a small share ``epsilon`` of views, where it shows a uniformly random ordered
subset of the top-``pool`` candidates. Every impression carries the exact
marginal probability that the policy shows that item at that position:

    propensity(i, p) = (1 - epsilon) * [i is the top-p neighbour] + epsilon / M

where M is the number of candidates in the pool. That is what counterfactual
estimators (IPS, SNIPS) need to predict another encoder's tap rate offline.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from abtest.simulate.marketplace import Marketplace
from abtest.simulate.sessions import day_rng, draw_views, module_events, neighbor_matrix
from abtest.simulate.world import WorldError
from abtest.store import Store

HISTORY_STREAM = 11


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
        where = "policy = ? AND ts >= ? AND ts < ?"
        params = [config.policy, config.start, config.end]
        existing = store.count("interactions", where, params)
        if existing and not replace:
            raise HistoryError(
                f"interactions already holds {existing:,} events of policy {config.policy!r} "
                f"between {config.start} and {config.end}; pass --replace to simulate them again"
            )
        frames, views, explored = [], 0, 0
        for d in range(config.days):
            day = config.start + dt.timedelta(days=d)
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
            frames.append(events.with_columns(policy=pl.lit(config.policy)))
            views += len(day_views)
            explored += int(explore.sum())
            if progress:
                progress(d + 1, config.days)
        logs = pl.concat(frames)
        counts = dict(logs.group_by("event_type").len().iter_rows())
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
        impressions=counts.get("impression", 0),
        taps=counts.get("tap", 0),
        purchases=counts.get("purchase", 0),
        inserted=report.inserted,
        seconds=time.perf_counter() - started,
    )
