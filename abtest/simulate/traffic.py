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

One job per module; import from here (the names below are the public ones):

- :mod:`~abtest.simulate.traffic_config`: the options (:class:`TrafficConfig`) and
  :class:`SimulationError`;
- :mod:`~abtest.simulate.arms`: each experiment of a run, its dates, modules and
  faults, and the assignment of its users;
- :mod:`~abtest.simulate.together`: which experiments may share one stream of
  traffic (at most one holds a user on a day);
- :mod:`~abtest.simulate.population`: the users and bots who browse;
- :mod:`~abtest.simulate.serving`: the day loop, which draws views and serves
  each its module;
- :mod:`~abtest.simulate.faults`: the injected faults;
- :mod:`~abtest.simulate.expected`: the truth each variant would have earned;
- :mod:`~abtest.simulate.runs`: the record of runs in ``simulation_runs`` and
  writing a run; :mod:`~abtest.simulate.replacing`: which earlier runs a run
  replaces, and what it refuses to write over;
- this module: :func:`simulate_experiments` and :func:`simulate_traffic`, which
  put them together, and what they return.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from abtest.simulate.arms import DEFAULT_K, Arm, arms_of, event_span, run_days
from abtest.simulate.expected import VariantTruth, truth_frame
from abtest.simulate.faults import FAULT_STREAM
from abtest.simulate.population import simulated_market, user_frames
from abtest.simulate.replacing import RunPlan, plan_replacement
from abtest.simulate.runs import (
    LEGACY_EVENT_ID,
    RUN_ID_PREFIX,
    RUNS_DDL,
    RUNS_TABLE,
    TRAFFIC_VERSION,
    run_records,
    write_run,
)
from abtest.simulate.serving import TRAFFIC_STREAM, Serving, neighbor_matrices, simulate_days
from abtest.simulate.together import check_assignments, check_together
from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from abtest.simulate.truth import TRUTH_TABLE, relative_lift
from abtest.spec import ExperimentSpec
from abtest.store import Store

__all__ = [
    "DEFAULT_K",
    "FAULT_STREAM",
    "LEGACY_EVENT_ID",
    "RUNS_DDL",
    "RUNS_TABLE",
    "RUN_ID_PREFIX",
    "TRAFFIC_STREAM",
    "TRAFFIC_VERSION",
    "TRUTH_TABLE",
    "RunSummary",
    "SimulationError",
    "TrafficConfig",
    "TrafficSummary",
    "VariantTruth",
    "simulate_experiments",
    "simulate_traffic",
]


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
        """Relative lift of ``variant`` over the first variant in the truth, on ``metric``
        (a column of :data:`~abtest.simulate.truth.TRUTH_COLUMNS`)."""
        by = {t.variant: getattr(t, metric) for t in self.truth}
        return relative_lift(by[self.truth[0].variant], by[variant])


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
    via: str | None = None,
) -> RunSummary:
    """Run ``specs`` together on one stream of traffic in ``db``, as one recorded run.

    With ``via`` (a running service's URL), the run is simulated the same way from
    ``db``'s world but sent through the service instead of written to ``db``
    (:mod:`abtest.simulate.via_http`): one experiment, without the logging faults the
    service cannot have (dropped exposures, failing modules).

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
    differ (:func:`~abtest.simulate.together.check_together`); dates that already
    hold events this run does not replace; experiments simulated before, unless
    ``replace``; and replacing some experiments of a joint run but not the others
    (:func:`~abtest.simulate.replacing.plan_replacement`). With
    ``replace``, the earlier runs of these experiments are replaced: their events
    (found by their recorded prefix), exposures, truth and records, in the same
    transaction that writes the new run.
    """
    config = config or TrafficConfig()
    config.validate()
    started = time.perf_counter()
    if not specs:
        raise SimulationError("give at least one experiment to simulate")
    arms = arms_of(specs, config)
    check_together(arms)
    if via is not None:
        if len(arms) != 1:
            raise SimulationError("--via sends one experiment's traffic at a time")
        if config.drop_exposures or config.module_failures:
            raise SimulationError(
                "--via: the service logs every exposure and serves every module; "
                "--drop-exposures and --module-failures need a simulation into --db"
            )
    days = run_days(arms)
    store = db if isinstance(db, Store) else Store(db)
    try:
        written = _run(store, arms, days, config, replace, progress, via)
    finally:
        if not isinstance(db, Store):
            store.close()
    return _summary(arms, written, time.perf_counter() - started)


