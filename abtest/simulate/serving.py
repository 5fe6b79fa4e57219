"""The day loop: draw each day's views, serve every view its module, turn it into events.

Each day, the views of every simulated user come from one random stream of
(seed, day) (:data:`TRAFFIC_STREAM`), whatever experiments run. A view of a
user whom no running experiment holds is served the default module (the first
variant's, without novelty); a view of a user in an experiment is served their
variant's module (:func:`serve`), which also scores the view under every variant
for the truth and logs the user's first exposure of the day. The behaviour model
then draws impressions, taps and purchases, and the logging faults are applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from abtest.simulate.arms import Arm
from abtest.simulate.expected import TruthAccumulator
from abtest.simulate.faults import fail_modules, inject_event_faults, run_fault_rng
from abtest.simulate.marketplace import Marketplace
from abtest.simulate.population import view_rates
from abtest.simulate.sessions import (
    DAY_OF_WEEK,
    Views,
    day_rng,
    draw_views,
    module_events,
    neighbor_matrix,
)
from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from abtest.spec import ExperimentSpec
from abtest.store import Store

TRAFFIC_STREAM = 21
"""The random stream of a day's traffic: the same for pre-period and experiment days, and
whatever experiments run, so that a day's views never depend on what is simulated."""


@dataclass(frozen=True)
class Serving:
    """What serves the modules of a run: the market, each encoder's neighbors, and the
    run's widest module (every view's slots are laid out by it)."""

    market: Marketplace
    matrices: Mapping[str, np.ndarray]
    width: int
    config: TrafficConfig

    def recs(self, encoder: str, source_idx: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` neighbors ``encoder`` recommends for each viewed item, padded with -1
        to the run's width."""
        out = np.full((len(source_idx), self.width), -1, dtype=np.int64)
        out[:, :k] = self.matrices[encoder][source_idx, :k]
        return out

    def probabilities(
        self,
        views: Views,
        recs: np.ndarray,
        is_bot: np.ndarray,
        *,
        novelty: bool,
        day_index: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tap and buy probabilities of each slot (0 taps where nothing is shown), with the
        novelty boost on experiment days and bots' taps unrelated to relevance."""
        config = self.config
        shown = recs >= 0
        p_tap, p_buy = self.market.module_probabilities(
            views.user_idx, views.source_idx, np.where(shown, recs, 0)
        )
        if novelty and config.novelty > 0 and day_index >= 0:
            boost = 1 + config.novelty * 0.5 ** (day_index / config.novelty_half_life)
            p_tap = np.minimum(p_tap * boost, 1.0)
        p_tap = np.where(is_bot[:, None], config.bot_tap_rate, p_tap)
        p_buy = np.where(is_bot[:, None], 0.0, p_buy)
        return np.where(shown, p_tap, 0.0), p_buy


def neighbor_matrices(
    store: Store, market: Marketplace, arms: Sequence[Arm]
) -> dict[str, np.ndarray]:
    """Each served encoder's neighbors, as wide as the widest module that serves it."""
    widest: dict[str, int] = {}
    for a in arms:
        for enc, k in zip(a.encoders, a.ks, strict=True):
            widest[enc] = max(widest.get(enc, 0), k)
    matrices = {}
    for enc, k in widest.items():
        try:
            matrices[enc] = neighbor_matrix(store, market, enc, k)
        except KeyError as exc:
            raise SimulationError(f"{exc.args[0]}; run 'looklift neighbors' for it first") from None
    return matrices


def simulate_days(
    serving: Serving,
    arms: Sequence[Arm],
    days: Sequence[dt.date],
    n_real: int,
    prefix: str,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Every event of the run's ``days`` (ids starting ``prefix``), as logged: faults
    included, duplicates not yet removed. Collects each arm's exposures and truth."""
    market, config = serving.market, serving.config
    rate = view_rates(market, n_real, config)
    # Run-level faults of the logging pipeline: duplicated and late events.
    fault_rng = run_fault_rng(config.seed)
    event_frames: list[pl.DataFrame] = []
    for done, day in enumerate(days, start=1):
        rng = day_rng(config.seed, TRAFFIC_STREAM, day)
        views = draw_views(market, rng, day, user_rate=rate * DAY_OF_WEEK[day.weekday()])
        is_bot = views.user_idx >= n_real
        recs, p_tap, p_buy = serve_day(serving, arms, day, views, is_bot)
        events, _ = module_events(
            market,
            rng,
            day,
            views,
            recs,
            id_prefix=prefix.removesuffix("-"),
            probabilities=(p_tap, p_buy),
            view_ids=True,
        )
        event_frames.append(inject_event_faults(events, config, fault_rng))
        if progress:
            progress(done, len(days))
    return pl.concat(event_frames)


def serve_day(
    serving: Serving, arms: Sequence[Arm], day: dt.date, views: Views, is_bot: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The module of every view of ``day`` (item per slot, -1 for none) with its tap and
    buy probabilities: the default module outside every running experiment, the
    variant's inside one."""
    running = [a for a in arms if a.running(day)]
    # Views of users in no running experiment get the default module, the
    # first variant's, without novelty; the others their variant's (serve).
    default = np.ones(len(views), dtype=bool)
    for a in running:
        default &= a.variant_of_user[views.user_idx] < 0
    shape = (len(views), serving.width)
    recs = np.full(shape, -1, dtype=np.int64)
    p_tap, p_buy = np.zeros(shape), np.zeros(shape)
    encoder, k = arms[0].default
    outside = views.take(default)
    d_recs = serving.recs(encoder, outside.source_idx, k)
    recs[default] = d_recs
    p_tap[default], p_buy[default] = serving.probabilities(
        outside, d_recs, is_bot[default], novelty=False, day_index=0
    )
    for a in running:
        serve(serving, a, day, views, is_bot, recs, p_tap, p_buy)
    return recs, p_tap, p_buy


def serve(
    serving: Serving,
    arm: Arm,
    day: dt.date,
    views: Views,
    is_bot: np.ndarray,
    recs: np.ndarray,
    p_tap: np.ndarray,
    p_buy: np.ndarray,
) -> None:
    """Serve ``arm``'s variants to the views of its users on one of its days (in place),
    and collect its exposures and truth."""
    d = arm.day_index(day)
    variant = arm.variant_of_user[views.user_idx]  # -1: not in the experiment
    rows = np.flatnonzero(variant >= 0)
    mine = views.take(rows)
    # Truth: every exposed user's views under every variant (a lost exposure log does
    # not change what the user experienced); forced QA users are served, not counted.
    in_exp = arm.exposable[mine.user_idx]
    arm.exposed_ever[mine.user_idx[in_exp]] = True
    for v in range(len(arm.spec.variants)):
        v_recs = serving.recs(arm.encoders[v], mine.source_idx, arm.ks[v])
        v_tap, v_buy = serving.probabilities(
            mine,
            v_recs,
            is_bot[rows],
            novelty=arm.encoders[v] != arm.encoders[0],
            day_index=d,
        )
        # The module fails on a share of views (drawn over all the day's views).
        fail_modules(arm.fault_rng, arm.failures.get(v, 0.0), len(views), rows, v_recs, v_tap)
        served = variant[rows] == v
        at = rows[served]
        recs[at], p_tap[at], p_buy[at] = v_recs[served], v_tap[served], v_buy[served]
        _add_truth(arm.truths[v], serving.market, mine, in_exp, v_recs, v_tap, v_buy)
    exposed_view = np.zeros(len(views), dtype=bool)
    exposed_view[rows] = in_exp & ~arm.drops_exposure[mine.user_idx]
    arm.exposure_frames.append(
        first_exposures(arm.spec, serving.market, day, views, variant, exposed_view)
    )


def _add_truth(
    truth: TruthAccumulator,
    market: Marketplace,
    views: Views,
    in_exp: np.ndarray,
    recs: np.ndarray,
    p_tap: np.ndarray,
    p_buy: np.ndarray,
) -> None:
    """Add one variant's module on the views of exposed users (``in_exp``) to its truth."""
    shown = recs[in_exp] >= 0
    truth.add(
        views.user_idx[in_exp],
        np.where(shown, p_tap[in_exp], 0.0),
        p_buy[in_exp],
        market.price[np.where(shown, recs[in_exp], 0)],
        shown,
        market.params.organic_purchase,
        market.price[views.source_idx[in_exp]],
    )


def first_exposures(
    spec: ExperimentSpec,
    market: Marketplace,
    day: dt.date,
    views: Views,
    variant: np.ndarray,
    exposed: np.ndarray,
) -> pl.DataFrame:
    """One exposure per user and day: at their first view of the day."""
    rows = np.flatnonzero(exposed)
    users = views.user_idx[rows]
    _, first = np.unique(users, return_index=True)  # views are sorted by time
    rows = rows[first]
    base = np.datetime64(dt.datetime.combine(day, dt.time()), "s")
    return pl.DataFrame(
        {
            "experiment": pl.repeat(spec.key, len(rows), eager=True),
            "variant": np.asarray(spec.variant_names, dtype=object)[variant[rows]].astype(str),
            "user_id": market.user_ids[views.user_idx[rows]],
            "ts": (base + views.seconds[rows].astype("timedelta64[s]")).astype("datetime64[us]"),
        }
    )
