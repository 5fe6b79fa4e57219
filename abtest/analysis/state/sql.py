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


def changed_units_sql(key: str, fresh: str, n_variants: int) -> str:
    """The stored users whose first exposures the ``fresh`` units (a table) change."""
    units = table(key, "units")
    changed = " OR ".join(
        f"u.{c} IS DISTINCT FROM LEAST(u.{c}, f.{c})" for c in at_columns(n_variants)
    )
    return f"""
SELECT f.user_id
FROM {fresh} f
JOIN {units} u ON u.user_id = f.user_id
WHERE {changed}"""


def merged_units_sql(key: str, fresh: str, changed: str, n_variants: int) -> str:
    """The rows to insert for the new users of ``fresh`` and the ``changed`` ones (a table of
    ``user_id``): the earlier of the stored and the fresh time per variant. Read before
    the changed users' stored rows are deleted."""
    units = table(key, "units")
    merged = ", ".join(f"LEAST(u.{c}, f.{c}) AS {c}" for c in at_columns(n_variants))
    return f"""
SELECT f.user_id, {merged}
FROM {fresh} f
LEFT JOIN {units} u ON u.user_id = f.user_id
WHERE u.user_id IS NULL OR f.user_id IN (SELECT c.user_id FROM {changed} c)"""


def _units_exposed(key: str, n_variants: int) -> str:
    """The state's units with their first exposure (``user_id``, ``exposed_at``)."""
    return (
        f"(SELECT u.user_id, {_exposed_at(n_variants)} AS exposed_at FROM {table(key, 'units')} u)"
    )


def day_rows_sql(
    spec: ExperimentSpec, columns: Columns, lower: dt.datetime, end: dt.datetime
) -> Query:
    """Per user and day in ``[lower, end)``: the ``days`` columns, of the events at or
    after the user's first exposure (``lower`` at or after the window's start)."""
    params: sql.Params = {}
    sums = ",\n  ".join(sql.aggregate_sums(columns.days, {"post": None}, params))
    listed = f",\n  {sums}" if sums else ""
    units = _units_exposed(spec.key, len(columns.variants))
    text = f"""
SELECT e.user_id, CAST(e.ts AS DATE) AS day{listed}
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
    listed = f",\n  {sums}" if sums else ""
    text = f"""
SELECT e.user_id{listed}
FROM events e
WHERE {sql.event_filter(columns.pre, columns.pre_start, start)}
GROUP BY e.user_id"""
    return Query(text, params)


def judged_rows_sql(
    spec: ExperimentSpec,
    columns: Columns,
    lower: dt.datetime,
    end: dt.datetime,
    period: str,
) -> str:
    """Per user, showing, position, judging event type and day in ``[lower, end)``: the
    first time of those events. ``post`` keeps the events at or after the user's first
    exposure; ``pre`` (the pre-period) every user's."""
    events = ", ".join(sql.literal(e) for e in columns.judging)
    source, after = "events e", ""
    if period == "post":
        units = _units_exposed(spec.key, len(columns.variants))
        source = f"events e\nJOIN {units} u ON u.user_id = e.user_id"
        after = "\n  AND e.ts >= u.exposed_at"
    return f"""
SELECT e.user_id, e.view_id, e.position, e.event_type, {sql.literal(period)} AS period,
  CAST(e.ts AS DATE) AS day, MIN(e.ts) AS first_ts
FROM {source}
WHERE e.event_type IN ({events}) AND e.view_id IS NOT NULL AND e.position IS NOT NULL
  AND e.ts >= {sql.ts_literal(lower)} AND e.ts < {sql.ts_literal(end)}{after}
GROUP BY e.user_id, e.view_id, e.position, e.event_type, CAST(e.ts AS DATE)"""


def _total(a: Aggregate, source: str) -> str:
    """A summed aggregate column, typed as the raw path types it (counts as integers)."""
    name = quote_ident(a.column)
    if a.how == "sum":
        return f"SUM({source}.{name}) AS {name}"
    return f"CAST(SUM({source}.{name}) AS BIGINT) AS {name}"


def totals_from_state_sql(spec: ExperimentSpec, columns: Columns, end: dt.datetime) -> str:
    """``user_totals`` as the raw path builds it, from the state, for a window ending at
    ``end`` (at most the state's end): every user first exposed before ``end``, their
    variant, first exposure and mixed flag as of ``end``, and their aggregates."""
    key, n = spec.key, len(columns.variants)
    cut = day_cut(end)
    ats = at_columns(n)
    as_of = ", ".join(f"CASE WHEN s.{c} < {sql.ts_literal(end)} THEN s.{c} END AS {c}" for c in ats)
    variant = " ".join(
        f"WHEN u.{c} IS NOT NULL THEN {sql.literal(v)}"
        for c, v in zip(ats, columns.variants, strict=True)
    )
    seen = " + ".join(f"CASE WHEN u.{c} IS NULL THEN 0 ELSE 1 END" for c in ats)
    ctes = [
        f"""units AS (
  SELECT u.user_id, CASE {variant} END AS variant, {_exposed_at(n)} AS exposed_at,
    CASE WHEN {seen} > 1 THEN 1 ELSE 0 END AS mixed
  FROM (SELECT s.user_id, {as_of} FROM {table(key, "units")} s) u
  WHERE {" OR ".join(f"u.{c} IS NOT NULL" for c in ats)}
)"""
    ]
    joins = []
    if columns.days:
        sums = ", ".join(_total(a, "d") for a in columns.days)
        ctes.append(
            f"post AS (\n  SELECT d.user_id, {sums}\n  FROM {table(key, 'days')} d\n"
            f"  WHERE d.day < {_date(cut)}\n  GROUP BY d.user_id\n)"
        )
        joins.append("LEFT JOIN post p ON p.user_id = u.user_id")
    if columns.pre:
        joins.append(f"LEFT JOIN {table(key, 'pre')} q ON q.user_id = u.user_id")
    if columns.scores:
        ctes.append(f"scored AS ({ranked_state_sql(columns.scores, table(key, 'judged'), cut)}\n)")
        joins.append("LEFT JOIN scored r ON r.user_id = u.user_id")
    source = {id(a): "p" for a in columns.days} | {id(a): "q" for a in columns.pre}
    source |= {id(a): "r" for a in columns.scores}
    totals = "".join(
        f",\n  COALESCE({source[id(a)]}.{quote_ident(a.column)}, 0) AS {quote_ident(a.column)}"
        for a in columns.every
    )
    with_ctes = ",\n".join(ctes)
    joined = "\n".join(joins)
    return f"""
WITH {with_ctes}
SELECT u.user_id, u.variant, CAST(u.exposed_at AS DATE) AS exposed_day, u.exposed_at, u.mixed,
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
