"""The analyzer's SQL: from exposures and events to per-variant moments.

Written in portable, standard SQL (CTEs, window functions, ``CASE``,
``GROUP BY``, ``PERCENTILE_CONT ... WITHIN GROUP``) so that it can run, through
sqlglot, on a warehouse. The plan:

1. ``units``: each user's first exposure (users exposed to more than one
   variant are flagged, counted and dropped), variants read as their index in
   the spec (integer ``MIN``/``MAX`` are cheaper than string ones);
2. ``user_totals``: ONE scan of ``events`` grouped by user, with no join: per
   user, the counts and value sums of the event types the metrics read in the
   analysis window (and, for CUPED, in the pre-period). These per-user rows are
   then joined to the units, in the same statement (measured: about 5% faster than
   storing the units first). For a user whose events in the window all come at
   or after their first exposure (the module's events start with the module's
   exposure), the window totals are the post-exposure totals; the few users
   with events before their exposure (an exposure logged late, clock skew) are
   then recounted from their own events with the exposure time
   (:func:`recounted_totals_sql`), a step the analyzer skips when there are
   none. Joining the aggregated rows instead of every event to the exposures is
   what keeps the analysis close to the cost of a bare ``GROUP BY`` over the
   events;
3. per user (:func:`per_user_sql`, a subquery, never stored): each metric's
   variables (numerator, denominator, pre-period covariates), winsorized at
   fixed or percentile caps;
4. moments ``GROUP BY variant`` (or variant and segment, or variant and day):
   ``COUNT(*)``, ``SUM(x)`` and ``SUM(x * y)`` — the sufficient statistics the
   stats engine takes. Every per-user and moment column is named by the
   metric's :class:`~abtest.analysis.moments.MetricMoments`, which also reads
   the results back.

The day-by-day cumulative series reads ``user_days`` (per user and day, the
post-exposure aggregates, built the same way), made only when that series is
asked for.

Identifiers that come from YAML (metric, event and segment names) are
validated by the spec and quoted here; values are bound as parameters or
escaped literals, never pasted raw.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

from abtest.analysis.moments import MetricMoments, N
from abtest.spec import ExperimentSpec, MetricDefinition
from abtest.store import quote_ident

USER_DAYS = "__looklift_user_days"
USER_TOTALS = "__looklift_user_totals"


def literal(value: str) -> str:
    """A SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def ts_literal(value: dt.datetime) -> str:
    return f"TIMESTAMP {literal(value.isoformat(sep=' '))}"


def segment_value_column(i: int) -> str:
    """The column of :func:`moments_by_segments_sql` holding a row's value of segment ``i``."""
    return f"value|{i}"


def segment_grouped_column(i: int) -> str:
    """The column of :func:`moments_by_segments_sql` that is 0 in the rows of segment ``i``."""
    return f"grouped|{i}"


def _event_column(event: str, aggregate: str, period: str) -> str:
    return f"{period}__{event}__{aggregate}"


Aggregate = tuple[str, str, str]
"""One per-user aggregate column: (event type, ``count`` or ``sum``, ``post`` or ``pre``)."""


def _event_aggregates(
    spec: ExperimentSpec, pre_start: dt.datetime | None
) -> tuple[list[Aggregate], dt.datetime | None]:
    """The distinct aggregates the metrics read, and the pre-period start they need.

    Every metric's events after exposure (``post``); with ``pre_start``, the
    events of the CUPED-adjusted metrics in the pre-period (``pre``). The
    pre-period start is ``None`` when no metric reads it.
    """
    out: dict[Aggregate, None] = {}
    for _, name in spec.metrics.all() if spec.metrics else []:
        m = spec.metric(name)
        for part in (m.numerator, m.denominator):
            if part is None:
                continue
            out[(part.event, part.aggregate, "post")] = None
            if pre_start is not None and m.cuped:
                out[(part.event, part.aggregate, "pre")] = None
    aggregates = list(out)
    uses_pre = any(period == "pre" for _, _, period in aggregates)
    return aggregates, (pre_start if uses_pre else None)


