"""Simulated traffic of experiments on the marketplace.

Users arrive with day-of-week seasonality and their own activity, view items,
are bucketed by the real assignment code, are served the "similar looks"
module from their variant's ``neighbors``, and the behaviour model turns that
into impression, tap and purchase events (with revenue). Users outside every
experiment (coverage, targeting, namespace, holdout) get the default
experience: the first variant's encoder and ``k``.

**One stream of traffic.** The marketplace has one stream of traffic, whatever
the experiments: experiments that run at the same time are simulated together
(:func:`simulate_experiments`, ``looklift simulate A.yaml B.yaml``), users once,
each user seeing the variant of whichever experiment holds them that day. A
day's views come from one random stream of (seed, day), the same for the
pre-period and the experiment, so that an experiment simulated together with
others gets exactly the views, exposures and events it gets alone (see
:func:`simulate_experiments` for the precise statement). Two experiments that
could hold the same user on overlapping dates would both change the one module,
which a user sees once: they are refused unless they own disjoint ranges of one
namespace; and their first variants must serve the same default module.

**Nothing stored is lost.** Every run is recorded in ``simulation_runs`` (its
number, experiments, dates, seed, settings, counts and the exact event-id prefix
it used, ``sim-{run}-``). A run that would put traffic on dates that already
hold events it does not replace is refused, naming them; ``replace`` replaces
exactly the earlier run(s) of the same experiments, deleting events by their
recorded prefix (an exact prefix, never a ``LIKE`` pattern), and refuses to
replace part of a joint run. The run's events, exposures, truth and record are
written in one transaction.

Besides the events and exposures, the simulator records in
``truth_experiments`` what each variant would have earned, in expectation, if
every exposed user had been served it: expected taps per impression, taps,
purchases and revenue per user, and the probability of buying at least once.
These come from the behaviour model's probabilities on the realised views,
never from the observed events, and the simulator never knows which encoder is
"better": lifts emerge from the recommendations themselves.

Options for testing the analysis: a novelty effect that decays, bot users
with extreme activity, a pre-period before the start (for CUPED), fault
injection (a variant that loses a share of its exposures or whose module fails
to render, duplicated events, late events), and an A/A mode that serves the
same encoder in every arm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from abtest.assignment import Assigner
from abtest.schema import EVENTS, EXPOSURES, USERS
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
from abtest.store import Store

TRAFFIC_STREAM = 21
"""The random stream of a day's traffic: the same for pre-period and experiment days, and
whatever experiments run, so that a day's views never depend on what is simulated."""
FAULT_STREAM = 23
DEFAULT_K = 5
TRUTH_TABLE = "truth_experiments"
RUNS_TABLE = "simulation_runs"
"""One row per experiment of every simulation run: what the run wrote, and how to find it."""
RUN_ID_PREFIX = "sim"
"""Event ids of run N start with ``sim-N-`` (then the day and a counter)."""
TRAFFIC_VERSION = 2
"""Changes whenever the same settings give different traffic; the demo's stage
fingerprint includes it, so that a demo database is simulated again. Version 2: one
random stream per day (pre-period included), faults drawn per experiment, event ids
recorded per run."""
LEGACY_EVENT_ID = "[xp]-{key}-[0-9]{{8}}-[0-9]+"
"""The event ids version 1 wrote for experiment ``key`` (``x-`` during it, ``p-``
before), matched in full: the events of ``exp-v2`` never match those of ``exp``."""


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
    """Variant name -> share of its users whose exposures are never logged. With several
    experiments, ``KEY:VARIANT`` names the experiment too (a bare name must be a variant
    of one experiment only). Drawn per experiment, so the same users lose their
    exposures whether the experiment is simulated alone or with others."""
    module_failures: Mapping[str, float] = field(default_factory=dict)
    """Variant name (or ``KEY:VARIANT``) -> share of its views where the module fails to
    render: the user is exposed but sees no recommendations (a real harm, which the
    truth includes)."""
    duplicate_events: float = 0.0
    """Share of events delivered twice (same event_id; the store keeps one)."""
    late_events: float = 0.0
    """Share of taps and purchases logged late (receipt time instead of event time). Drawn
    over the day's events of the whole run, so which events are late depends on the
    other experiments simulated with it."""
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
    """What a simulation wrote for one experiment.

    Experiments simulated together share one stream of traffic: ``events_written``
    and ``duplicates_skipped`` count the whole run's events, ``exposures_written``
    this experiment's exposures.
    """

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
    run_id: int = 0
    """The run that wrote this traffic (a row of ``simulation_runs`` per experiment)."""
    simulated_with: tuple[str, ...] = ()
    """The other experiments of the run, which share its events."""

    def true_lift(self, metric: str, variant: str) -> float:
        """Relative lift of ``variant`` over the first variant in the truth."""
        by = {t.variant: getattr(t, metric) for t in self.truth}
        control = by[self.truth[0].variant]
        return by[variant] / control - 1 if control else math.nan


