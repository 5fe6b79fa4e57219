"""The state's SQL: what a refresh writes, and the analysis tables read back from it.

A refresh re-reads the rows of some days (all of them when it builds the state)
and writes, for those days:

- the units' first exposures (:func:`fresh_units_sql`), merged with the stored
  ones by taking the earlier time per variant, which is exact whatever order
  exposures arrive in (a first exposure is a minimum);
- per user and day, the metrics' counts and sums of events after the user's
  first exposure (:func:`day_rows_sql`: the events joined to the units, so a
  user with events before their exposure needs no recount);
- the engaged positions of the module's showings (:func:`judged_rows_sql`),
  kept per day and merged by the analysis (a position's gain is the largest of
  its events', whatever day they fall on);
- with CUPED, the per-user pre-period counts and sums (:func:`pre_rows_sql`).

An analysis then builds the same ``user_totals`` and ``user_days`` tables the
raw path builds (:func:`totals_from_state_sql`, :func:`days_from_state_sql`),
and everything after them is shared: caps, moments, health, breakdowns.
"""

from __future__ import annotations

import datetime as dt

from abtest.analysis import sql
from abtest.analysis.aggregates import Aggregate
from abtest.analysis.filters import Query
from abtest.analysis.ranking import ranked_state_sql
from abtest.analysis.state.tables import table
from abtest.spec import ExperimentSpec
from abtest.store import quote_ident


class Columns:
    """The aggregates of a spec, sorted into what each state table holds."""

    def __init__(self, spec: ExperimentSpec, pre_start: dt.datetime | None) -> None:
        every, self.pre_start = sql.event_aggregates(spec, pre_start)
        main, windowed, scores = sql.aggregate_steps(every)
        self.every: list[Aggregate] = every
        """All aggregates, in ``user_totals``' column order."""
        self.days = [a for a in main + windowed if a.period == "post"]
        """Held per user and day in ``days``: plain, filtered and windowed, after exposure."""
        self.pre = [a for a in main if a.period == "pre"]
        """Held per user in ``pre``."""
        self.scores = scores
        """Computed from ``judged`` by every analysis."""
        self.judging = sql.judging_events(scores)
        """The event types ``judged`` keeps."""
        self.variants = list(spec.variant_names)


def at_columns(n_variants: int) -> list[str]:
    """The ``units`` columns holding the first exposure to each variant."""
    return [f"at_{i}" for i in range(n_variants)]


def _exposed_at(n_variants: int, source: str = "u") -> str:
    """A unit's first exposure: the earliest of its variants' (``LEAST`` skips ``NULL``)."""
    cols = [f"{source}.{c}" for c in at_columns(n_variants)]
    return cols[0] if len(cols) == 1 else f"LEAST({', '.join(cols)})"


def day_cut(end: dt.datetime) -> dt.date:
    """The first day without rows in a window ending at ``end``: ``end``'s day when it
    is midnight, else the day after."""
    day = end.date()
    return day if end.time() == dt.time() else day + dt.timedelta(days=1)


def _date(day: dt.date) -> str:
    return f"DATE {sql.literal(day.isoformat())}"


def fresh_units_sql(spec: ExperimentSpec, lower: dt.datetime, end: dt.datetime) -> str:
    """Per user with exposures in ``[lower, end)``, the first exposure to each variant."""
    firsts = ", ".join(
        f"MIN(CASE WHEN x.variant = {sql.literal(v)} THEN x.ts END) AS {c}"
        for v, c in zip(spec.variant_names, at_columns(len(spec.variant_names)), strict=True)
    )
    variants = ", ".join(sql.literal(v) for v in spec.variant_names)
    return f"""
SELECT x.user_id, {firsts}
FROM exposures x
WHERE x.experiment = {sql.literal(spec.key)}
  AND x.ts >= {sql.ts_literal(lower)} AND x.ts < {sql.ts_literal(end)}
  AND x.variant IN ({variants})
GROUP BY x.user_id"""


