"""The analyzer's SQL: from exposures and events to per-variant moments.

Written in portable, standard SQL (CTEs, window functions, ``CASE``,
``GROUP BY``, ``PERCENTILE_CONT ... WITHIN GROUP``) so that it can run, through
sqlglot, on a warehouse. The plan:

1. ``units``: each user's first exposure (users exposed to more than one
   variant are dropped and counted);
2. ``user_days``: ONE scan of ``events``: per user and day, the counts and value
   sums of the event types the metrics read, after the user's exposure (and,
   for CUPED, in the pre-period);
3. ``per_user``: each metric's per-user variables (numerator, denominator,
   pre-period covariates), winsorized at fixed or percentile caps;
4. moments ``GROUP BY variant`` (or variant and segment, or variant and day):
   ``COUNT(*)``, ``SUM(x)`` and ``SUM(x * y)`` — the sufficient statistics the
   stats engine takes.

Identifiers that come from YAML (metric, event and segment names) are
validated by the spec and quoted here; values are bound as parameters or
escaped literals, never pasted raw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from abtest.spec import ExperimentSpec, MetricDefinition
from abtest.store import quote_ident

USER_DAYS = "__looklift_user_days"
PER_USER = "__looklift_per_user"
UNITS = "__looklift_units"


def literal(value: str) -> str:
    """A SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def ts_literal(value: dt.datetime) -> str:
    return f"TIMESTAMP {literal(value.isoformat(sep=' '))}"


@dataclass(frozen=True)
class MetricVariables:
    """The per-user variables of one metric, in the stats engine's order."""

    metric: MetricDefinition
    metric_type: str  # mean | proportion | ratio | cuped_mean | cuped_ratio
    columns: tuple[str, ...]  # column names in PER_USER


def _event_column(event: str, aggregate: str, period: str) -> str:
    return f"{period}__{event}__{aggregate}"


def metric_variables(spec: ExperimentSpec, cuped: bool) -> list[MetricVariables]:
    """Which per-user variables each metric of ``spec`` needs, in group order."""
    out = []
    seen: set[str] = set()
    for _, name in spec.metrics.all() if spec.metrics else []:
        if name in seen:
            continue
        seen.add(name)
        m = spec.metric(name)
        if m.kind == "ratio":
            base = ["num", "den"]
            kind = "ratio"
        else:
            base = ["x"]
            kind = m.kind
        if cuped:
            kind = "cuped_ratio" if m.kind == "ratio" else "cuped_mean"
            base = base + [f"pre_{b}" for b in base]
        out.append(MetricVariables(m, kind, tuple(f"{name}__{b}" for b in base)))
    return out


def _event_aggregates(spec: ExperimentSpec) -> list[tuple[str, str]]:
    """Distinct (event type, aggregate) pairs the metrics read."""
    pairs: dict[tuple[str, str], None] = {}
    for _, name in spec.metrics.all() if spec.metrics else []:
        m = spec.metric(name)
        for part in (m.numerator, m.denominator):
            if part is not None:
                pairs[(part.event, part.aggregate)] = None
    return list(pairs)


def units_sql(spec: ExperimentSpec, start: dt.datetime, end: dt.datetime) -> str:
    """First exposure per user within the window; multi-variant users flagged."""
    variants = ", ".join(literal(v) for v in spec.variant_names)
    return f"""
SELECT user_id, variant, exposed_at, CAST(exposed_at AS DATE) AS exposed_day, mixed
FROM (
  SELECT user_id, variant, ts AS exposed_at,
         ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts, variant) AS rn,
         CASE WHEN MIN(variant) OVER (PARTITION BY user_id)
                   <> MAX(variant) OVER (PARTITION BY user_id) THEN 1 ELSE 0 END AS mixed
  FROM exposures
  WHERE experiment = {literal(spec.key)}
    AND ts >= {ts_literal(start)} AND ts < {ts_literal(end)}
    AND variant IN ({variants})
) ranked
WHERE rn = 1"""


