"""Simulated traffic of an experiment on the marketplace.

Users arrive with day-of-week seasonality and their own activity, view items,
are bucketed by the real assignment code, are served the "similar looks"
module from their variant's ``neighbors``, and the behaviour model turns that
into impression, tap and purchase events (with revenue). Users outside the
experiment (coverage, targeting, namespace) get the default experience: the
first variant's encoder.

Besides the events and exposures, the simulator records in
``truth_experiments`` what each variant would have earned, in expectation, if
every exposed user had been served it: expected taps per impression, taps,
purchases and revenue per user, and the probability of buying at least once.
These come from the behaviour model's probabilities on the realised views,
never from the observed events, and the simulator never knows which encoder is
"better": lifts emerge from the recommendations themselves.

Options for testing the analysis: a novelty effect that decays, bot users
with extreme activity, a pre-period before the start (for CUPED), fault
injection (a variant that loses a share of its exposures, duplicated events,
late events), and an A/A mode that serves the same encoder in every arm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from abtest.assignment import Assigner
from abtest.schema import USERS
from abtest.simulate.marketplace import Marketplace
from abtest.simulate.sessions import (
    DAY_OF_WEEK,
    VIEWS_PER_ACTIVITY,
    Views,
    day_rng,
    draw_views,
    module_events,
    neighbor_matrix,
)
from abtest.simulate.world import WorldError
from abtest.spec import ExperimentSpec
from abtest.store import Batch, Store

TRAFFIC_STREAM = 21
PRE_PERIOD_STREAM = 22
FAULT_STREAM = 23
DEFAULT_K = 5
TRUTH_TABLE = "truth_experiments"


class SimulationError(WorldError):
    """Settings or data that an experiment cannot be simulated with."""


@dataclass(frozen=True)
class TrafficConfig:
    """How much traffic, for how long, and which realism or faults to add."""

    days: int | None = None
    """Days of the experiment; default: the spec's schedule."""
    users: int | None = None
    """Simulate only the first ``users`` users of the world; default: all."""
    seed: int = 0
    traffic: float = 1.0
    """Multiplies every user's views per day."""
    pre_days: int | None = None
    """Days before the start with the default experience (for CUPED); default: the
    spec's ``cuped_pre_period_days``."""
    novelty: float = 0.0
    """Extra relative tap probability, on day one, for arms whose encoder differs from
    the first variant's; it halves every ``novelty_half_life`` days."""
    novelty_half_life: float = 3.0
    bots: int = 0
    """Bot users added to the world: extreme activity, taps unrelated to relevance."""
    bot_views_per_day: float = 150.0
    bot_tap_rate: float = 0.3
    drop_exposures: Mapping[str, float] = field(default_factory=dict)
    """Variant name -> share of its users whose exposures are never logged."""
    module_failures: Mapping[str, float] = field(default_factory=dict)
    """Variant name -> share of its views where the module fails to render: the user
    is exposed but sees no recommendations (a real harm, which the truth includes)."""
    duplicate_events: float = 0.0
    """Share of events delivered twice (same event_id; the store keeps one)."""
    late_events: float = 0.0
    """Share of taps and purchases logged late (receipt time instead of event time)."""
    late_days: float = 2.0
    aa: bool = False
    """Serve the first variant's encoder in every arm (an A/A test)."""

    def validate(self) -> None:
        def fraction(name: str, value: float) -> None:
            if not 0.0 <= value <= 1.0:
                raise SimulationError(f"{name} must be between 0 and 1 (got {value})")

        if self.days is not None and self.days < 1:
            raise SimulationError(f"--days must be at least 1 (got {self.days})")
        if self.users is not None and self.users < 1:
            raise SimulationError(f"--users must be at least 1 (got {self.users})")
        if self.pre_days is not None and self.pre_days < 0:
            raise SimulationError(f"--pre-days must be 0 or more (got {self.pre_days})")
        if self.traffic <= 0:
            raise SimulationError(f"--traffic must be positive (got {self.traffic})")
        if self.bots < 0:
            raise SimulationError(f"--bots must be 0 or more (got {self.bots})")
        if self.novelty < 0 or self.novelty_half_life <= 0:
            raise SimulationError("novelty must be >= 0 and its half-life positive")
        fraction("--duplicate-events", self.duplicate_events)
        fraction("--late-events", self.late_events)
        fraction("bot tap rate", self.bot_tap_rate)
        for variant, share in self.drop_exposures.items():
            fraction(f"--drop-exposures for {variant}", share)
        for variant, share in self.module_failures.items():
            fraction(f"--module-failures for {variant}", share)