def unit_columns(columns: Columns, source: str = "u") -> str:
    """A unit's variant, first exposure, its day and the mixed flag, from the ``at_*``
    columns of ``source`` (all of them before the state's end)."""
    ats = at_columns(len(columns.variants))
    variant = " ".join(
        f"WHEN {source}.{c} IS NOT NULL THEN {sql.literal(v)}"
        for c, v in zip(ats, columns.variants, strict=True)
    )
    seen = " + ".join(f"CASE WHEN {source}.{c} IS NULL THEN 0 ELSE 1 END" for c in ats)
    exposed = _exposed_at(len(ats), source)
    return (
        f"CASE {variant} END AS variant, {exposed} AS exposed_at, "
        f"CAST({exposed} AS DATE) AS exposed_day, CASE WHEN {seen} > 1 THEN 1 ELSE 0 END AS mixed"
    )


def units_exposed(source: str, n_variants: int) -> str:
    """The units of ``source`` (a table with the ``at_*`` columns) with their first
    exposure: ``user_id``, ``exposed_at``."""
    return f"(SELECT u.user_id, {_exposed_at(n_variants)} AS exposed_at FROM {source} u)"


def day_rows_sql(columns: Columns, units: str, lower: dt.datetime, end: dt.datetime) -> Query:
    """Per user and day in ``[lower, end)``: the ``days`` columns, of the events at or
    after the user's first exposure (``lower`` at or after the window's start); ``units``
    has ``user_id`` and ``exposed_at`` (:func:`units_exposed`)."""
    params: sql.Params = {}
    sums = ",\n  ".join(sql.aggregate_sums(columns.days, {"post": None}, params))
    text = f"""
SELECT e.user_id, CAST(e.ts AS DATE) AS day,
  {sums}
FROM events e
JOIN {units} u ON u.user_id = e.user_id
WHERE {sql.event_filter(columns.days, lower, end)}
  AND e.ts >= u.exposed_at
GROUP BY e.user_id, CAST(e.ts AS DATE)"""
    return Query(text, params)


def pre_rows_sql(columns: Columns, start: dt.datetime) -> Query:
    """Per user, the ``pre`` columns: counts and sums of the pre-period ``[pre_start,
    start)``, for every user with such events (exposed or not yet)."""
    assert columns.pre_start is not None
    params: sql.Params = {}
    sums = ",\n  ".join(sql.aggregate_sums(columns.pre, {"pre": None}, params))
    text = f"""
SELECT e.user_id,
  {sums}
FROM events e
WHERE {sql.event_filter(columns.pre, columns.pre_start, start)}
GROUP BY e.user_id"""
    return Query(text, params)


def judged_rows_sql(
    columns: Columns, lower: dt.datetime, end: dt.datetime, units: str | None
) -> str:
    """Per user, showing, position, judging event type and day in ``[lower, end)``: the
    first time of those events. With ``units`` (``user_id``, ``exposed_at``), the events
    at or after the user's first exposure (period ``post``); without, every user's (the
    pre-period, ``pre``)."""
    events = ", ".join(sql.literal(e) for e in columns.judging)
    source, after, period = "events e", "", "pre" if units is None else "post"
    if units is not None:
        source = f"events e\nJOIN {units} u ON u.user_id = e.user_id"
        after = "\n  AND e.ts >= u.exposed_at"
    return f"""
SELECT e.user_id, e.view_id, e.position, e.event_type, {sql.literal(period)} AS period,
  CAST(e.ts AS DATE) AS day, MIN(e.ts) AS first_ts
FROM {source}
WHERE e.event_type IN ({events}) AND e.view_id IS NOT NULL AND e.position IS NOT NULL
  AND e.ts >= {sql.ts_literal(lower)} AND e.ts < {sql.ts_literal(end)}{after}
GROUP BY e.user_id, e.view_id, e.position, e.event_type, CAST(e.ts AS DATE)"""