def units_sql(spec: ExperimentSpec, start: dt.datetime, end: dt.datetime) -> str:
    """First exposure per user within the window; multi-variant users flagged.

    One ``GROUP BY user_id`` over the exposures, each variant read as its index
    in the spec: a user who saw one variant has it as both ``MIN`` and ``MAX``,
    and ``MIN(ts)`` is their first exposure. A user who saw several
    (``mixed = 1``) is excluded from every metric, so their ``variant`` (here
    the first of theirs in the spec's order) is never read.
    """
    names = list(spec.variant_names)
    variants = ", ".join(literal(v) for v in names)
    code = " ".join(f"WHEN {literal(v)} THEN {i}" for i, v in enumerate(names))
    name = " ".join(f"WHEN {i} THEN {literal(v)}" for i, v in enumerate(names))
    return f"""
SELECT x.user_id, CASE MIN(x.code) {name} END AS variant, MIN(x.ts) AS exposed_at,
       CAST(MIN(x.ts) AS DATE) AS exposed_day,
       CASE WHEN MIN(x.code) <> MAX(x.code) THEN 1 ELSE 0 END AS mixed
FROM (
  SELECT user_id, ts, CASE variant {code} END AS code
  FROM exposures
  WHERE experiment = {literal(spec.key)}
    AND ts >= {ts_literal(start)} AND ts < {ts_literal(end)}
    AND variant IN ({variants})
) x
GROUP BY x.user_id"""


def _sums(
    aggregates: list[Aggregate], periods: dict[str, str | None], source: str = "e"
) -> list[str]:
    """Each aggregate: the count or value sum of an event type in a period (name: condition).

    ``COUNT(CASE WHEN ... THEN 1 END)`` and ``SUM(CASE WHEN ... THEN value END)``
    rather than summing ``CASE ... ELSE 0``: the same numbers (missing values add
    nothing), and DuckDB aggregates them about a quarter faster (measured). A
    period without a condition is every row the query's ``WHERE`` keeps.
    """
    cols = []
    for event, aggregate, period in aggregates:
        when = periods[period]
        cond = f"{source}.event_type = {literal(event)}" + (f" AND {when}" if when else "")
        name = quote_ident(_event_column(event, aggregate, period))
        if aggregate == "count":
            cols.append(f"COUNT(CASE WHEN {cond} THEN 1 END) AS {name}")
        else:
            cols.append(f"COALESCE(SUM(CASE WHEN {cond} THEN {source}.value END), 0) AS {name}")
    return cols


def _event_filter(aggregates: list[Aggregate], lower: dt.datetime, end: dt.datetime) -> str:
    """The rows every aggregate reads: the metrics' event types in ``[lower, end)``."""
    events = ", ".join(literal(e) for e in dict.fromkeys(e for e, _, _ in aggregates))
    return (
        f"e.ts >= {ts_literal(lower)} AND e.ts < {ts_literal(end)}\n"
        f"  AND e.event_type IN ({events})"
    )


def _periods(
    start: dt.datetime, pre_start: dt.datetime | None, post_from: str | None
) -> dict[str, str | None]:
    """(name, condition) of the post-exposure period and, with CUPED, the pre-period.

    The conditions assume :func:`_event_filter`'s window (from ``pre_start``, or
    ``start`` without CUPED, to the end): the pre-period is then what comes
    before ``start``, and the post-exposure period what comes from
    ``post_from`` (an exposure time, never before ``start``; ``None`` for
    ``start`` itself). Fewer comparisons per event than spelling both bounds,
    which the one scan of the events pays for on every row.
    """
    begin = ts_literal(start)
    if post_from is None:
        post = f"e.ts >= {begin}" if pre_start is not None else None
    else:
        post = f"e.ts >= {post_from}"
    periods = {"post": post}
    if pre_start is not None:
        periods["pre"] = f"e.ts < {begin}"
    return periods


