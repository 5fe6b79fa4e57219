"""The record of every simulation run in ``simulation_runs``, and writing a run.

Every run is recorded, one row per experiment: its number, experiments, dates,
seed, settings, counts and the exact event-id prefix it used, ``sim-{run}-``
(:func:`run_prefix`). :func:`stored_runs` reads back what earlier runs wrote,
with the exact condition that finds each run's events (its recorded prefix,
never a ``LIKE`` pattern; for a run of version 1, which kept no record, the full
shape of its ids). :func:`write_run` replaces earlier runs by a new one in one
transaction: all of it or nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from abtest.schema import EVENTS, EXPOSURES, USERS
from abtest.simulate.arms import Arm
from abtest.simulate.traffic_config import SimulationError, TrafficConfig
from abtest.simulate.truth import TRUTH_TABLE
from abtest.store import Store

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


@dataclass(frozen=True)
class StoredRun:
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
        """The run in a sentence, e.g. ``the earlier run 1 ('similar-looks')``."""
        names = ", ".join(repr(k) for k in self.experiments)
        if self.run_id is None:
            return f"an earlier, unrecorded simulation of {names}"
        return f"the earlier run {self.run_id} ({names})"


def run_prefix(run_id: int) -> str:
    """The start of the id of every event run ``run_id`` writes."""
    return f"{RUN_ID_PREFIX}-{run_id}-"


def prefix_params(run_id: int) -> list[Any]:
    """Parameters of ``substr(event_id, 1, ?) = ?`` for the events of run ``run_id``."""
    return [len(run_prefix(run_id)), run_prefix(run_id)]


def stored_runs(store: Store) -> list[StoredRun]:
    """Every earlier run: recorded ones, and those version 1 wrote (known by their truth)."""
    runs: list[StoredRun] = []
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
                StoredRun(
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
                    StoredRun(None, (str(key),), "regexp_full_match(event_id, ?)", (pattern,), None)
                )
    return runs


def holds_traffic(store: Store, run: StoredRun) -> bool:
    """Whether any event or exposure the run wrote is still stored."""
    keys = list(run.experiments)
    in_keys = ", ".join("?" for _ in keys)
    return bool(
        store.count("events", run.owner_sql, list(run.owner_params))
        or store.count("exposures", f"experiment IN ({in_keys})", keys)
    )


def run_records(
    run_id: int,
    prefix: str,
    arms: Sequence[Arm],
    days: tuple[dt.date, dt.date],
    config: TrafficConfig,
    events: int,
    exposures: Mapping[str, pl.DataFrame],
) -> pl.DataFrame:
    """The rows of ``simulation_runs`` for a run: one per experiment. ``days`` is the
    run's first day and the day after its last; ``events`` counts the stored events."""
    first_day, end_day = days
    return pl.DataFrame(
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
                "events": events,
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


def write_run(
    store: Store,
    replaced: Sequence[StoredRun],
    prefix: str,
    events: pl.DataFrame,
    exposures: pl.DataFrame,
    bots: pl.DataFrame,
    truth: pl.DataFrame,
    records: pl.DataFrame,
) -> None:
    """Replace ``replaced`` by the new run, in one transaction: all of it or nothing.

    The earlier runs' events are deleted by their exact owner condition (a recorded
    prefix), their exposures and truth by experiment key (which
    :func:`~abtest.simulate.replacing.plan_replacement` has checked they own: a replaced
    run's experiments are all in the new run, and a stale run has no exposures left),
    their records by run number.
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
    run_ids = sorted({r.run_id for r in replaced if r.run_id is not None})
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        with store.transaction():
            _delete_replaced(store, replaced, keys, run_ids)
            if store.count("events", "substr(event_id, 1, ?) = ?", [len(prefix), prefix]):
                raise SimulationError(f"events with ids starting {prefix!r} are stored already")
            _insert_run(store)
    finally:
        for name in frames:
            con.unregister(name)


def _delete_replaced(
    store: Store, replaced: Sequence[StoredRun], keys: list[str], run_ids: list[int]
) -> None:
    """Delete what the replaced runs wrote (creating the runs and truth tables if new)."""
    con = store.con
    in_keys = ", ".join("?" for _ in keys)
    in_runs = ", ".join("?" for _ in run_ids) or "NULL"
    for run in replaced:
        con.execute(f"DELETE FROM events WHERE {run.owner_sql}", list(run.owner_params))
    con.execute(f"DELETE FROM exposures WHERE experiment IN ({in_keys})", keys)
    con.execute(RUNS_DDL)
    con.execute(f"DELETE FROM {RUNS_TABLE} WHERE run_id IN ({in_runs})", run_ids)
    con.execute(f"CREATE TABLE IF NOT EXISTS {TRUTH_TABLE} AS SELECT * FROM __sim_truth LIMIT 0")
    con.execute(f"DELETE FROM {TRUTH_TABLE} WHERE experiment IN ({in_keys})", keys)


def _insert_run(store: Store) -> None:
    """Insert the registered frames of the new run: events, exposures, the bots that are
    not stored yet, its records and its truth."""
    con = store.con
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