def total(a: Aggregate, expression: str) -> str:
    """A summed aggregate column, typed as the raw path types it (counts as integers)."""
    name = quote_ident(a.column)
    if a.how == "sum":
        return f"{expression} AS {name}"
    return f"CAST({expression} AS BIGINT) AS {name}"


def _q(a: Aggregate) -> str:
    return quote_ident(a.column)


def summed_days_sql(columns: Columns, days: str, where: str = "") -> str:
    """Per user, the ``days`` columns of the table ``days`` summed over the rows ``where``
    keeps."""
    sums = ", ".join(total(a, f"SUM(d.{_q(a)})") for a in columns.days)
    condition = f"\n  WHERE {where}" if where else ""
    return f"SELECT d.user_id, {sums}\n  FROM {days} d{condition}\n  GROUP BY d.user_id"


def unit_rows_sql(key: str, columns: Columns, source: str) -> str:
    """The state's ``units`` rows built from ``source`` (``user_id`` and ``at_*``): the
    derived unit columns, the ``days`` columns summed over all the stored days, and the
    pre-period columns."""
    ats = ", ".join(f"u.{c}" for c in at_columns(len(columns.variants)))
    post = ", ".join(f"COALESCE(p.{_q(a)}, 0) AS {_q(a)}" for a in columns.days)
    pre = ", ".join(f"COALESCE(q.{_q(a)}, 0) AS {_q(a)}" for a in columns.pre)
    listed = "".join(f", {c}" for c in (post, pre) if c)
    joins = []
    if columns.days:
        summed = summed_days_sql(columns, table(key, "days"))
        joins.append(f"LEFT JOIN ({summed}) p ON p.user_id = u.user_id")
    if columns.pre:
        joins.append(f"LEFT JOIN {table(key, 'pre')} q ON q.user_id = u.user_id")
    joined = "\n".join(joins)
    return f"""
SELECT u.user_id, {ats}, {unit_columns(columns)}{listed}
FROM {source} u
{joined}"""


# --------------------------------------------------------------------------- updates
def day_scan_sql(columns: Columns, lower: dt.datetime, end: dt.datetime) -> Query:
    """The one scan of the events of ``[lower, end)`` per user and day, with no join: the
    plain and filtered ``days`` columns, and ``first_ts``, the first event of the day
    among every type the state reads (plain, windowed, judging), so that every user with
    events in those days is found and every day with events before the exposure told."""
    params: sql.Params = {}
    plain = [a for a in columns.days if a.window is None]
    sums = "".join(f",\n  {c}" for c in sql.aggregate_sums(plain, {"post": None}, params))
    types = [*(a.event for a in columns.days), *columns.judging]
    return Query(
        f"""
SELECT e.user_id, CAST(e.ts AS DATE) AS day{sums},
  MIN(e.ts) AS first_ts
FROM events e
WHERE {sql.event_filter([], lower, end, tuple(types))}
GROUP BY e.user_id, CAST(e.ts AS DATE)""",
        params,
    )


def recount_sql(columns: Columns, pairs: str, lower: dt.datetime, end: dt.datetime) -> Query:
    """The plain and filtered ``days`` columns of the ``pairs`` (``user_id``, ``day``,
    ``exposed_at``: exposure days with events before the exposure), from their events at
    or after the exposure."""
    params: sql.Params = {}
    plain = [a for a in columns.days if a.window is None]
    sums = ",\n  ".join(sql.aggregate_sums(plain, {"post": None}, params))
    return Query(
        f"""
SELECT e.user_id, p.day,
  {sums}
FROM events e
JOIN {pairs} p ON p.user_id = e.user_id AND CAST(e.ts AS DATE) = p.day
WHERE {sql.event_filter(plain, lower, end)}
  AND e.ts >= p.exposed_at
GROUP BY e.user_id, p.day""",
        params,
    )