@dataclass(frozen=True)
class RunSummary:
    """What :func:`simulate_experiments` wrote: one run, one stream of events."""

    run_id: int
    event_prefix: str
    """Every event of the run, and no other, has an id that starts with this."""
    first_day: dt.date
    end_day: dt.date
    """The day after the last simulated day."""
    experiments: tuple[TrafficSummary, ...]
    events_written: int
    duplicates_skipped: int
    replaced: tuple[str, ...]
    """The earlier runs this one replaced, e.g. ``the earlier run 1 ('similar-looks')``."""
    seconds: float


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


@dataclass
class _Arm:
    """One experiment of a run: its dates, what it serves, its faults, what it collects."""

    spec: ExperimentSpec
    days: int
    pre_days: int
    encoders: list[str]
    ks: list[int]
    drop: dict[int, float]
    """Variant index -> share of its users whose exposures are lost."""
    failures: dict[int, float]
    """Variant index -> share of its views where the module fails."""
    variant_of_user: np.ndarray = field(init=False, repr=False)
    exposable: np.ndarray = field(init=False, repr=False)
    drops_exposure: np.ndarray = field(init=False, repr=False)
    fault_rng: np.random.Generator = field(init=False, repr=False)
    truths: list[_TruthAccumulator] = field(init=False, repr=False)
    exposed_ever: np.ndarray = field(init=False, repr=False)
    exposure_frames: list[pl.DataFrame] = field(default_factory=list, repr=False)

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def start(self) -> dt.datetime:
        assert self.spec.schedule is not None
        return self.spec.schedule.start

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(days=self.days)

    @property
    def first_day(self) -> dt.date:
        """The first simulated day: the start of the pre-period."""
        return self.start.date() - dt.timedelta(days=self.pre_days)

    @property
    def end_day(self) -> dt.date:
        """The day after the last day of the experiment."""
        return self.start.date() + dt.timedelta(days=self.days)

    @property
    def default(self) -> tuple[str, int]:
        """The module of the first variant: what users outside every experiment see."""
        return self.encoders[0], self.ks[0]

    def day_index(self, day: dt.date) -> int:
        return (day - self.start.date()).days

    def running(self, day: dt.date) -> bool:
        return 0 <= self.day_index(day) < self.days

    def overlaps(self, other: _Arm) -> bool:
        """Whether the two simulate a day in common (pre-periods included)."""
        return self.first_day < other.end_day and other.first_day < self.end_day

    def assign(self, users: pl.DataFrame, seed: int) -> None:
        """Bucket every user with the real assignment code; draw the exposure faults.

        Fault draws come from the experiment's own stream (seed and key), so that
        they are the same whether it is simulated alone or with others.
        """
        assignment = Assigner(self.spec).assign_frame(users)
        self.variant_of_user = np.asarray(assignment.variant_index)
        # Forced QA users are served their variant but are not exposures.
        self.exposable = np.asarray(assignment.exposed)
        n = len(self.variant_of_user)
        key_seed = int.from_bytes(hashlib.sha256(self.key.encode()).digest()[:8], "big")
        self.fault_rng = np.random.default_rng([seed, FAULT_STREAM, key_seed])
        self.drops_exposure = np.zeros(n, dtype=bool)
        for v, share in self.drop.items():
            in_v = self.variant_of_user == v
            self.drops_exposure |= in_v & (self.fault_rng.random(n) < share)
        self.truths = [_TruthAccumulator(n) for _ in self.spec.variants]
        self.exposed_ever = np.zeros(n, dtype=bool)


