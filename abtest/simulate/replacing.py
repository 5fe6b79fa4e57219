"""Which earlier runs a new run replaces, its number, and what it refuses to write over.

Nothing stored is lost: before anything is written, :func:`plan_replacement`
refuses (in one line, naming them) experiments simulated before unless
``replace``; replacing part of a joint run (the others' traffic would go with
it); experiments with exposures that no simulation wrote, or more than it
wrote; and dates that hold events the run does not replace. What it allows is a
:class:`RunPlan`: the runs to delete and the new run's number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from abtest.simulate.arms import Arm
from abtest.simulate.runs import (
    StoredRun,
    holds_traffic,
    prefix_params,
    run_prefix,
    stored_runs,
)
from abtest.simulate.traffic_config import SimulationError
from abtest.store import Store


@dataclass(frozen=True)
class RunPlan:
    """What a new run replaces, and its number."""

    replaced: list[StoredRun]
    """The earlier runs of its experiments that still hold traffic."""
    stale: list[StoredRun]
    """Runs of its experiments whose events and exposures are all gone (e.g. deleted by
    hand): their records and truth are dropped silently, as nothing of them is left."""
    run_id: int

    @property
    def prefix(self) -> str:
        """The start of the id of every event the run writes."""
        return run_prefix(self.run_id)


def plan_replacement(
    store: Store, arms: Sequence[Arm], span: tuple[dt.datetime, dt.datetime], replace: bool
) -> RunPlan:
    """Which earlier runs this one replaces, and its run number; refuse what would mix.

    Raises :class:`SimulationError`, before anything is written, when the
    experiments were simulated already and ``replace`` is not set; when replacing
    would take part of a joint run (and the traffic of its other experiments)
    away; when an experiment has exposures that no simulation wrote; and when the
    run's dates (``span``) hold events that it does not replace.
    """
    keys = {a.key for a in arms}
    order = [a.key for a in arms]
    stored = stored_runs(store)
    mine = [r for r in stored if keys & set(r.experiments)]
    present = [r for r in mine if holds_traffic(store, r)]
    stale = [r for r in mine if r not in present]
    _refuse_unreplaced(store, present, order, replace)
    _refuse_foreign_exposures(store, arms, mine)
    _refuse_foreign_events(store, span, stored, mine, present, order)
    return RunPlan(present, stale, _run_number(store, stored, mine))


def _refuse_unreplaced(
    store: Store, present: Sequence[StoredRun], order: Sequence[str], replace: bool
) -> None:
    """Refuse earlier traffic of these experiments unless ``replace``, and replacing some
    experiments of a joint run without the others."""
    keys = set(order)
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


def _refuse_foreign_exposures(store: Store, arms: Sequence[Arm], mine: Sequence[StoredRun]) -> None:
    """Refuse experiments with exposures that no simulation wrote, or more than it wrote."""
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


def _refuse_foreign_events(
    store: Store,
    span: tuple[dt.datetime, dt.datetime],
    stored: Sequence[StoredRun],
    mine: Sequence[StoredRun],
    present: Sequence[StoredRun],
    order: Sequence[str],
) -> None:
    """Refuse dates that hold events the run does not replace: naming the other run
    that wrote them, or saying that no simulation did."""
    start, end = span
    dates = f"{start:%Y-%m-%d} to {end - dt.timedelta(days=1):%Y-%m-%d}"
    ours = " OR ".join(f"({r.owner_sql})" for r in present) or "FALSE"
    ours_params = [p for r in present for p in r.owner_params]
    window = "ts >= ? AND ts < ?"
    if not store.count("events", f"{window} AND NOT ({ours})", [start, end, *ours_params]):
        return
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


def _run_number(store: Store, stored: Sequence[StoredRun], mine: Sequence[StoredRun]) -> int:
    """The new run's number.

    A run that replaces one recorded run keeps its number, so that its events keep
    their ids; otherwise it takes the next number, past any id someone ingested that
    looks like ours (never mix with it).
    """
    earlier = {r.run_id for r in mine if r.run_id is not None}
    if len(earlier) == 1:
        return earlier.pop()
    run_id = max((r.run_id for r in stored if r.run_id is not None), default=0) + 1
    while store.count("events", "substr(event_id, 1, ?) = ?", prefix_params(run_id)):
        run_id += 1
    return run_id