def windowed_rows_sql(columns: Columns, units: str, lower: dt.datetime, end: dt.datetime) -> Query:
    """The windowed ``days`` columns per user and day of ``[lower, end)``, for the
    ``units`` (``user_id``, ``exposed_at``) whose events they are."""
    params: sql.Params = {}
    windowed = [a for a in columns.days if a.window is not None]
    return Query(sql.windowed_sql(windowed, units, lower, end, params, by_day=True), params)


def new_unit_rows_sql(columns: Columns, key: str, tables: dict[str, str]) -> str:
    """The state's ``units`` rows of the users an update touched: their merged first
    exposures (``tables["nu"]``, with the derived columns), their stored totals
    (``old``) less the stored rows of the re-read days (``ox``) plus the new ones (``nx``),
    and for a new unit, its pre-period columns."""
    ats = ", ".join(f"n.{c}" for c in at_columns(len(columns.variants)))
    post = ", ".join(
        total(a, f"COALESCE(o.{_q(a)}, 0) - COALESCE(x.{_q(a)}, 0) + COALESCE(s.{_q(a)}, 0)")
        for a in columns.days
    )
    pre = ", ".join(
        f"CASE WHEN o.user_id IS NULL THEN COALESCE(q.{_q(a)}, 0) ELSE o.{_q(a)} END AS {_q(a)}"
        for a in columns.pre
    )
    listed = "".join(f", {c}" for c in (post, pre) if c)
    joins = [f"LEFT JOIN {tables['old']} o ON o.user_id = n.user_id"]
    if columns.days:
        summed = summed_days_sql(columns, tables["nx"])
        joins.append(f"LEFT JOIN {tables['ox']} x ON x.user_id = n.user_id")
        joins.append(f"LEFT JOIN ({summed}) s ON s.user_id = n.user_id")
    if columns.pre:
        joins.append(f"LEFT JOIN {table(key, 'pre')} q ON q.user_id = n.user_id")
    joined = "\n".join(joins)
    return f"""
SELECT n.user_id, {ats}, n.variant, n.exposed_at, n.exposed_day, n.mixed{listed}
FROM {tables["nu"]} n
{joined}"""


def totals_view_sql(key: str, columns: Columns) -> str:
    """``user_totals`` read straight from the state's ``units`` (for an analysis that ends
    where the state ends, with no ranking scores): the users exposed to one variant."""
    listed = "".join(f", u.{_q(a)}" for a in columns.every)
    return f"""
SELECT u.user_id, u.variant, u.exposed_day, u.exposed_at, u.mixed,
  CAST(NULL AS TIMESTAMP) AS first_ts{listed}
FROM {table(key, "units")} u
WHERE u.mixed = 0"""


def totals_with_scores_sql(key: str, columns: Columns, end: dt.datetime) -> str:
    """:func:`totals_view_sql` with the ranking scores, computed from ``judged``."""
    ranked = ranked_state_sql(columns.scores, table(key, "judged"), day_cut(end))
    listed = "".join(
        f", COALESCE(r.{_q(a)}, 0) AS {_q(a)}" if a in columns.scores else f", u.{_q(a)}"
        for a in columns.every
    )
    return f"""
SELECT u.user_id, u.variant, u.exposed_day, u.exposed_at, u.mixed,
  CAST(NULL AS TIMESTAMP) AS first_ts{listed}
FROM {table(key, "units")} u
LEFT JOIN ({ranked}
) r ON r.user_id = u.user_id
WHERE u.mixed = 0"""