def _arms(specs: Sequence[ExperimentSpec], config: TrafficConfig) -> list[_Arm]:
    """Each experiment's dates, encoders, ``k`` and faults; one-line errors otherwise."""
    drops = _fault_shares(specs, config.drop_exposures, "--drop-exposures")
    failures = _fault_shares(specs, config.module_failures, "--module-failures")
    arms = []
    for spec, drop, failure in zip(specs, drops, failures, strict=True):
        if spec.schedule is None:
            raise SimulationError(f"{spec.key!r} has no schedule; add schedule: {{start:, end:}}")
        if spec.unit != "user_id":
            raise SimulationError(
                f"the simulator hashes user_id; {spec.key!r} uses unit {spec.unit!r}"
            )
        encoders, ks = [], []
        for v in spec.variants:
            if v.encoder is None:
                raise SimulationError(
                    f"variant {v.name!r} of {spec.key!r} serves no encoder; add 'encoder:' to it"
                )
            encoders.append(spec.variants[0].encoder if config.aa else v.encoder)
            ks.append(int(v.params.get("k", DEFAULT_K)))  # type: ignore[arg-type]
        arms.append(
            _Arm(
                spec=spec,
                days=config.days or max(1, math.ceil(spec.schedule.days)),
                pre_days=(
                    config.pre_days
                    if config.pre_days is not None
                    else spec.analysis.cuped_pre_period_days
                ),
                encoders=encoders,  # type: ignore[arg-type]
                ks=ks,
                drop=drop,
                failures=failure,
            )
        )
    return arms


def _fault_shares(
    specs: Sequence[ExperimentSpec], shares: Mapping[str, float], option: str
) -> list[dict[int, float]]:
    """Per experiment, variant index -> share, from names ``VARIANT`` or ``KEY:VARIANT``
    (in the order given, which is the order the faults are drawn in)."""
    out: list[dict[int, float]] = [{} for _ in specs]
    keys = [s.key for s in specs]
    for name, share in shares.items():
        key, colon, variant = name.rpartition(":")
        if colon and key not in keys:
            raise SimulationError(
                f"{option} {name}={share:g}: {key!r} is not an experiment of this simulation "
                f"({', '.join(keys)})"
            )
        holders = [
            i
            for i, s in enumerate(specs)
            if variant in s.variant_names and (not colon or s.key == key)
        ]
        if not holders:
            known = "; ".join(f"{s.key}: {', '.join(s.variant_names)}" for s in specs)
            if len(specs) == 1:
                known = f"the spec's variants: {', '.join(specs[0].variant_names)}"
            raise SimulationError(f"{option} names unknown variant(s): {variant} ({known})")
        if len(holders) > 1:
            both = " and ".join(repr(keys[i]) for i in holders)
            raise SimulationError(
                f"{option} {name}={share:g}: {variant!r} is a variant of {both}; name the "
                f"experiment too, e.g. {keys[holders[0]]}:{variant}={share:g}"
            )
        i = holders[0]
        out[i][specs[i].variant_names.index(variant)] = share
    return out


def _check_together(arms: Sequence[_Arm]) -> None:
    """Refuse experiments that cannot share one stream of traffic, naming them.

    A user sees one "similar looks" module. Two experiments that could hold the
    same user on days they both simulate would both change it; only disjoint
    ranges of one namespace guarantee they never do. Users in no experiment see
    the default module, which is every experiment's control (first variant): so
    the first variants must serve the same encoder and ``k``. This is also what
    makes each experiment's traffic the same as when it is simulated alone.
    """
    seen: set[str] = set()
    for a in arms:
        if a.key in seen:
            raise SimulationError(f"{a.key!r} is given twice; simulate each experiment once")
        seen.add(a.key)
    first = arms[0]
    for a in arms[1:]:
        if a.default != first.default:
            raise SimulationError(
                f"{first.key!r} and {a.key!r} have different first variants "
                f"({first.default[0]} with k={first.default[1]}, {a.default[0]} with "
                f"k={a.default[1]}): users in no experiment see one default module, so "
                "experiments simulated together must have a first variant that serves it"
            )
    for j, b in enumerate(arms):
        for a in arms[:j]:
            why = _may_share_users(a.spec, b.spec)
            if why and a.overlaps(b):
                raise SimulationError(
                    f"{a.key!r} and {b.key!r} could hold the same users ({why}) on "
                    "overlapping dates, and a user sees one 'similar looks' module: give "
                    "them disjoint ranges of one namespace (e.g. namespace: {name: looks, "
                    "range: [0, 0.5]} and range: [0.5, 1]), or dates that do not overlap"
                )