@dataclass(frozen=True)
class VariantTruth:
    """What a variant earns in expectation if every exposed user gets it."""

    variant: str
    encoder: str
    exposed_users: int
    tap_rate: float
    taps_per_user: float
    purchases_per_user: float
    revenue_per_user: float
    purchase_conversion: float


@dataclass(frozen=True)
class TrafficSummary:
    """What ``simulate_traffic`` wrote."""

    experiment: str
    start: dt.datetime
    end: dt.datetime
    pre_days: int
    users: int
    exposed: dict[str, int]
    events_written: int
    duplicates_skipped: int
    exposures_written: int
    truth: tuple[VariantTruth, ...]
    seconds: float

    def true_lift(self, metric: str, variant: str) -> float:
        """Relative lift of ``variant`` over the first variant in the truth."""
        by = {t.variant: getattr(t, metric) for t in self.truth}
        control = by[self.truth[0].variant]
        return by[variant] / control - 1 if control else math.nan


@dataclass
class _TruthAccumulator:
    """Per-user expected outcomes under one variant, summed over the user's views."""

    n_users: int
    taps: np.ndarray = field(init=False)
    impressions: np.ndarray = field(init=False)
    purchases: np.ndarray = field(init=False)
    revenue: np.ndarray = field(init=False)
    log_no_purchase: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for name in ("taps", "impressions", "purchases", "revenue", "log_no_purchase"):
            setattr(self, name, np.zeros(self.n_users))

    def add(
        self,
        users: np.ndarray,
        p_tap: np.ndarray,
        p_buy: np.ndarray,
        price: np.ndarray,
        shown: np.ndarray,
        organic: float,
        source_price: np.ndarray,
    ) -> None:
        p_purchase = p_tap * p_buy
        n = self.n_users
        self.taps += np.bincount(users, p_tap.sum(axis=1), n)
        self.impressions += np.bincount(users, shown.sum(axis=1), n)
        self.purchases += np.bincount(users, p_purchase.sum(axis=1) + organic, n)
        self.revenue += np.bincount(
            users, (p_purchase * price).sum(axis=1) + organic * source_price, n
        )
        log_none = np.log1p(-np.minimum(p_purchase, 1 - 1e-12)).sum(axis=1) + math.log1p(-organic)
        self.log_no_purchase += np.bincount(users, log_none, n)

    def summarise(self, variant: str, encoder: str, exposed: np.ndarray) -> VariantTruth:
        n = int(exposed.sum())
        if n == 0:
            return VariantTruth(variant, encoder, 0, *(math.nan,) * 5)
        imps = self.impressions[exposed].sum()
        return VariantTruth(
            variant=variant,
            encoder=encoder,
            exposed_users=n,
            tap_rate=float(self.taps[exposed].sum() / imps) if imps else math.nan,
            taps_per_user=float(self.taps[exposed].mean()),
            purchases_per_user=float(self.purchases[exposed].mean()),
            revenue_per_user=float(self.revenue[exposed].mean()),
            purchase_conversion=float((1 - np.exp(self.log_no_purchase[exposed])).mean()),
        )


def _with_bots(market: Marketplace, config: TrafficConfig) -> Marketplace:
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


def _subset_users(market: Marketplace, n: int | None) -> Marketplace:
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