def totals_from_state_sql(spec: ExperimentSpec, columns: Columns, end: dt.datetime) -> str:
    """``user_totals`` as the raw path builds it, from the state, for a window ending at
    ``end`` before the state's end (``--as-of``): every user first exposed before
    ``end``, their variant, first exposure and mixed flag as of ``end`` (from their first
    exposure to each variant), and their aggregates summed over the days before ``end``."""
    key, n = spec.key, len(columns.variants)
    cut = day_cut(end)
    ats = at_columns(n)
    as_of = ", ".join(f"CASE WHEN s.{c} < {sql.ts_literal(end)} THEN s.{c} END AS {c}" for c in ats)
    ctes = [
        f"""units AS (
  SELECT u.user_id, {unit_columns(columns)}
  FROM (SELECT s.user_id, {as_of} FROM {table(key, "units")} s) u
  WHERE {" OR ".join(f"u.{c} IS NOT NULL" for c in ats)}
)"""
    ]
    joins = []
    if columns.days:
        summed = summed_days_sql(columns, table(key, "days"), f"d.day < {_date(cut)}")
        ctes.append(f"post AS (\n  {summed}\n)")
        joins.append("LEFT JOIN post p ON p.user_id = u.user_id")
    if columns.pre:
        joins.append(f"LEFT JOIN {table(key, 'pre')} q ON q.user_id = u.user_id")
    if columns.scores:
        ctes.append(f"scored AS ({ranked_state_sql(columns.scores, table(key, 'judged'), cut)}\n)")
        joins.append("LEFT JOIN scored r ON r.user_id = u.user_id")
    source = {id(a): "p" for a in columns.days} | {id(a): "q" for a in columns.pre}
    source |= {id(a): "r" for a in columns.scores}
    totals = "".join(f",\n  COALESCE({source[id(a)]}.{_q(a)}, 0) AS {_q(a)}" for a in columns.every)
    with_ctes = ",\n".join(ctes)
    joined = "\n".join(joins)
    return f"""
WITH {with_ctes}
SELECT u.user_id, u.variant, u.exposed_day, u.exposed_at, u.mixed,
  CAST(NULL AS TIMESTAMP) AS first_ts{totals}
FROM units u
{joined}"""


def days_from_state_sql(spec: ExperimentSpec, columns: Columns, end: dt.datetime) -> str:
    """``user_days`` as the raw path builds it, from the state: per staged user (of
    ``user_totals``, which it joins) and day before ``end``, the post-exposure
    aggregates, with the user's variant and pre-period aggregates on every row. The
    ranking scores come in rows of their own (the other columns 0), as in the raw path."""
    key, cut = spec.key, day_cut(end)
    post = [a for a in columns.every if a.period == "post"]
    carried = ", ".join(
        ["u.variant", *(f"u.{quote_ident(a.column)}" for a in columns.every if a.period == "pre")]
    )

    def values(step: list[Aggregate], source: str) -> str:  # the step's columns, 0 for others
        return ", ".join(
            f"{source}.{quote_ident(a.column)}" if a in step else f"0 AS {quote_ident(a.column)}"
            for a in post
        )

    parts = []
    if columns.days:
        parts.append(
            f"SELECT d.user_id, d.day, {values(columns.days, 'd')}, {carried}\n"
            f"FROM {table(key, 'days')} d\nJOIN {sql.USER_TOTALS} u ON u.user_id = d.user_id\n"
            f"WHERE d.day < {_date(cut)}"
        )
    post_scores = [a for a in columns.scores if a.period == "post"]
    if post_scores:
        ranked = ranked_state_sql(post_scores, table(key, "judged"), cut, by_day=True)
        parts.append(
            f"SELECT x.user_id, x.day, {values(post_scores, 'x')}, {carried}\n"
            f"FROM ({ranked}\n) x\nJOIN {sql.USER_TOTALS} u ON u.user_id = x.user_id"
        )
    if not parts:
        listed = "".join(f", 0 AS {quote_ident(a.column)}" for a in post)
        parts.append(
            f"SELECT u.user_id, u.exposed_day AS day{listed}, {carried}\n"
            f"FROM {sql.USER_TOTALS} u WHERE 1 = 0"
        )
    return "\nUNION ALL\n".join(parts)