def _may_share_users(a: ExperimentSpec, b: ExperimentSpec) -> str:
    """Why ``a`` and ``b`` could hold the same user ('' when they cannot)."""
    if a.namespace is None and b.namespace is None:
        return "neither has a namespace"
    if a.namespace is None or b.namespace is None:
        return f"{(a if a.namespace is None else b).key!r} has no namespace"
    if a.namespace.name != b.namespace.name:
        return f"namespaces {a.namespace.name!r} and {b.namespace.name!r} are hashed apart"
    if a.namespace.overlaps(b.namespace):
        ra, rb = a.namespace.range, b.namespace.range
        return (
            f"ranges [{ra[0]:g}, {ra[1]:g}) and [{rb[0]:g}, {rb[1]:g}) of namespace "
            f"{a.namespace.name!r} overlap"
        )
    return ""


def _check_assignments(arms: Sequence[_Arm], user_ids: np.ndarray) -> None:
    """No user in two experiments that share a day (a forced QA user ignores namespaces)."""
    for j, b in enumerate(arms):
        for a in arms[:j]:
            if not a.overlaps(b):
                continue
            both = np.flatnonzero((a.variant_of_user >= 0) & (b.variant_of_user >= 0))
            if len(both):
                user = str(user_ids[both[0]])
                forced = [x.key for x in (a, b) if user in x.spec.forced]
                how = f" (forced in {', '.join(map(repr, forced))})" if forced else ""
                raise SimulationError(
                    f"user {user!r} would be in both {a.key!r} and {b.key!r}{how}, and a "
                    "user sees one 'similar looks' module: keep each user in one experiment"
                )


@dataclass(frozen=True)
class _StoredRun:
    """Traffic an earlier run wrote, and the exact condition that finds its events."""

    run_id: int | None
    """``None`` for a simulation by version 1, which kept no record of its runs."""
    experiments: tuple[str, ...]
    owner_sql: str
    """A condition on ``event_id``, true for exactly the run's events."""
    owner_params: tuple[Any, ...]
    exposures: Mapping[str, int] | None
    """Exposures the run wrote per experiment (``None``: not recorded)."""

    @property
    def label(self) -> str:
        names = ", ".join(repr(k) for k in self.experiments)
        if self.run_id is None:
            return f"an earlier, unrecorded simulation of {names}"
        return f"the earlier run {self.run_id} ({names})"


def _stored_runs(store: Store) -> list[_StoredRun]:
    """Every earlier run: recorded ones, and those version 1 wrote (known by their truth)."""
    runs: list[_StoredRun] = []
    recorded: set[str] = set()
    if store.has_table(RUNS_TABLE):
        frame = store.query(
            f"SELECT run_id, experiment, event_prefix, exposures FROM {RUNS_TABLE} "
            "ORDER BY run_id, experiment"
        )
        for (run_id,), group in frame.group_by("run_id", maintain_order=True):
            prefix = str(group["event_prefix"][0])
            keys = tuple(str(k) for k in group["experiment"])
            runs.append(
                _StoredRun(
                    int(run_id),  # type: ignore[arg-type]
                    keys,
                    "substr(event_id, 1, ?) = ?",  # an exact prefix: no wildcard
                    (len(prefix), prefix),
                    dict(zip(keys, (int(n) for n in group["exposures"]), strict=True)),
                )
            )
            recorded.update(keys)
    if store.has_table(TRUTH_TABLE):
        legacy = store.query(f"SELECT DISTINCT experiment FROM {TRUTH_TABLE} ORDER BY 1")
        for key in legacy["experiment"]:
            if key is not None and key not in recorded:
                pattern = LEGACY_EVENT_ID.format(key=re.escape(str(key)))
                runs.append(
                    _StoredRun(
                        None, (str(key),), "regexp_full_match(event_id, ?)", (pattern,), None
                    )
                )
    return runs


def _holds_traffic(store: Store, run: _StoredRun) -> bool:
    """Whether any event or exposure the run wrote is still stored."""
    keys = list(run.experiments)
    in_keys = ", ".join("?" for _ in keys)
    return bool(
        store.count("events", run.owner_sql, list(run.owner_params))
        or store.count("exposures", f"experiment IN ({in_keys})", keys)
    )