def _serving_plan(
    spec: ExperimentSpec, store: Store, market: Marketplace, aa: bool
) -> tuple[list[str], list[int], dict[str, np.ndarray]]:
    """Encoder and k per variant, and each encoder's neighbor matrix."""
    encoders, ks = [], []
    for v in spec.variants:
        if v.encoder is None:
            raise SimulationError(
                f"variant {v.name!r} of {spec.key!r} serves no encoder; add 'encoder:' to it"
            )
        encoders.append(spec.variants[0].encoder if aa else v.encoder)
        k = v.params.get("k", DEFAULT_K)
        ks.append(int(k))  # type: ignore[arg-type]
    matrices = {}
    for enc in dict.fromkeys(encoders):
        k_max = max(k for e, k in zip(encoders, ks, strict=True) if e == enc)
        try:
            matrices[enc] = neighbor_matrix(store, market, enc, k_max)
        except KeyError as exc:
            raise SimulationError(f"{exc.args[0]}; run 'looklift neighbors' for it first") from None
    return encoders, ks, matrices


def _recs(matrix: np.ndarray, source_idx: np.ndarray, k: int, width: int) -> np.ndarray:
    out = np.full((len(source_idx), width), -1, dtype=np.int64)
    out[:, :k] = matrix[source_idx, :k]
    return out