@dataclass(frozen=True)
class _Written:
    """What :func:`_run` wrote: the counts and truth the summaries report."""

    plan: RunPlan
    days: tuple[dt.date, dt.date]
    """The run's first day and the day after its last."""
    users: int
    logged: int
    """Events the logging delivered, duplicates included."""
    events: int
    """Events stored (one per id)."""
    exposures: dict[str, int]
    truths: dict[str, tuple[VariantTruth, ...]]


def _run(
    store: Store,
    arms: Sequence[Arm],
    days: Sequence[dt.date],
    config: TrafficConfig,
    replace: bool,
    progress: Callable[[int, int], None] | None,
    via: str | None = None,
) -> _Written:
    """Plan the run in ``store`` (refusing what would mix), bucket the users, simulate
    its days and write it, all in this order so that every refusal comes before any
    write."""
    plan = plan_replacement(store, arms, event_span(days, config), replace)
    market, n_real = simulated_market(store, config)
    all_users, bots = user_frames(store, market, n_real, min(a.start for a in arms))
    for a in arms:
        a.assign(all_users, config.seed)
    check_assignments(arms, market.user_ids)
    matrices = neighbor_matrices(store, market, arms)
    serving = Serving(market, matrices, max(k for a in arms for k in a.ks), config)
    events = simulate_days(serving, arms, days, n_real, plan.prefix, progress)
    unique = events.unique(subset="event_id", keep="first", maintain_order=True)
    exposures = {a.key: a.exposures() for a in arms}
    truths = {a.key: a.truth() for a in arms}
    span = (days[0], days[-1] + dt.timedelta(days=1))
    records = run_records(plan.run_id, plan.prefix, arms, span, config, unique.height, exposures)
    if via is not None:  # the service logs the run; the truth stays here
        from abtest.assignment import Assigner
        from abtest.simulate.via_http import send_via, targeting_attributes

        (arm,) = arms
        wanted = Assigner(arm.spec).condition_attributes
        send_via(via, arm.key, unique, targeting_attributes(all_users, wanted), progress)
    else:
        write_run(
            store,
            [*plan.replaced, *plan.stale],
            plan.prefix,
            unique,
            pl.concat(exposures.values()),
            bots,
            truth_frame(truths),
            records,
        )
    return _Written(
        plan=plan,
        days=span,
        users=market.n_users,
        logged=events.height,
        events=unique.height,
        exposures={k: e.height for k, e in exposures.items()},
        truths=truths,
    )


def _summary(arms: Sequence[Arm], written: _Written, seconds: float) -> RunSummary:
    """The run's summary, with one per experiment."""
    w = written
    summaries = tuple(
        TrafficSummary(
            experiment=a.key,
            start=a.start,
            end=a.end,
            pre_days=a.pre_days,
            users=w.users,
            exposed=a.exposed_counts(),
            events_written=w.events,
            duplicates_skipped=w.logged - w.events,
            exposures_written=w.exposures[a.key],
            truth=w.truths[a.key],
            seconds=seconds,
            run_id=w.plan.run_id,
            simulated_with=tuple(x.key for x in arms if x is not a),
        )
        for a in arms
    )
    return RunSummary(
        run_id=w.plan.run_id,
        event_prefix=w.plan.prefix,
        first_day=w.days[0],
        end_day=w.days[1],
        experiments=summaries,
        events_written=w.events,
        duplicates_skipped=w.logged - w.events,
        replaced=tuple(r.label for r in w.plan.replaced),
        seconds=seconds,
    )