def _plan(
    store: Store, arms: Sequence[_Arm], span: tuple[dt.datetime, dt.datetime], replace: bool
) -> tuple[list[_StoredRun], list[_StoredRun], int]:
    """Which earlier runs this one replaces, and its run number; refuse what would mix.

    Returns the runs it replaces that still hold traffic, the stale runs of its
    experiments (records whose events and exposures are all gone, e.g. deleted by
    hand: their records and truth are dropped silently, as nothing of them is left),
    and the new run's number. Raises :class:`SimulationError`, before anything is written, when
    the experiments were simulated already and ``replace`` is not set; when
    replacing would take part of a joint run (and the traffic of its other
    experiments) away; when an experiment has exposures that no simulation wrote;
    and when the run's dates hold events that it does not replace.
    """
    keys = {a.key for a in arms}
    order = [a.key for a in arms]
    stored = _stored_runs(store)
    mine = [r for r in stored if keys & set(r.experiments)]
    present = [r for r in mine if _holds_traffic(store, r)]
    stale = [r for r in mine if r not in present]
    for run in present:
        key = next(k for k in order if k in run.experiments)
        if not replace:
            n = store.count("exposures", "experiment = ?", [key])
            where = f", run {run.run_id}" if run.run_id is not None else ""
            raise SimulationError(
                f"{key!r} was already simulated ({n:,} exposures{where}); "
                "pass --replace to simulate it again"
            )
        others = [k for k in run.experiments if k not in keys]
        if others:
            names = " and ".join(repr(k) for k in others)
            raise SimulationError(
                f"{key!r} was simulated together with {names} in run {run.run_id}, and "
                f"they share its events: replacing {key!r} alone would delete the traffic "
                f"of {names}; simulate them together again, with every spec of that run "
                "and --replace"
            )
    owned = {k for r in mine for k in r.experiments}
    for a in arms:
        n = store.count("exposures", "experiment = ?", [a.key])
        if n and a.key not in owned:
            raise SimulationError(
                f"{a.key!r} already has {n:,} exposures that no simulation wrote (ingested, "
                "or recorded by 'looklift assign'); simulating it would mix simulated "
                "exposures with them: give it another key, or simulate into a copy"
            )
        wrote = next((r.exposures for r in mine if a.key in r.experiments), None)
        if wrote is not None and n > wrote.get(a.key, 0):
            raise SimulationError(
                f"{a.key!r} has {n - wrote.get(a.key, 0):,} more exposures than its "
                "simulation wrote (added since); replacing it would delete them: give it "
                "another key, or simulate into a copy of the database"
            )
    start, end = span
    dates = f"{start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d}"
    ours = " OR ".join(f"({r.owner_sql})" for r in present) or "FALSE"
    ours_params = [p for r in present for p in r.owner_params]
    window = "ts >= ? AND ts < ?"
    if store.count("events", f"{window} AND NOT ({ours})", [start, end, *ours_params]):
        for run in stored:
            if run in mine:
                continue
            if store.count(
                "events", f"{window} AND ({run.owner_sql})", [start, end, *run.owner_params]
            ):
                names = " and ".join(repr(k) for k in run.experiments)
                raise SimulationError(
                    f"the dates {dates} already hold the traffic simulated for {names}"
                    + (f" (run {run.run_id})" if run.run_id is not None else "")
                    + ": experiments on the same dates share one stream of traffic, so "
                    f"simulate {' and '.join(repr(k) for k in order)} together with {names} "
                    "(looklift simulate A.yaml B.yaml, with --replace), or give them other dates"
                )
        n = store.count("events", f"{window} AND NOT ({ours})", [start, end, *ours_params])
        raise SimulationError(
            f"{n:,} events from {dates} were not written by a looklift simulation; "
            "simulating these dates would add a second stream of traffic to them: give the "
            "experiment other dates, or simulate into a copy of the database"
        )
    # A run that replaces one recorded run keeps its number, so that its events keep
    # their ids; otherwise it takes the next number.
    earlier = {r.run_id for r in mine if r.run_id is not None}
    if len(earlier) == 1:
        return present, stale, earlier.pop()
    run_id = max((r.run_id for r in stored if r.run_id is not None), default=0) + 1
    while store.count("events", "substr(event_id, 1, ?) = ?", _prefix_params(run_id)):
        run_id += 1  # an id someone ingested that looks like ours: never mix with it
    return present, stale, run_id


def _prefix(run_id: int) -> str:
    return f"{RUN_ID_PREFIX}-{run_id}-"