def user_days_sql(
    spec: ExperimentSpec,
    start: dt.datetime,
    end: dt.datetime,
    pre_start: dt.datetime | None,
    late_users: bool,
) -> str:
    """Per exposed user and day, the post-exposure aggregates the metrics need.

    As for :func:`user_totals_sql`: one scan of ``events`` grouped by user and
    day, with no join, kept for the users whose events in the window all come
    at or after their first exposure (``first_ts >= exposed_at``); with
    ``late_users``, the users with events before their exposure get their days
    from their own events joined to the exposure time. It must be built
    before those users' totals are recounted (which clears ``first_ts``). A row
    exists only for a day with post-exposure events. Each row also carries the
    user's variant and, with ``pre_start``, their pre-period aggregates (from
    ``user_totals``), which the day-by-day series needs with every row.
    """
    every, _ = _event_aggregates(spec, pre_start)
    aggregates = [a for a in every if a[2] == "post"]
    names = ", ".join(f"s.{quote_ident(_event_column(*a))}" for a in aggregates)
    carried = ", ".join(
        ["u.variant", *(f"u.{quote_ident(_event_column(*a))}" for a in every if a[2] == "pre")]
    )
    sums = ",\n    ".join(_sums(aggregates, {"post": None}))
    query = f"""
WITH scanned AS (
  SELECT e.user_id, CAST(e.ts AS DATE) AS day,
    {sums}
  FROM events e
  WHERE {_event_filter(aggregates, start, end)}
  GROUP BY e.user_id, CAST(e.ts AS DATE)
)
SELECT s.user_id, s.day, {names}, {carried}
FROM scanned s
JOIN {USER_TOTALS} u ON u.user_id = s.user_id
WHERE u.first_ts >= u.exposed_at"""
    if not late_users:
        return query
    return f"""{query}
UNION ALL
SELECT u.user_id, CAST(e.ts AS DATE) AS day,
    {sums},
    {carried}
FROM {USER_TOTALS} u
JOIN events e ON e.user_id = u.user_id
WHERE u.first_ts < u.exposed_at AND e.ts >= u.exposed_at
  AND {_event_filter(aggregates, start, end)}
GROUP BY u.user_id, CAST(e.ts AS DATE), {carried}"""


def user_events_sql(
    spec: ExperimentSpec, start: dt.datetime, end: dt.datetime, pre_start: dt.datetime | None
) -> str:
    """The one scan of ``events``: per user, their aggregates over the window, without a join.

    Totals over the whole window ``[start, end)`` (as ``post__`` columns), over
    the pre-period, and ``first_ts``, the time of the user's first event in the
    window, for every user with events (exposed or not).
    """
    aggregates, pre_start = _event_aggregates(spec, pre_start)
    lower = pre_start if pre_start is not None else start
    first = "e.ts" if pre_start is None else f"CASE WHEN e.ts >= {ts_literal(start)} THEN e.ts END"
    window = ",\n  ".join(
        [*_sums(aggregates, _periods(start, pre_start, None)), f"MIN({first}) AS first_ts"]
    )
    return f"""
SELECT e.user_id,
  {window}
FROM events e
WHERE {_event_filter(aggregates, lower, end)}
GROUP BY e.user_id"""


def user_totals_sql(
    spec: ExperimentSpec, start: dt.datetime, end: dt.datetime, pre_start: dt.datetime | None
) -> str:
    """Every exposed user once, with their aggregates over the window.

    ``units`` are the first exposures (:func:`units_sql`; users exposed to
    several variants have ``mixed = 1``, for the analyzer to count and drop),
    ``scanned`` the per-user aggregates of the events (:func:`user_events_sql`).
    Joined to the units, users without events get zeros. Where ``first_ts`` is
    at or after the first exposure (or there is none), the window totals are
    the post-exposure totals; the other users' rows are replaced with
    :func:`recounted_totals_sql`.
    """
    aggregates, _ = _event_aggregates(spec, pre_start)
    totals = ",\n  ".join(
        f"COALESCE(s.{quote_ident(c)}, 0) AS {quote_ident(c)}"
        for c in (_event_column(*a) for a in aggregates)
    )
    return f"""
WITH units AS ({units_sql(spec, start, end)}
),
scanned AS ({user_events_sql(spec, start, end, pre_start)}
)
SELECT u.user_id, u.variant, u.exposed_day, u.exposed_at, u.mixed, s.first_ts,
  {totals}
FROM units u
LEFT JOIN scanned s ON s.user_id = u.user_id"""


