"""Who browses during a simulation: the world's users (or the first N), and bots.

:func:`simulated_market` is the marketplace the day loop draws views from: the
stored world, cut to ``--users`` and with ``--bots`` appended last (extreme
activity, no taste); :func:`view_rates` is each of them's expected views per
day; :func:`user_frames` their attributes for the assignment code (matched by
id) and the bots' rows to store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl

from abtest.schema import USERS
from abtest.simulate.marketplace import Marketplace
from abtest.simulate.sessions import VIEWS_PER_ACTIVITY
from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from abtest.store import Store


def simulated_market(store: Store, config: TrafficConfig) -> tuple[Marketplace, int]:
    """The world in ``store`` with the users ``config`` simulates (bots last), and how
    many of them are real users."""
    world = Marketplace.from_store(store)
    market = with_bots(subset_users(world, config.users), config)
    return market, market.n_users - config.bots


def with_bots(market: Marketplace, config: TrafficConfig) -> Marketplace:
    """``market`` with ``config.bots`` bot users appended: no activity of their own (their
    views come from ``bot_views_per_day``), no price sensitivity, uniform tastes."""
    if not config.bots:
        return market
    b = config.bots
    uniform = {
        name: np.vstack(
            [
                getattr(market, name),
                np.full((b, getattr(market, name).shape[1]), 1 / getattr(market, name).shape[1]),
            ]
        )
        for name in ("category_pref", "colour_pref", "style_pref")
    }
    return dataclasses.replace(
        market,
        user_ids=np.concatenate([market.user_ids, [f"bot{i:05d}" for i in range(1, b + 1)]]),
        activity=np.concatenate([market.activity, np.zeros(b)]),
        price_sensitivity=np.concatenate([market.price_sensitivity, np.zeros(b)]),
        **uniform,
    )


def subset_users(market: Marketplace, n: int | None) -> Marketplace:
    """The first ``n`` users of ``market`` (all of them when ``n`` is None)."""
    if n is None:
        return market
    if n > market.n_users:
        raise SimulationError(f"--users {n} is more than the world's {market.n_users} users")
    keep = slice(0, n)
    return dataclasses.replace(
        market,
        user_ids=market.user_ids[keep],
        activity=market.activity[keep],
        category_pref=market.category_pref[keep],
        colour_pref=market.colour_pref[keep],
        style_pref=market.style_pref[keep],
        price_sensitivity=market.price_sensitivity[keep],
    )


def view_rates(market: Marketplace, n_real: int, config: TrafficConfig) -> np.ndarray:
    """Each simulated user's expected views on an average day (before day-of-week
    seasonality): from their activity for people, ``bot_views_per_day`` for bots."""
    return np.concatenate(
        [
            market.activity[:n_real] * VIEWS_PER_ACTIVITY * config.traffic,
            np.full(config.bots, config.bot_views_per_day),
        ]
    )


def user_frames(
    store: Store, market: Marketplace, n_real: int, start: dt.datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The attributes of every simulated user, row for row with ``market`` (bots last),
    and the bots' rows to store.

    Users are matched by id, not by position: the table may hold bots of an
    earlier run (whose ids sort before the world's) or a team's own users.
    """
    stored = store.query("SELECT * FROM users")
    ids = pl.DataFrame(
        {"user_id": market.user_ids[:n_real].tolist()}, schema={"user_id": pl.String}
    )
    users = (
        ids.with_row_index("__order")
        .join(stored, on="user_id", how="left")
        .sort("__order")
        .drop("__order")
    )
    n_bots = market.n_users - n_real
    bots = pl.DataFrame(
        {
            "user_id": market.user_ids[n_real:].tolist(),
            "platform": ["web"] * n_bots,
            "country": ["US"] * n_bots,
            "is_new": [False] * n_bots,
            "first_seen_at": [start - dt.timedelta(days=30)] * n_bots,
        },
        schema={c: stored.schema[c] for c in USERS.column_names},
    )
    # Users may carry a team's own columns (app_version...) that targeting reads;
    # bots have none of them (null there).
    return pl.concat([users, bots], how="diagonal"), bots