def _prefix_params(run_id: int) -> list[Any]:
    return [len(_prefix(run_id)), _prefix(run_id)]


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
    """Run ``spec`` on the marketplace in ``db``; write events, exposures and truth.

    One experiment on its own stream of traffic: :func:`simulate_experiments`
    with one spec (its rules on overlapping and replaced traffic apply).
    """
    run = simulate_experiments(db, [spec], config, replace=replace, progress=progress)
    return run.experiments[0]


def simulate_experiments(
    db: str | Store,
    specs: Sequence[ExperimentSpec],
    config: TrafficConfig | None = None,
    *,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Run ``specs`` together on one stream of traffic in ``db``, as one recorded run.

    Users are simulated once: each day, each user's views are served the variant
    of the experiment that holds them that day (namespaces, targeting, coverage
    and holdouts as assigned), and the default module (the first variant's)
    otherwise, before and after their experiment included.

    Each experiment gets exactly the views, assignment, exposures and truth it
    gets when simulated alone with the same settings; and its users' events are
    the same too (except for their ids, which name the run), because a day's
    random stream depends on the seed and the day only, fault draws come from
    each experiment's own stream, and its users are served the same modules.
    Two exceptions, where the draws are shared by every view of a day: the tap
    and purchase draws of a view are laid out by the run's widest module (the
    largest ``k`` of all experiments), so an experiment simulated with one that
    shows more items than its own widest variant gets the same impressions but
    other taps and purchases (from the same probabilities); and which events
    ``late_events`` delays is drawn over all the day's events.

    Refused (:class:`SimulationError`, nothing written): experiments that could
    hold the same user on a day they both simulate, or whose first variants
    differ (:func:`_check_together`); dates that already hold events this run
    does not replace; experiments simulated before, unless ``replace``; and
    replacing some experiments of a joint run but not the others. With
    ``replace``, the earlier runs of these experiments are replaced: their events
    (found by their recorded prefix), exposures, truth and records, in the same
    transaction that writes the new run.
    """
    config = config or TrafficConfig()
    config.validate()
    started = time.perf_counter()
    if not specs:
        raise SimulationError("give at least one experiment to simulate")
    arms = _arms(specs, config)
    _check_together(arms)
    days = sorted(
        {
            a.first_day + dt.timedelta(days=i)
            for a in arms
            for i in range((a.end_day - a.first_day).days)
        }
    )
    first_day, end_day = days[0], days[-1] + dt.timedelta(days=1)
    late = math.ceil(config.late_days) if config.late_events > 0 else 0
    span = (
        dt.datetime.combine(first_day, dt.time()),
        dt.datetime.combine(end_day, dt.time()) + dt.timedelta(days=late),
    )

    store = db if isinstance(db, Store) else Store(db)
    try:
        replaced, stale, run_id = _plan(store, arms, span, replace)
        prefix = _prefix(run_id)
        world = Marketplace.from_store(store)
        market = _with_bots(_subset_users(world, config.users), config)
        n_real = market.n_users - config.bots
        all_users, bots = _user_frames(store, market, n_real, min(a.start for a in arms))
        for a in arms:
            a.assign(all_users, config.seed)
        _check_assignments(arms, market.user_ids)
        matrices = _neighbor_matrices(store, market, arms)
        width = max(k for a in arms for k in a.ks)
        default_encoder, default_k = arms[0].default

        rate = np.concatenate(
            [
                market.activity[:n_real] * VIEWS_PER_ACTIVITY * config.traffic,
                np.full(config.bots, config.bot_views_per_day),
            ]
        )
        # Run-level faults of the logging pipeline: duplicated and late events.
        fault_rng = np.random.default_rng([config.seed, FAULT_STREAM])
        event_frames: list[pl.DataFrame] = []
        for done, day in enumerate(days, start=1):
            rng = day_rng(config.seed, TRAFFIC_STREAM, day)
            views = draw_views(market, rng, day, user_rate=rate * DAY_OF_WEEK[day.weekday()])
            is_bot = views.user_idx >= n_real
            running = [a for a in arms if a.running(day)]
            # Views of users in no running experiment get the default module, the
            # first variant's, without novelty; the others their variant's (_serve).
            default = np.ones(len(views), dtype=bool)
            for a in running:
                default &= a.variant_of_user[views.user_idx] < 0
            recs = np.full((len(views), width), -1, dtype=np.int64)
            p_tap, p_buy = np.zeros((len(views), width)), np.zeros((len(views), width))
            outside = views.take(default)
            d_recs = _recs(matrices[default_encoder], outside.source_idx, default_k, width)
            recs[default] = d_recs
            p_tap[default], p_buy[default] = _probabilities(
                market, outside, d_recs, is_bot[default], config, novelty=False, day_index=0
            )
            for a in running:
                _serve(a, day, market, views, is_bot, matrices, width, config, recs, p_tap, p_buy)
            events, _ = module_events(
                market,
                rng,
                day,
                views,
                recs,
                id_prefix=prefix.removesuffix("-"),
                probabilities=(p_tap, p_buy),
            )
            event_frames.append(_inject_event_faults(events, config, fault_rng))
            if progress:
                progress(done, len(days))

        events = pl.concat(event_frames)
        unique = events.unique(subset="event_id", keep="first", maintain_order=True)
        exposures = {a.key: pl.concat(a.exposure_frames) for a in arms}
        truths = {
            a.key: tuple(
                t.summarise(v.name, a.encoders[i], a.exposed_ever)
                for i, (t, v) in enumerate(zip(a.truths, a.spec.variants, strict=True))
            )
            for a in arms
        }
        records = pl.DataFrame(
            [
                {
                    "run_id": run_id,
                    "experiment": a.key,
                    "experiments": ",".join(x.key for x in arms),
                    "event_prefix": prefix,
                    "first_day": first_day,
                    "end_day": end_day,
                    "experiment_start": a.start,
                    "experiment_end": a.end,
                    "pre_days": a.pre_days,
                    "seed": config.seed,
                    "events": unique.height,
                    "exposures": exposures[a.key].height,
                    "settings": json.dumps(
                        {"version": TRAFFIC_VERSION, **dataclasses.asdict(config)},
                        sort_keys=True,
                        default=str,
                    ),
                    "simulated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
                }
                for a in arms
            ]
        )
        _write_run(
            store,
            [*replaced, *stale],
            prefix,
            unique,
            pl.concat(exposures.values()),
            bots,
            _truth_frame(truths),
            records,
        )
    finally:
        if not isinstance(db, Store):
            store.close()

    seconds = time.perf_counter() - started
    summaries = []
    for a in arms:
        counts = np.bincount(
            a.variant_of_user[a.exposed_ever & ~a.drops_exposure],
            minlength=len(a.spec.variants),
        )
        summaries.append(
            TrafficSummary(
                experiment=a.key,
                start=a.start,
                end=a.end,
                pre_days=a.pre_days,
                users=market.n_users,
                exposed={v: int(c) for v, c in zip(a.spec.variant_names, counts, strict=True)},
                events_written=unique.height,
                duplicates_skipped=events.height - unique.height,
                exposures_written=exposures[a.key].height,
                truth=truths[a.key],
                seconds=seconds,
                run_id=run_id,
                simulated_with=tuple(x.key for x in arms if x is not a),
            )
        )
    return RunSummary(
        run_id=run_id,
        event_prefix=prefix,
        first_day=first_day,
        end_day=end_day,
        experiments=tuple(summaries),
        events_written=unique.height,
        duplicates_skipped=events.height - unique.height,
        replaced=tuple(r.label for r in replaced),
        seconds=seconds,
    )


def _serve(
    arm: _Arm,
    day: dt.date,
    market: Marketplace,
    views: Views,
    is_bot: np.ndarray,
    matrices: Mapping[str, np.ndarray],
    width: int,
    config: TrafficConfig,
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
    organic = market.params.organic_purchase
    for v in range(len(arm.spec.variants)):
        v_recs = _recs(matrices[arm.encoders[v]], mine.source_idx, arm.ks[v], width)
        v_tap, v_buy = _probabilities(
            market,
            mine,
            v_recs,
            is_bot[rows],
            config,
            novelty=arm.encoders[v] != arm.encoders[0],
            day_index=d,
        )
        share = arm.failures.get(v, 0.0)
        if share > 0:  # the module fails on a share of views (drawn over all the day's views)
            fails = (arm.fault_rng.random(len(views)) < share)[rows]
            v_recs[fails], v_tap[fails] = -1, 0.0
        serve = variant[rows] == v
        at = rows[serve]
        recs[at], p_tap[at], p_buy[at] = v_recs[serve], v_tap[serve], v_buy[serve]
        shown = v_recs[in_exp] >= 0
        arm.truths[v].add(
            mine.user_idx[in_exp],
            np.where(shown, v_tap[in_exp], 0.0),
            v_buy[in_exp],
            market.price[np.where(shown, v_recs[in_exp], 0)],
            shown,
            organic,
            market.price[mine.source_idx[in_exp]],
        )
    exposed_view = np.zeros(len(views), dtype=bool)
    exposed_view[rows] = in_exp & ~arm.drops_exposure[mine.user_idx]
    arm.exposure_frames.append(
        _first_exposures(arm.spec, market, day, views, variant, exposed_view)
    )


def _user_frames(
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


def _neighbor_matrices(
    store: Store, market: Marketplace, arms: Sequence[_Arm]
) -> dict[str, np.ndarray]:
    """Each served encoder's neighbours, as wide as the widest module that serves it."""
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


RUNS_DDL = f"""CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
    run_id INTEGER NOT NULL,
    experiment VARCHAR NOT NULL,
    experiments VARCHAR,
    event_prefix VARCHAR NOT NULL,
    first_day DATE,
    end_day DATE,
    experiment_start TIMESTAMP,
    experiment_end TIMESTAMP,
    pre_days INTEGER,
    seed BIGINT,
    events BIGINT,
    exposures BIGINT,
    settings VARCHAR,
    simulated_at TIMESTAMP
)"""
"""One row per experiment of a run. ``event_prefix`` starts the id of every event the
run wrote (and of no other), ``experiments`` lists the run's experiments, ``first_day``
to ``end_day`` (exclusive) its simulated days, ``settings`` its options as JSON."""


def _truth_frame(truths: Mapping[str, tuple[VariantTruth, ...]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{**dataclasses.asdict(t), "experiment": key} for key, rows in truths.items() for t in rows]
    )


def _write_run(
    store: Store,
    replaced: Sequence[_StoredRun],
    prefix: str,
    events: pl.DataFrame,
    exposures: pl.DataFrame,
    bots: pl.DataFrame,
    truth: pl.DataFrame,
    records: pl.DataFrame,
) -> None:
    """Replace ``replaced`` by the new run, in one transaction: all of it or nothing.

    The earlier runs' events are deleted by their exact owner condition (a recorded
    prefix), their exposures and truth by experiment key (which :func:`_plan` has
    checked they own: a replaced run's experiments are all in the new run, and a
    stale run has no exposures left), their records by run number.
    """
    con = store.con
    frames = {
        "__sim_events": events,
        "__sim_exposures": exposures,
        "__sim_bots": bots,
        "__sim_truth": truth,
        "__sim_runs": records,
    }
    keys = sorted({k for r in replaced for k in r.experiments} | set(records["experiment"]))
    in_keys = ", ".join("?" for _ in keys)
    run_ids = sorted({r.run_id for r in replaced if r.run_id is not None})
    in_runs = ", ".join("?" for _ in run_ids) or "NULL"
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        with store.transaction():
            for run in replaced:
                con.execute(f"DELETE FROM events WHERE {run.owner_sql}", list(run.owner_params))
            con.execute(f"DELETE FROM exposures WHERE experiment IN ({in_keys})", keys)
            con.execute(RUNS_DDL)
            con.execute(f"DELETE FROM {RUNS_TABLE} WHERE run_id IN ({in_runs})", run_ids)
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {TRUTH_TABLE} AS SELECT * FROM __sim_truth LIMIT 0"
            )
            con.execute(f"DELETE FROM {TRUTH_TABLE} WHERE experiment IN ({in_keys})", keys)
            if store.count("events", "substr(event_id, 1, ?) = ?", [len(prefix), prefix]):
                raise SimulationError(f"events with ids starting {prefix!r} are stored already")
            for table, name in (("events", "__sim_events"), ("exposures", "__sim_exposures")):
                cols = ", ".join((EVENTS if table == "events" else EXPOSURES).column_names)
                con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
            cols = ", ".join(USERS.column_names)
            con.execute(
                f"INSERT INTO users ({cols}) SELECT {cols} FROM __sim_bots b "
                "WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = b.user_id)"
            )
            con.execute(f"INSERT INTO {RUNS_TABLE} BY NAME SELECT * FROM __sim_runs")
            con.execute(f"INSERT INTO {TRUTH_TABLE} BY NAME SELECT * FROM __sim_truth")
    finally:
        for name in frames:
            con.unregister(name)


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