def late_exposures_sql() -> str:
    """How many users of ``user_totals`` have events in the window before their exposure."""
    return f"SELECT COUNT(*) FROM {USER_TOTALS} WHERE first_ts < exposed_at"


def recounted_totals_sql(
    spec: ExperimentSpec, start: dt.datetime, end: dt.datetime, pre_start: dt.datetime | None
) -> str:
    """The exact totals of the users with events before their exposure, from their events.

    Rows with ``user_totals``' columns (``first_ts`` left empty), to insert in
    place of those users' window totals: events joined to the exposure time,
    for these users only.
    """
    aggregates, pre_start = _event_aggregates(spec, pre_start)
    lower = pre_start if pre_start is not None else start
    exact = ",\n  ".join(_sums(aggregates, _periods(start, pre_start, "u.exposed_at")))
    return f"""
SELECT u.user_id, u.variant, u.exposed_day, u.exposed_at, u.mixed,
  CAST(NULL AS TIMESTAMP) AS first_ts,
  {exact}
FROM {USER_TOTALS} u
JOIN events e ON e.user_id = u.user_id
WHERE u.first_ts < u.exposed_at AND {_event_filter(aggregates, lower, end)}
GROUP BY u.user_id, u.variant, u.exposed_day, u.exposed_at, u.mixed"""


def _column(name: str) -> str:
    """An aggregate column of the per-user row, alias ``d``."""
    return f"d.{quote_ident(name)}"


def _per_user_value(
    m: MetricDefinition,
    part: str,
    period: str,
    cap: str | None,
    column: Callable[[str], str] = _column,
) -> str:
    """The per-user value of a metric's numerator or denominator from summed aggregates."""
    ev = m.numerator if part in ("x", "num") else m.denominator
    assert ev is not None
    raw = f"COALESCE({column(_event_column(ev.event, ev.aggregate, period))}, 0)"
    if m.kind == "proportion":
        return f"CAST(CASE WHEN {raw} > 0 THEN 1 ELSE 0 END AS DOUBLE PRECISION)"
    value = f"CAST({raw} AS DOUBLE PRECISION)"
    if cap is not None and part in ("x", "num"):
        value = f"LEAST({value}, {cap})"
    return value


def _aggregate_columns(metrics: list[MetricMoments], period: str) -> list[str]:
    """The aggregate columns the metrics read in a period (``post``, or ``pre`` for CUPED)."""
    return sorted(
        {
            _event_column(p.event, p.aggregate, period)
            for mm in metrics
            if period == "post" or mm.metric_type.startswith("cuped")
            for p in (mm.metric.numerator, mm.metric.denominator)
            if p is not None
        }
    )


def _variable_columns(
    metrics: list[MetricMoments],
    caps: dict[str, float],
    column: Callable[[str], str] = _column,
    prefix: str = "",
) -> str:
    """``SELECT`` expressions of every metric variable, reading aggregates with ``column``.

    A variable ``pre_v`` is the pre-period value of ``v``; ``x`` and ``num`` read
    the numerator, ``den`` the denominator.
    """
    cols = []
    for mm in metrics:
        cap = caps.get(mm.name)
        # an infinite cap (a percentile of no users at all) caps nothing; 'inf' is no SQL
        cap_sql = None if cap is None or not math.isfinite(cap) else repr(float(cap))
        for variable in mm.kind.variables:
            period = "pre" if variable.startswith("pre_") else "post"
            part = variable.removeprefix("pre_")
            expr = _per_user_value(mm.metric, part, period, cap_sql, column)
            cols.append(f"{expr} AS {quote_ident(prefix + mm.column(variable))}")
    return ",\n  ".join(cols)