def user_days_sql(
    spec: ExperimentSpec, start: dt.datetime, end: dt.datetime, pre_start: dt.datetime | None
) -> str:
    """One scan of events: per user and day, the aggregates the metrics need.

    Post-exposure events are dated by their day; pre-period events all fall on
    the day before the start and land in separate ``pre__`` columns.
    """
    pairs = _event_aggregates(spec)
    events = ", ".join(literal(e) for e in dict.fromkeys(e for e, _ in pairs))
    post = "e.ts >= u.exposed_at AND e.ts < " + ts_literal(end)
    cols = []
    for event, aggregate in pairs:
        value = "1" if aggregate == "count" else "COALESCE(e.value, 0)"
        cond = f"e.event_type = {literal(event)}"
        cols.append(
            f"SUM(CASE WHEN {cond} AND {post} THEN {value} ELSE 0 END) "
            f"AS {quote_ident(_event_column(event, aggregate, 'post'))}"
        )
        if pre_start is not None:
            pre = f"e.ts >= {ts_literal(pre_start)} AND e.ts < {ts_literal(start)}"
            cols.append(
                f"SUM(CASE WHEN {cond} AND {pre} THEN {value} ELSE 0 END) "
                f"AS {quote_ident(_event_column(event, aggregate, 'pre'))}"
            )
    lower = ts_literal(pre_start if pre_start is not None else start)
    select = ",\n  ".join(cols)
    return f"""
SELECT u.user_id, u.variant, CAST(e.ts AS DATE) AS day,
  {select}
FROM {UNITS} u
JOIN events e ON e.user_id = u.user_id
WHERE u.mixed = 0 AND e.ts >= {lower} AND e.ts < {ts_literal(end)}
  AND e.event_type IN ({events})
GROUP BY u.user_id, u.variant, CAST(e.ts AS DATE)"""


def _per_user_value(m: MetricDefinition, part: str, period: str, cap: str | None) -> str:
    """The per-user value of a metric's numerator or denominator from summed aggregates."""
    ev = m.numerator if part in ("x", "num") else m.denominator
    assert ev is not None
    raw = f"COALESCE(d.{quote_ident(_event_column(ev.event, ev.aggregate, period))}, 0)"
    if m.kind == "proportion":
        return f"CAST(CASE WHEN {raw} > 0 THEN 1 ELSE 0 END AS DOUBLE PRECISION)"
    value = f"CAST({raw} AS DOUBLE PRECISION)"
    if cap is not None and part in ("x", "num"):
        value = f"LEAST({value}, {cap})"
    return value


def _aggregate_columns(variables: list[MetricVariables], period: str) -> list[str]:
    """The ``USER_DAYS`` columns the metrics read in a period (``post`` or ``pre``)."""
    return sorted(
        {
            _event_column(p.event, p.aggregate, period)
            for mv in variables
            for p in (mv.metric.numerator, mv.metric.denominator)
            if p is not None
        }
    )


def _uses_pre(variables: list[MetricVariables]) -> bool:
    return any(mv.metric_type.startswith("cuped") for mv in variables)


def _variable_columns(variables: list[MetricVariables], caps: dict[str, float]) -> str:
    """``SELECT`` expressions of every metric variable, reading aggregates from alias ``d``."""
    cols = []
    for mv in variables:
        cap = caps.get(mv.metric.name)
        cap_sql = None if cap is None else repr(float(cap))
        for column in mv.columns:
            part = column.split("__", 1)[1]
            period = "pre" if part.startswith("pre_") else "post"
            expr = _per_user_value(mv.metric, part.removeprefix("pre_"), period, cap_sql)
            cols.append(f"{expr} AS {quote_ident(column)}")
    return ",\n  ".join(cols)


def _summed(columns: list[str]) -> str:
    return ", ".join(f"SUM({quote_ident(c)}) AS {quote_ident(c)}" for c in columns)


def per_user_sql(variables: list[MetricVariables], caps: dict[str, float]) -> str:
    """Every exposed user once, with each metric's variables (0 for users with no events)."""
    columns = _aggregate_columns(variables, "post")
    if _uses_pre(variables):
        columns += _aggregate_columns(variables, "pre")
    return f"""
SELECT u.user_id, u.variant, u.exposed_day,
  {_variable_columns(variables, caps)}
FROM {UNITS} u
LEFT JOIN (SELECT user_id, {_summed(columns)} FROM {USER_DAYS} GROUP BY user_id) d
  ON d.user_id = u.user_id
WHERE u.mixed = 0"""