def simulate_traffic(
    db: str | Store,
    spec: ExperimentSpec,
    config: TrafficConfig | None = None,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TrafficSummary:
    """Run ``spec`` on the marketplace in ``db``; write events, exposures and truth."""
    config = config or TrafficConfig()
    config.validate()
    started = time.perf_counter()
    if spec.schedule is None:
        raise SimulationError(f"{spec.key!r} has no schedule; add schedule: {{start:, end:}}")
    if spec.unit != "user_id":
        raise SimulationError(f"the simulator hashes user_id; {spec.key!r} uses unit {spec.unit!r}")
    for option, shares in (
        ("--drop-exposures", config.drop_exposures),
        ("--module-failures", config.module_failures),
    ):
        unknown = set(shares) - set(spec.variant_names)
        if unknown:
            raise SimulationError(
                f"{option} names unknown variant(s): {', '.join(sorted(unknown))} "
                f"(the spec's variants: {', '.join(spec.variant_names)})"
            )
    start = spec.schedule.start
    days = config.days or max(1, math.ceil(spec.schedule.days))
    end = start + dt.timedelta(days=days)
    pre_days = (
        config.pre_days if config.pre_days is not None else spec.analysis.cuped_pre_period_days
    )

    store = db if isinstance(db, Store) else Store(db)
    try:
        existing = store.count("exposures", "experiment = ?", [spec.key])
        if existing and not replace:
            raise SimulationError(
                f"{spec.key!r} was already simulated ({existing:,} exposures); "
                "pass --replace to simulate it again"
            )
        world = Marketplace.from_store(store)
        market = _with_bots(_subset_users(world, config.users), config)
        n_real = market.n_users - config.bots
        encoders, ks, matrices = _serving_plan(spec, store, market, config.aa)
        width = max(ks)
        control_encoder = encoders[0]

        users = store.query("SELECT * FROM users ORDER BY user_id").head(n_real)
        bots = pl.DataFrame(
            {
                "user_id": market.user_ids[n_real:].tolist(),
                "platform": ["web"] * config.bots,
                "country": ["US"] * config.bots,
                "is_new": [False] * config.bots,
                "first_seen_at": [start - dt.timedelta(days=30)] * config.bots,
            },
            schema={c: users.schema[c] for c in USERS.column_names},
        )
        # Users may carry a team's own columns (app_version...) that targeting reads;
        # bots have none of them (null there).
        all_users = pl.concat([users, bots], how="diagonal")
        assignment = Assigner(spec).assign_frame(all_users)
        variant_of_user = np.asarray(assignment.variant_index)
        # Forced QA users are served their variant but are not exposures.
        exposable = np.asarray(assignment.exposed)

        fault_rng = np.random.default_rng([config.seed, FAULT_STREAM])
        drops_exposure = np.zeros(market.n_users, dtype=bool)
        for name, share in config.drop_exposures.items():
            in_v = variant_of_user == spec.variant_names.index(name)
            drops_exposure |= in_v & (fault_rng.random(market.n_users) < share)

        rate = np.concatenate(
            [
                market.activity[:n_real] * VIEWS_PER_ACTIVITY * config.traffic,
                np.full(config.bots, config.bot_views_per_day),
            ]
        )
        truths = [_TruthAccumulator(market.n_users) for _ in spec.variants]
        exposed_ever = np.zeros(market.n_users, dtype=bool)
        event_frames: list[pl.DataFrame] = []
        exposure_frames: list[pl.DataFrame] = []
        total_days = pre_days + days

        for d in range(-pre_days, days):
            day = (start + dt.timedelta(days=d)).date()
            in_experiment = d >= 0
            rng = day_rng(config.seed, TRAFFIC_STREAM if in_experiment else PRE_PERIOD_STREAM, day)
            views = draw_views(market, rng, day, user_rate=rate * DAY_OF_WEEK[day.weekday()])
            variant = variant_of_user[views.user_idx] if in_experiment else np.full(len(views), -1)
            is_bot = views.user_idx >= n_real
            p_tap = np.zeros((len(views), width))
            p_buy = np.zeros((len(views), width))
            recs = np.full((len(views), width), -1, dtype=np.int64)
            per_variant = []
            for v in range(len(spec.variants)):
                v_recs = _recs(matrices[encoders[v]], views.source_idx, ks[v], width)
                v_tap, v_buy = _probabilities(
                    market,
                    views,
                    v_recs,
                    is_bot,
                    config,
                    novelty=encoders[v] != control_encoder,
                    day_index=d,
                )
                failure = config.module_failures.get(spec.variant_names[v], 0.0)
                if in_experiment and failure > 0:  # the module fails on a share of views
                    fails = fault_rng.random(len(views)) < failure
                    v_recs[fails], v_tap[fails] = -1, 0.0
                per_variant.append((v_recs, v_tap, v_buy))
                serve = variant == v
                recs[serve], p_tap[serve], p_buy[serve] = v_recs[serve], v_tap[serve], v_buy[serve]
            # Outside the experiment (or before it): the default module, the first
            # variant's encoder without any novelty.
            default = variant < 0
            d_recs, d_tap, d_buy = per_variant[0]
            recs[default], p_tap[default], p_buy[default] = (
                d_recs[default],
                d_tap[default],
                d_buy[default],
            )

            prefix = f"x-{spec.key}" if in_experiment else f"p-{spec.key}"
            events, _ = module_events(
                market,
                rng,
                day,
                views,
                recs,
                id_prefix=prefix,
                probabilities=(p_tap, p_buy),
            )
            event_frames.append(_inject_event_faults(events, config, fault_rng))

            if in_experiment:
                exposed_view = (
                    (variant >= 0) & exposable[views.user_idx] & ~drops_exposure[views.user_idx]
                )
                exposure_frames.append(
                    _first_exposures(spec, market, day, views, variant, exposed_view)
                )
                # Truth: every exposed user's views under every variant, drops included
                # (a lost exposure log does not change what the user experienced).
                in_exp = (variant >= 0) & exposable[views.user_idx]
                exposed_ever[views.user_idx[in_exp]] = True
                organic = market.params.organic_purchase
                for v, (v_recs, v_tap, v_buy) in enumerate(per_variant):
                    shown = v_recs[in_exp] >= 0
                    truths[v].add(
                        views.user_idx[in_exp],
                        np.where(shown, v_tap[in_exp], 0.0),
                        v_buy[in_exp],
                        market.price[np.where(shown, v_recs[in_exp], 0)],
                        shown,
                        organic,
                        market.price[views.source_idx[in_exp]],
                    )
            if progress:
                progress(d + pre_days + 1, total_days)

        events = pl.concat(event_frames)
        exposures = pl.concat(exposure_frames)
        batches = [
            Batch(
                "events",
                events,
                f"simulated traffic of {spec.key}",
                replace_where="event_id LIKE ? OR event_id LIKE ?",
                replace_params=[f"x-{spec.key}-%", f"p-{spec.key}-%"],
            ),
            Batch(
                "exposures",
                exposures,
                f"exposures of {spec.key}",
                replace_where="experiment = ?",
                replace_params=[spec.key],
            ),
        ]
        if bots.height:
            batches.append(Batch("users", bots, "bot users"))
        reports = store.ingest_many(batches)
        truth = tuple(
            t.summarise(v.name, encoders[i], exposed_ever)
            for i, (t, v) in enumerate(zip(truths, spec.variants, strict=True))
        )
        _write_truth(store, spec.key, truth)
    finally:
        if not isinstance(db, Store):
            store.close()

    counts = np.bincount(
        variant_of_user[exposed_ever & ~drops_exposure], minlength=len(spec.variants)
    )
    return TrafficSummary(
        experiment=spec.key,
        start=start,
        end=end,
        pre_days=pre_days,
        users=market.n_users,
        exposed={v: int(c) for v, c in zip(spec.variant_names, counts, strict=True)},
        events_written=reports[0].inserted,
        duplicates_skipped=reports[0].duplicates_in_batch,
        exposures_written=reports[1].inserted,
        truth=truth,
        seconds=time.perf_counter() - started,
    )


def _probabilities(
    market: Marketplace,
    views: Views,
    recs: np.ndarray,
    is_bot: np.ndarray,
    config: TrafficConfig,
    *,
    novelty: bool,
    day_index: int,
) -> tuple[np.ndarray, np.ndarray]:
    shown = recs >= 0
    p_tap, p_buy = market.module_probabilities(
        views.user_idx, views.source_idx, np.where(shown, recs, 0)
    )
    if novelty and config.novelty > 0 and day_index >= 0:
        boost = 1 + config.novelty * 0.5 ** (day_index / config.novelty_half_life)
        p_tap = np.minimum(p_tap * boost, 1.0)
    p_tap = np.where(is_bot[:, None], config.bot_tap_rate, p_tap)
    p_buy = np.where(is_bot[:, None], 0.0, p_buy)
    return np.where(shown, p_tap, 0.0), p_buy


def _first_exposures(
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


def _inject_event_faults(
    events: pl.DataFrame, config: TrafficConfig, rng: np.random.Generator
) -> pl.DataFrame:
    if config.late_events > 0:
        late = (events["event_type"] != "impression").to_numpy() & (
            rng.random(events.height) < config.late_events
        )
        delay = (rng.random(events.height) * config.late_days * 86_400_000_000).astype(np.int64)
        events = events.with_columns(
            ts=pl.when(pl.Series(late))
            .then(pl.col("ts") + pl.duration(microseconds=pl.Series(delay)))
            .otherwise(pl.col("ts"))
        )
    if config.duplicate_events > 0:
        dupes = events.filter(pl.Series(rng.random(events.height) < config.duplicate_events))
        events = pl.concat([events, dupes])
    return events


def _write_truth(store: Store, experiment: str, truth: tuple[VariantTruth, ...]) -> None:
    frame = pl.DataFrame([dataclasses.asdict(t) for t in truth]).with_columns(
        experiment=pl.lit(experiment)
    )
    store.con.register("__truth", frame)
    try:
        with store.transaction():
            store.con.execute(
                f"CREATE TABLE IF NOT EXISTS {TRUTH_TABLE} AS SELECT * FROM __truth LIMIT 0"
            )
            store.con.execute(f"DELETE FROM {TRUTH_TABLE} WHERE experiment = ?", [experiment])
            store.con.execute(f"INSERT INTO {TRUTH_TABLE} BY NAME SELECT * FROM __truth")
    finally:
        store.con.unregister("__truth")