def per_user_sql(metrics: list[MetricMoments], caps: dict[str, float]) -> str:
    """Every exposed user once, with each metric's variables (0 for users with no events).

    A projection of ``user_totals``, read as a subquery by the moments queries
    rather than stored: writing it would cost more than computing it again.
    """
    return f"""
SELECT d.user_id, d.variant, d.exposed_day,
  {_variable_columns(metrics, caps)}
FROM {USER_TOTALS} d"""


def percentile_cap_sql(metric: MetricDefinition) -> str:
    """The pooled percentile (over exposed users) of a metric's per-user numerator."""
    assert metric.winsorize is not None and metric.winsorize.percentile is not None
    column = quote_ident(_event_column(metric.numerator.event, metric.numerator.aggregate, "post"))
    return f"""
SELECT PERCENTILE_CONT({float(metric.winsorize.percentile)!r})
       WITHIN GROUP (ORDER BY COALESCE(d.{column}, 0))
FROM {USER_TOTALS} d"""


def moments_select(metrics: list[MetricMoments], source: str = "p") -> str:
    """``COUNT(*)``, sums and cross-products of every metric's variables (its moment columns)."""
    parts = [f"COUNT(*) AS {N}"]
    for mm in metrics:
        for m in mm.moments:
            product = f"{source}.{quote_ident(m.left)}"
            if m.right is not None:
                product += f" * {source}.{quote_ident(m.right)}"
            parts.append(f"SUM({product}) AS {quote_ident(m.column)}")
    return ",\n  ".join(parts)


def moments_by_variant_sql(metrics: list[MetricMoments], caps: dict[str, float]) -> str:
    """One row of moments per variant (``variant`` and the metrics' moment columns)."""
    return f"""
SELECT p.variant,
  {moments_select(metrics)}
FROM ({per_user_sql(metrics, caps)}) p
GROUP BY p.variant"""


def moments_by_segments_sql(
    metrics: list[MetricMoments], caps: dict[str, float], segments: list[str]
) -> str:
    """Moments per variant and value of each segment (a ``users`` column), in one pass.

    ``GROUPING SETS`` groups the per-user rows, joined once to ``users``, by
    variant and each segment in turn. A row's :func:`segment_value_column` is
    its value of segment ``i`` (as text), and :func:`segment_grouped_column` is
    0 in the rows of segment ``i`` (1 in the others), which tells a missing
    value from another segment's row.
    """
    columns = [f"s.{quote_ident(segment)}" for segment in segments]
    values = ",\n  ".join(
        f"CAST({c} AS VARCHAR) AS {quote_ident(segment_value_column(i))}, "
        f"GROUPING({c}) AS {quote_ident(segment_grouped_column(i))}"
        for i, c in enumerate(columns)
    )
    sets = ", ".join(f"(p.variant, {c})" for c in columns)
    return f"""
SELECT p.variant,
  {values},
  {moments_select(metrics)}
FROM ({per_user_sql(metrics, caps)}) p
JOIN users s ON s.user_id = p.user_id
GROUP BY GROUPING SETS ({sets})"""


def _steps_columns(metrics: list[MetricMoments]) -> tuple[str, str, str, Callable[[str], str]]:
    """The day-by-day query's per-user steps: entry and later rows, running totals.

    Returns the ``SELECT`` lists of the entry rows (from ``USER_TOTALS``) and of the
    later rows (from ``USER_DAYS``), the running sums per user, and how to read an
    aggregate as it was before a step (``d`` being a row of the running sums).
    """
    post = _aggregate_columns(metrics, "post")
    pre = _aggregate_columns(metrics, "pre")
    q = quote_ident
    # Days and steps are never NULL; NULLS FIRST is spelled out because engines disagree
    # on the default and BigQuery cannot express DuckDB's.
    order = "PARTITION BY s.user_id ORDER BY s.day NULLS FIRST, s.step NULLS FIRST"
    entry = ", ".join(
        ["t.user_id", "t.variant", "t.exposed_day AS day", "0 AS step"]
        + [f"0 AS {q(c)}" for c in post]
        + [f"t.{q(c)}" for c in pre]
    )
    later = ", ".join(
        ["ud.user_id", "ud.variant", "ud.day", "1 AS step"]
        + [f"ud.{q(c)}" for c in post]
        + [f"ud.{q(c)}" for c in pre]
    )
    window = f"OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    running = ",\n    ".join(
        ["s.variant"]
        + [f"SUM(s.{q(c)}) {window} AS {q(c)}" for c in post]
        + [f"s.{q(c)} AS {q('step|' + c)}" for c in post]
        + [f"s.{q(c)}" for c in pre]
    )

    def before(name: str) -> str:  # an aggregate before this step
        return f"(d.{q(name)} - d.{q('step|' + name)})" if name in post else f"d.{q(name)}"

    return entry, later, running, before


