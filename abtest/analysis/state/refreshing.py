"""``refresh``: bring an experiment's state up to date, reading only what changed.

The state is a cache with an exactness contract: an analysis from it equals an
analysis of the raw tables, always. A refresh therefore re-reads every day
whose rows may have changed since the last one, and nothing else:

- the days whose row counts changed (:mod:`.changes`): new days, and older days
  that late rows reached, however late;
- the days of the lookback before the watermark, whatever their counts (rows
  replaced in place, which counting cannot see);
- the days the window gained or lost (an experiment without a schedule ends
  with its last exposure day).

It recomputes those days' rows, from the first of them on, and merges the
first exposures (a minimum, exact in any order). When the state cannot be
brought up to date that way it is rebuilt, and the report says why: no state
yet, ``--full``, a spec change (:mod:`.fingerprint`), or exposures removed
(a first exposure that disappears cannot be un-merged). Everything is written
in one transaction: a refresh that fails leaves the state as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Literal

from abtest.analysis.aggregates import Aggregate
from abtest.analysis.filters import Query, check_event_columns
from abtest.analysis.state import sql as state_sql
from abtest.analysis.state.changes import DayCounts, day_counts, lookback_day
from abtest.analysis.state.fingerprint import depends_on, fingerprint, what_changed
from abtest.analysis.state.tables import (
    StateMeta,
    create_meta_tables,
    drop_state,
    read_day_counts,
    read_meta,
    table,
    write_meta,
)
from abtest.analysis.window import (
    AnalysisError,
    analysis_window,
    check_store,
    pre_period_start,
)
from abtest.spec import ExperimentSpec
from abtest.store import Store, quote_ident

DEFAULT_LOOKBACK = dt.timedelta(hours=0)
"""Re-read nothing beyond the days whose row counts changed (see :mod:`.changes`)."""

Mode = Literal["built", "rebuilt", "updated", "up to date"]
Progress = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class RefreshReport:
    """What a refresh did, and why."""

    experiment: str
    mode: Mode
    reason: str
    """Why it was built, rebuilt or updated, in words."""
    recomputed_from: dt.date | None
    """The first day whose rows were recomputed (``None``: none)."""
    late_days: tuple[dt.date, ...]
    """Days before the last watermark that rows reached since the last refresh."""
    events_read: int
    """Events the refresh read (of the recomputed days, the metrics' event types)."""
    units: int
    new_units: int
    """Users first exposed since the last refresh (all of them when built)."""
    changed_units: int
    """Stored users whose first exposure or variants changed."""
    start: dt.datetime
    end: dt.datetime
    watermark: dt.datetime | None
    lookback: dt.timedelta
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-able data (dates as ISO text, the lookback in hours)."""
        out = dataclasses.asdict(self)
        for k in ("recomputed_from", "start", "end", "watermark"):
            out[k] = None if out[k] is None else out[k].isoformat()
        out["late_days"] = [d.isoformat() for d in self.late_days]
        out["lookback"] = self.lookback.total_seconds() / 3600
        return out


def refresh(
    store: Store,
    spec: ExperimentSpec,
    *,
    full: bool = False,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    progress: Progress | None = None,
) -> RefreshReport:
    """Bring ``spec``'s state in ``store`` up to date (``full``: rebuild it)."""
    began = time.perf_counter()
    check_store(store)
    if spec.metrics is None:
        raise AnalysisError(f"{spec.key!r} defines no metrics: there is no state to keep")
    check_event_columns(store, spec)
    start, end = analysis_window(spec, None, store)
    columns = state_sql.Columns(spec, pre_period_start(spec, start))
    parts = depends_on(spec, start, columns.pre_start)
    meta = read_meta(store, spec.key)
    reason = _rebuild_reason(meta, parts, full)
    since = None if meta is None or meta.watermark is None else meta.watermark.date()
    counts = {
        source: day_counts(
            store,
            source,
            spec.key,
            read_day_counts(store, spec.key, source) if reason is None else {},
            0 if meta is None or reason is not None else getattr(meta, f"{source}_rows"),
            since if reason is None else None,
        )
        for source in ("events", "exposures")
    }
    if reason is None and counts["exposures"].removed:
        day = counts["exposures"].removed[0]
        reason = f"exposures were removed (on {day}): first exposures cannot be un-merged"
    lower = columns.pre_start or start
    late: tuple[dt.date, ...] = ()
    if reason is None:
        assert meta is not None
        first, why, late = _first_changed_day(meta, counts, lookback, lower, end)
        if first is not None and (first < start.date() or end < meta.end):
            reason = (
                f"rows changed in the pre-period (on {first})"
                if first < start.date()
                else f"the window's end moved earlier, from {meta.end} to {end}"
            )
        if first is None:  # only rows outside the window changed, if any: record them
            meta = meta._replace(
                events_rows=counts["events"].total, exposures_rows=counts["exposures"].total
            )
            with store.transaction():
                write_meta(store, meta, {s: c.now for s, c in counts.items()})
            why = "no rows changed in the window since the last refresh"
            units = _units(store, spec)
            return _report(
                spec, "up to date", why, meta, None, (), 0, (0, 0, units), lookback, began
            )
    if reason is None:
        mode: Mode = "updated"
    else:
        first, why = lower.date(), reason
        mode = "built" if meta is None else "rebuilt"
    with store.transaction():
        if mode != "updated":
            drop_state(store, spec.key)
        create_meta_tables(store)
        read, unit_counts = _recompute(store, spec, columns, first, start, end, mode, progress)
        watermark = _watermark(store, spec.key, first, end, meta if mode == "updated" else None)
        new_meta = StateMeta(
            spec.key,
            fingerprint(parts),
            json.dumps(parts, sort_keys=True),
            start,
            end,
            columns.pre_start,
            watermark,
            counts["events"].total,
            counts["exposures"].total,
            int(lookback.total_seconds() // 60),
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
        write_meta(store, new_meta, {s: c.now for s, c in counts.items()})
    return _report(spec, mode, why, new_meta, first, late, read, unit_counts, lookback, began)


def _rebuild_reason(meta: StateMeta | None, parts: dict[str, object], full: bool) -> str | None:
    """Why the state must be built from scratch; ``None`` when it can be updated."""
    if meta is None:
        return "no state yet"
    if full:
        return "--full"
    return what_changed(json.loads(meta.depends_on), parts)


def _first_changed_day(
    meta: StateMeta,
    counts: dict[str, DayCounts],
    lookback: dt.timedelta,
    lower: dt.datetime,
    end: dt.datetime,
) -> tuple[dt.date | None, str, tuple[dt.date, ...]]:
    """The first day to recompute (``None``: nothing changed), why, and the late days."""
    cut = state_sql.day_cut(end)
    reasons: list[tuple[dt.date, str]] = []
    for source, c in counts.items():
        days = [d for d in c.changed if lower.date() <= d < cut]
        if days:
            reasons.append((days[0], f"{source} rows changed on {len(days)} day(s)"))
    back = lookback_day(meta.watermark, lookback)
    if back is not None and back < cut:
        reasons.append((max(back, lower.date()), f"the lookback re-reads from {back}"))
    if end != meta.end:
        reasons.append(
            (
                min(state_sql.day_cut(meta.end), cut) - dt.timedelta(days=1),
                f"the window's end moved from {meta.end} to {end}",
            )
        )
    if not reasons:
        return None, "", ()
    since = meta.watermark.date() if meta.watermark is not None else lower.date()
    late = tuple(
        sorted({d for c in counts.values() for d in c.changed if lower.date() <= d < since})
    )
    first = min(d for d, _ in reasons)
    return first, "; ".join(r for _, r in sorted(reasons)), late


def _recompute(
    store: Store,
    spec: ExperimentSpec,
    columns: state_sql.Columns,
    first: dt.date,
    start: dt.datetime,
    end: dt.datetime,
    mode: Mode,
    progress: Progress | None,
) -> tuple[int, tuple[int, int, int]]:
    """Build the state, or update it from ``first`` on. Returns the events read and
    (new units, changed units, units)."""
    step = _stepper(progress, 4)
    since = max(dt.datetime.combine(first, dt.time()), start)
    if mode == "updated":
        new, changed = _update(store, spec, columns, since, end, step)
    else:
        _build(store, spec, columns, start, end, step)
        new, changed = _units(store, spec), 0
    return _events_in(store, columns, since, end), (new, changed, _units(store, spec))


def _build(
    store: Store,
    spec: ExperimentSpec,
    columns: state_sql.Columns,
    start: dt.datetime,
    end: dt.datetime,
    step: Callable[[str], None],
) -> None:
    """Create the state's tables from all the raw rows of the window."""
    con, key, n = store.con, spec.key, len(columns.variants)
    first = "__looklift_first_exposures"
    con.execute(f"CREATE TEMP TABLE {first} AS {state_sql.fresh_units_sql(spec, start, end)}")
    try:
        step("first exposures")
        exposed = state_sql.units_exposed(first, n)
        days = table(key, "days")
        if columns.days:
            rows = state_sql.day_rows_sql(columns, exposed, start, end)
            con.execute(f"CREATE TABLE {days} AS {rows.sql}", rows.params)
        else:
            con.execute(f"CREATE TABLE {days} (user_id VARCHAR, day DATE)")
        step("events after exposure")
        if columns.pre:
            pre = state_sql.pre_rows_sql(columns, start)
            con.execute(f"CREATE TABLE {table(key, 'pre')} AS {pre.sql}", pre.params)
        else:
            con.execute(f"CREATE TABLE {table(key, 'pre')} (user_id VARCHAR)")
        step("pre-period")
        con.execute(
            f"CREATE TABLE {table(key, 'judged')} (user_id VARCHAR, view_id VARCHAR, "
            "position INTEGER, event_type VARCHAR, period VARCHAR, day DATE, first_ts TIMESTAMP)"
        )
        if columns.scores:
            judged = state_sql.judged_rows_sql(columns, start, end, exposed)
            con.execute(f"INSERT INTO {table(key, 'judged')} {judged}")
            if columns.pre_start is not None and any(a.period == "pre" for a in columns.scores):
                pre_judged = state_sql.judged_rows_sql(columns, columns.pre_start, start, None)
                con.execute(f"INSERT INTO {table(key, 'judged')} {pre_judged}")
        con.execute(
            f"CREATE TABLE {table(key, 'units')} AS {state_sql.unit_rows_sql(key, columns, first)}"
        )
        step("module showings and units")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {first}")


_UPDATE_TABLES = ("fx", "dx", "ox", "old", "nu", "pairs", "nx", "rows")


def _update(
    store: Store,
    spec: ExperimentSpec,
    columns: state_sql.Columns,
    since: dt.datetime,
    end: dt.datetime,
    step: Callable[[str], None],
) -> tuple[int, int]:
    """Recompute the state's rows of the days from ``since`` on, touching only the users
    with exposures or events in them; returns the new and the changed units."""
    con, key, n = store.con, spec.key, len(columns.variants)
    t = {name: f"__looklift_update_{name}" for name in _UPDATE_TABLES}
    units, days = table(key, "units"), table(key, "days")

    def temp(name: str, query: str | Query, params: dict | None = None) -> None:
        text, bound = (query.sql, query.params) if isinstance(query, Query) else (query, params)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {t[name]} AS {text}", bound or {})

    try:
        temp("fx", state_sql.fresh_units_sql(spec, since, end))
        scan = state_sql.day_scan_sql(columns, since, end)
        temp("dx", scan)
        day = since.date()
        if columns.days:
            temp("ox", state_sql.summed_days_sql(columns, days, f"d.day >= DATE '{day}'"))
        touched = f"SELECT user_id FROM {t['fx']} UNION SELECT user_id FROM {t['dx']}"
        if columns.days:  # users whose re-read days lost their rows are touched too
            touched += f" UNION SELECT user_id FROM {t['ox']}"
        temp("old", f"SELECT u.rowid AS row_id, u.* FROM {units} u WHERE u.user_id IN ({touched})")
        ats = state_sql.at_columns(n)
        merged = ", ".join(f"LEAST(o.{c}, f.{c}) AS {c}" for c in ats)
        temp(
            "nu",
            f"SELECT m.*, {state_sql.unit_columns(columns, 'm')} FROM (\n"
            f"SELECT COALESCE(o.user_id, f.user_id) AS user_id, {merged}\n"
            f"FROM {t['old']} o FULL OUTER JOIN {t['fx']} f ON f.user_id = o.user_id) m",
        )
        step("first exposures")
        _new_day_rows(store, columns, t, since, end)
        step("events after exposure")
        changed = store.fetch_one(
            f"SELECT COUNT(*) FROM {t['nu']} n JOIN {t['old']} o ON o.user_id = n.user_id "
            f"WHERE {' OR '.join(f'n.{c} IS DISTINCT FROM o.{c}' for c in ats)}"
        )
        temp("rows", state_sql.new_unit_rows_sql(columns, key, t))
        con.execute(f"DELETE FROM {units} WHERE rowid IN (SELECT row_id FROM {t['old']})")
        con.execute(f"INSERT INTO {units} SELECT * FROM {t['rows']}")
        con.execute(f"DELETE FROM {days} WHERE day >= ?", [day])
        if columns.days:
            con.execute(f"INSERT INTO {days} SELECT * FROM {t['nx']}")
        if columns.scores:
            judged = table(key, "judged")
            con.execute(f"DELETE FROM {judged} WHERE period = 'post' AND day >= ?", [day])
            exposed = f"(SELECT user_id, exposed_at FROM {t['nu']})"
            rows = state_sql.judged_rows_sql(columns, since, end, exposed)
            con.execute(f"INSERT INTO {judged} {rows}")
        step("module showings and units")
        new = store.count(t["rows"]) - store.count(t["old"])
        return new, int(changed[0]) if changed else 0
    finally:
        for name in t.values():
            con.execute(f"DROP TABLE IF EXISTS {name}")


def _new_day_rows(
    store: Store,
    columns: state_sql.Columns,
    t: dict[str, str],
    since: dt.datetime,
    end: dt.datetime,
) -> None:
    """``nx``: the ``days`` rows of the re-read days. A scanned user-day counts as it is
    after the user's exposure day, or on it when its first event is not before the
    exposure; the exposure days with earlier events are recounted from their events, and
    windowed columns come from the units' events joined to their exposure time."""
    if not columns.days:
        return
    con = store.con
    names = [quote_ident(a.column) for a in columns.days]
    plain = [a for a in columns.days if a.window is None]
    windowed = [a for a in columns.days if a.window is not None]
    parts = []
    if plain:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {t['pairs']} AS "
            f"SELECT d.user_id, d.day, n.exposed_at FROM {t['dx']} d "
            f"JOIN {t['nu']} n ON n.user_id = d.user_id "
            "WHERE d.day = n.exposed_day AND d.first_ts < n.exposed_at"
        )

        def listed(source: str, step: list[Aggregate]) -> str:
            return ", ".join(
                f"{source}.{quote_ident(a.column)}"
                if a in step
                else f"0 AS {quote_ident(a.column)}"
                for a in columns.days
            )

        parts.append(
            f"SELECT d.user_id, d.day, {listed('d', plain)} FROM {t['dx']} d "
            f"JOIN {t['nu']} n ON n.user_id = d.user_id "
            "WHERE d.day > n.exposed_day OR (d.day = n.exposed_day AND d.first_ts >= n.exposed_at)"
        )
        recount = state_sql.recount_sql(columns, t["pairs"], since, end)
        parts.append(f"SELECT r.user_id, r.day, {listed('r', plain)} FROM ({recount.sql}) r")
        params = dict(recount.params)
    else:
        params = {}
    if windowed:
        exposed = f"(SELECT user_id, exposed_at FROM {t['nu']})"
        rows = state_sql.windowed_rows_sql(columns, exposed, since, end)
        params |= rows.params
        cols = ", ".join(
            f"w.{quote_ident(a.column)}" if a in windowed else f"0 AS {quote_ident(a.column)}"
            for a in columns.days
        )
        parts.append(f"SELECT w.user_id, w.day, {cols} FROM ({rows.sql}) w")
    sums = ", ".join(
        state_sql.total(a, f"SUM(x.{name})") for a, name in zip(columns.days, names, strict=True)
    )
    union = "\nUNION ALL\n".join(parts)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {t['nx']} AS SELECT x.user_id, x.day, {sums} "
        f"FROM ({union}) x GROUP BY x.user_id, x.day",
        params,
    )


def _events_in(
    store: Store, columns: state_sql.Columns, since: dt.datetime, end: dt.datetime
) -> int:
    """Events of the metrics' types in ``[since, end)``: what recomputing those days read."""
    types = list(dict.fromkeys(a.event for a in columns.days))
    row = store.fetch_one(
        f"SELECT COUNT(*) FROM events WHERE ts >= ? AND ts < ? AND event_type IN "
        f"({', '.join('?' * len(types))})",
        [since, end, *types],
    )
    return int(row[0]) if row else 0


def _units(store: Store, spec: ExperimentSpec) -> int:
    row = store.fetch_one(f"SELECT COUNT(*) FROM {table(spec.key, 'units')}")
    return int(row[0]) if row else 0


def _watermark(
    store: Store, key: str, first: dt.date, end: dt.datetime, meta: StateMeta | None
) -> dt.datetime | None:
    """The latest event or exposure time before ``end``: of the days re-read from
    ``first`` on, or the last refresh's watermark when later (``meta``: an update)."""
    since = dt.datetime.combine(first, dt.time())
    row = store.fetch_one(
        "SELECT GREATEST((SELECT MAX(ts) FROM events WHERE ts >= ? AND ts < ?), "
        "(SELECT MAX(ts) FROM exposures WHERE experiment = ? AND ts >= ? AND ts < ?))",
        [since, end, key, since, end],
    )
    latest = None if row is None else row[0]
    previous = None if meta is None else meta.watermark
    candidates = [t for t in (latest, previous) if t is not None]
    return max(candidates) if candidates else None


def _stepper(progress: Progress | None, total: int) -> Callable[[str], None]:
    done = 0

    def step(stage: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(stage, done, total)

    return step


def _report(
    spec: ExperimentSpec,
    mode: Mode,
    reason: str,
    meta: StateMeta,
    first: dt.date | None,
    late: tuple[dt.date, ...],
    read: int,
    unit_counts: tuple[int, int, int],
    lookback: dt.timedelta,
    began: float,
) -> RefreshReport:
    new, changed, units = unit_counts
    return RefreshReport(
        experiment=spec.key,
        mode=mode,
        reason=reason,
        recomputed_from=first,
        late_days=late,
        events_read=read,
        units=units,
        new_units=new,
        changed_units=changed,
        start=meta.start,
        end=meta.end,
        watermark=meta.watermark,
        lookback=lookback,
        seconds=time.perf_counter() - began,
    )