def percentile_cap_sql(metric: MetricDefinition) -> str:
    """The pooled percentile (over exposed users) of a metric's per-user numerator."""
    assert metric.winsorize is not None and metric.winsorize.percentile is not None
    column = quote_ident(_event_column(metric.numerator.event, metric.numerator.aggregate, "post"))
    return f"""
SELECT PERCENTILE_CONT({float(metric.winsorize.percentile)!r})
       WITHIN GROUP (ORDER BY COALESCE(d.{column}, 0))
FROM {UNITS} u
LEFT JOIN (SELECT user_id, SUM({column}) AS {column} FROM {USER_DAYS} GROUP BY user_id) d
  ON d.user_id = u.user_id
WHERE u.mixed = 0"""


def moments_select(variables: list[MetricVariables], source: str = "p") -> str:
    """``COUNT(*)``, sums and cross-products of every metric's variables."""
    parts = ["COUNT(*) AS n"]
    for mv in variables:
        cols = mv.columns
        for i, a in enumerate(cols):
            parts.append(f"SUM({source}.{quote_ident(a)}) AS {quote_ident(f's|{a}')}")
            for b in cols[i:]:
                parts.append(
                    f"SUM({source}.{quote_ident(a)} * {source}.{quote_ident(b)}) "
                    f"AS {quote_ident(f'c|{a}|{b}')}"
                )
    return ",\n  ".join(parts)


def moments_by_variant_sql(variables: list[MetricVariables]) -> str:
    return f"""
SELECT p.variant,
  {moments_select(variables)}
FROM {PER_USER} p
GROUP BY p.variant"""


def moments_by_segment_sql(variables: list[MetricVariables], segment: str) -> str:
    seg = quote_ident(segment)
    return f"""
SELECT p.variant, CAST(s.{seg} AS VARCHAR) AS segment_value,
  {moments_select(variables)}
FROM {PER_USER} p
JOIN users s ON s.user_id = p.user_id
GROUP BY p.variant, CAST(s.{seg} AS VARCHAR)"""


def moments_by_day_sql(
    variables: list[MetricVariables], days: list[dt.date], caps: dict[str, float]
) -> str:
    """Cumulative moments at the end of each day: users exposed so far, their events so far.

    Built from ``USER_DAYS`` with a running sum per user over a (user, day)
    grid, so it needs no second scan of ``events``.
    """
    day_rows = ", ".join(f"(DATE {literal(d.isoformat())})" for d in days)
    post = _aggregate_columns(variables, "post")
    # Days are never NULL; NULLS FIRST is spelled out because engines disagree on the
    # default and BigQuery cannot express DuckDB's.
    running = ",\n    ".join(
        f"SUM(COALESCE(ud.{quote_ident(c)}, 0)) OVER (PARTITION BY g.user_id "
        "ORDER BY g.day NULLS FIRST ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        f"AS {quote_ident(c)}"
        for c in post
    )
    pre_join, pre_cols = "", ""
    if _uses_pre(variables):
        pre = _aggregate_columns(variables, "pre")
        pre_join = (
            f"LEFT JOIN (SELECT user_id, {_summed(pre)} FROM {USER_DAYS} GROUP BY user_id) q "
            "ON q.user_id = c.user_id"
        )
        pre_cols = ", " + ", ".join(f"q.{quote_ident(c)}" for c in pre)
    return f"""
WITH days AS (
  SELECT d FROM (VALUES {day_rows}) AS t(d)
),
grid AS (
  SELECT u.user_id, u.variant, days.d AS day
  FROM {UNITS} u JOIN days ON days.d >= u.exposed_day
  WHERE u.mixed = 0
),
cumulative AS (
  SELECT g.user_id, g.variant, g.day,
    {running}
  FROM grid g
  LEFT JOIN {USER_DAYS} ud ON ud.user_id = g.user_id AND ud.day = g.day
),
p AS (
  SELECT d.variant, d.day,
  {_variable_columns(variables, caps)}
  FROM (SELECT c.*{pre_cols} FROM cumulative c {pre_join}) d
)
SELECT p.variant, p.day,
  {moments_select(variables)}
FROM p
GROUP BY p.variant, p.day"""