def _moment_changes(metrics: list[MetricMoments]) -> tuple[str, str]:
    """Each moment's change at a step (``GROUP BY variant, day``), and its running total.

    A step changes ``SUM(a)`` by ``a - step * before|a`` and ``SUM(a * b)`` by
    ``a * b - step * before|a * before|b`` (an entry step has ``step = 0``).
    """
    q = quote_ident
    terms = [f"SUM(1 - p.step) AS {N}"]  # each user enters once, on their exposure day
    for mm in metrics:
        for m in mm.moments:
            a = m.left
            if m.right is None:
                change = f"p.{q(a)} - p.step * p.{q('before|' + a)}"
            else:
                b = m.right
                change = (
                    f"p.{q(a)} * p.{q(b)} - p.step * p.{q('before|' + a)} * p.{q('before|' + b)}"
                )
            terms.append(f"SUM({change}) AS {q(m.column)}")
    names = [N] + [m.column for mm in metrics for m in mm.moments]
    accumulated = ",\n  ".join(f"SUM(c.{q(n)}) AS {q(n)}" for n in names)
    return ",\n  ".join(terms), accumulated


def moments_by_day_sql(
    metrics: list[MetricMoments], days: list[dt.date], caps: dict[str, float]
) -> str:
    """Cumulative moments at the end of each day: users exposed so far, their events so far.

    A user's values change only on their exposure day and on later days with
    events, so the sum over users of any per-user term ``f`` (a variable, or a
    product of two) at the end of day D is the sum, over those change days up
    to D, of how much ``f`` changed that day. ``steps`` holds those days: one
    entry row per exposed user (from ``USER_TOTALS``: variant, exposure day,
    pre-period covariates), first in the user's order, and their rows of
    ``USER_DAYS`` (post-exposure aggregates of one day, on or after the exposure
    day, with the same variant and covariates). A running sum per user gives the
    values after each step, the values before it are those minus the step's own
    aggregates, and the moments of the changes ``GROUP BY variant, day`` are then
    accumulated over the days. Rows: users plus user-days with events, not users
    times days (measured on 1M users over 14 days: 4.2M rows instead of 11M, the
    query 2.5x faster). Sums of changes equal the direct sums up to rounding
    (1e-12 relative).
    """
    day_rows = ", ".join(f"(DATE {literal(d.isoformat())})" for d in days)
    entry, later, running, before = _steps_columns(metrics)
    changes, accumulated = _moment_changes(metrics)
    return f"""
WITH days AS (
  SELECT d FROM (VALUES {day_rows}) AS t(d)
),
steps AS (
  SELECT {entry}
  FROM {USER_TOTALS} t
  UNION ALL
  SELECT {later}
  FROM {USER_DAYS} ud
),
cumulative AS (
  SELECT s.user_id, s.day, s.step,
    {running}
  FROM steps s
),
p AS (
  SELECT d.variant, d.day, d.step,
  {_variable_columns(metrics, caps)},
  {_variable_columns(metrics, caps, before, "before|")}
  FROM cumulative d
),
changes AS (
  SELECT p.variant, p.day,
  {changes}
  FROM p
  GROUP BY p.variant, p.day
)
SELECT c.variant, days.d AS day,
  {accumulated}
FROM changes c
JOIN days ON c.day <= days.d
GROUP BY c.variant, days.d"""
