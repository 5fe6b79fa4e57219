"""Online ranking quality of the module: nDCG@k and MRR of each showing, summed per user.

Each time a user sees the module (one ``view_id``), its impressions with their
positions are one ranked list; the events that carry the same ``view_id`` and
have a gain (taps 1, purchases 2 by default, see
:class:`abtest.spec.Ranking`) judge it, and the gain of a position is the
largest gain of the events at it. Per showing, with the definitions of
:mod:`offline_eval.metrics` (checked against ranx):

- ``ndcg@k``: linear gain, ``log2(position + 1)`` discount; the ideal DCG ranks
  *all* the showing's engaged positions by gain and cuts at k;
- ``mrr@k``: one over the first engaged position, 0 when it is beyond ``k``
  (without ``k``: the whole list). An engaged position is one with a gain, so a
  purchase counts as a tap would (in the module's logs every purchase follows a
  tap at its position).

A showing without engagement scores 0 and still counts: it is in the
denominator, the number of the user's showings
(:data:`abtest.analysis.aggregates.VIEW_FILTER`), which the one scan of the
events counts. The numerator reads only the judging events (taps and purchases
with a ``view_id`` and a position: a few percent of the events): grouped by
showing and position, then by showing, then by user. Like the one scan, it
reads the window without joining the exposures (every judging event of the
window counts); the one scan's first event time covers the judging events'
types, so that the few users with events before their exposure are found and
recounted from their own events joined to the exposure time (:func:`ranked_sql`
with ``units``). A showing whose
events straddle the start or the exposure is scored on the part that counts.

The ideal DCG needs no sort: the engaged positions of a showing ranked by gain
fill the top ranks level by level, so it is, per distinct gain (highest
first), the gain times the discounts of the ranks that level fills
(:func:`_ideal`), from the number of positions at each level.

In the day-by-day series, a showing's score belongs to the day of its first
judging event.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from abtest.analysis.aggregates import Aggregate
from abtest.store import quote_ident


def _literal(value: str) -> str:
    """A SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _ts(value: dt.datetime) -> str:
    """A SQL timestamp literal."""
    return f"TIMESTAMP {_literal(value.isoformat(sep=' '))}"


def _double(x: float) -> str:
    """A double literal (``1.5e0``): plain ``1.5`` would be a DECIMAL, slower to compute with."""
    return f"{x!r}e0" if "e" not in repr(x) else repr(x)


def _discounts(ranks: str, k: int) -> str:
    """``sum(1 / log2(i + 1) for i in 1..min(ranks, k))``: the discounts of the top ranks,
    as a ``CASE`` over precomputed sums (``ranks`` a non-negative integer expression)."""
    total, arms = 0.0, []
    for i in range(1, k + 1):
        total += 1.0 / math.log2(i + 1)
        arms.append(f"WHEN {i} THEN {_double(total)}")
    return f"(CASE LEAST({ranks}, {k}) {' '.join(arms)} ELSE 0e0 END)"


def _levels(a: Aggregate) -> list[float]:
    """The distinct gains of a score's judging events, highest first."""
    return sorted(set(a.gain_of.values()), reverse=True)


def _ideal(a: Aggregate, k: int) -> str:
    """The ideal DCG@k of a showing (row ``v``) from its positions per gain level.

    Level ``l`` (the ``l``-th highest gain ``g_l``) fills the ranks after the higher
    levels' positions, so the ideal DCG is ``sum_l g_l * (D(C_l) - D(C_{l-1}))``, with
    ``C_l`` the positions of the first ``l`` levels and ``D(n)`` the discounts of the
    top ``min(n, k)`` ranks; regrouped, ``sum_l (g_l - g_{l+1}) * D(C_l)`` (``g_{L+1}
    = 0``), one ``D`` per level.
    """
    levels = _levels(a)
    terms, through = [], ""
    for level, gain in enumerate(levels):
        through = f"{through} + v.n{level}" if through else f"v.n{level}"
        step = gain - (levels[level + 1] if level + 1 < len(levels) else 0.0)
        terms.append(f"{_double(step)} * {_discounts(through, k)}")
    return " + ".join(terms)


def score_expression(a: Aggregate) -> str:
    """The score of one showing (a row ``v`` of :func:`_per_view`) for a score aggregate."""
    if a.how == "mrr":
        if a.k is None:
            return "1e0 / v.first_position"
        return f"CASE WHEN v.first_position <= {int(a.k)} THEN 1e0 / v.first_position ELSE 0e0 END"
    if a.k is None:
        raise ValueError("nDCG needs a cutoff k")
    return f"v.dcg{int(a.k)} / ({_ideal(a, int(a.k))})"


def _judged(
    group: Sequence[Aggregate],
    units: str | None,
    start: dt.datetime,
    end: dt.datetime,
    pre_start: dt.datetime | None,
    by_day: bool = False,
) -> str:
    """Engaged positions of every showing: user, view, position, gain (with ``pre_start``,
    the period, ``post`` or ``pre``; ``by_day``, the time of the first judging event).

    Read from the judging events of ``group`` (which share their gains); joined to
    ``units`` (``user_id``, ``exposed_at``), only those after the exposure count
    (``None``: every event of the window, as the one scan of the events counts
    them); ``pre_start`` adds the pre-period.
    """
    gains = group[0].gain_of
    events = ", ".join(_literal(e) for e in gains)
    gain = " ".join(f"WHEN {_literal(e)} THEN {_double(float(g))}" for e, g in gains.items())
    if pre_start is None:
        period, lower, counted = "", start, "e.ts >= u.exposed_at"
    else:
        period = f"CASE WHEN e.ts >= {_ts(start)} THEN 'post' ELSE 'pre' END"
        lower, counted = pre_start, f"(e.ts >= u.exposed_at OR e.ts < {_ts(start)})"
    source = "events e"
    if units is not None:
        source = f"{units} u\n    JOIN events e ON e.user_id = u.user_id"
    after = "" if units is None else f" AND {counted}"
    first = ", MIN(e.ts) AS first_ts" if by_day else ""
    period_column, period_key = (f", {period} AS period", f", {period}") if period else ("", "")
    return f"""
    SELECT e.user_id, e.view_id{period_column}, e.position,
      MAX(CASE e.event_type {gain} END) AS gain{first}
    FROM {source}
    WHERE e.event_type IN ({events}) AND e.view_id IS NOT NULL AND e.position IS NOT NULL
      AND e.ts >= {_ts(lower)} AND e.ts < {_ts(end)}{after}
    GROUP BY e.user_id, e.view_id{period_key}, e.position"""


def _per_view(group: Sequence[Aggregate], judged: str, by_day: bool, period: str) -> str:
    """One row per showing (and period, ``period`` being its column or ``''`` for the
    post-exposure period alone): what its scores need (first engaged position, DCG at
    each cutoff, engaged positions per gain level) and, ``by_day``, the day of its first
    judging event."""
    cutoffs = sorted({int(a.k) for a in group if a.how == "ndcg" and a.k is not None})
    columns = ["MIN(j.position) AS first_position"] if any(a.how == "mrr" for a in group) else []
    columns += [
        f"SUM(CASE WHEN j.position <= {k} THEN j.gain * {_double(math.log(2))} "
        f"/ LN(j.position + 1) ELSE 0e0 END) AS dcg{k}"
        for k in cutoffs
    ]
    if cutoffs:
        columns += [
            f"COUNT(CASE WHEN j.gain = {_double(gain)} THEN 1 END) AS n{level}"
            for level, gain in enumerate(_levels(group[0]))
        ]
    if by_day:
        columns.append("CAST(MIN(j.first_ts) AS DATE) AS day")
    listed = ",\n    ".join(columns)
    keys = "j.user_id, j.view_id" + (", j.period" if period else "")
    return f"""
  SELECT {keys},
    {listed}
  FROM ({judged}
  ) j
  GROUP BY {keys}"""


def _group_sql(
    group: Sequence[Aggregate],
    columns: Sequence[Aggregate],
    judged: str,
    needs_pre: bool,
    by_day: bool,
) -> str:
    """Per user (and day), the scores of ``group`` (which share their gains) from its
    engaged positions ``judged`` (:func:`_judged` or :func:`_judged_from_state`); 0 for
    the other ``columns``."""

    def total(a: Aggregate) -> str:  # an aggregate's per-user sum over its period's showings
        if a not in group:
            return f"0 AS {quote_ident(a.column)}"
        if not needs_pre:
            return f"SUM({score_expression(a)}) AS {quote_ident(a.column)}"
        return (
            f"SUM(CASE WHEN v.period = {_literal(a.period)} THEN {score_expression(a)} "
            f"ELSE 0e0 END) AS {quote_ident(a.column)}"
        )

    keys = "v.user_id, v.day" if by_day else "v.user_id"
    listed = ",\n  ".join(total(a) for a in columns)
    per_view = _per_view(group, judged, by_day, "period" if needs_pre else "")
    return f"""
SELECT {keys},
  {listed}
FROM ({per_view}
) v
GROUP BY {keys}"""


def _judged_from_state(
    group: Sequence[Aggregate], table: str, before: dt.date, needs_pre: bool, by_day: bool
) -> str:
    """:func:`_judged`'s rows from an experiment's ``judged`` state table (events already
    kept after each user's exposure, or in the pre-period), of the days before ``before``."""
    gains = group[0].gain_of
    events = ", ".join(_literal(e) for e in gains)
    gain = " ".join(f"WHEN {_literal(e)} THEN {_double(float(g))}" for e, g in gains.items())
    period_column, period_key = (", j.period", ", j.period") if needs_pre else ("", "")
    only_post = "" if needs_pre else " AND j.period = 'post'"
    first = ", MIN(j.first_ts) AS first_ts" if by_day else ""
    return f"""
    SELECT j.user_id, j.view_id{period_column}, j.position,
      MAX(CASE j.event_type {gain} END) AS gain{first}
    FROM {table} j
    WHERE j.event_type IN ({events}) AND j.day < DATE {_literal(before.isoformat())}{only_post}
    GROUP BY j.user_id, j.view_id{period_key}, j.position"""


def _grouped(scores: Sequence[Aggregate]) -> list[list[Aggregate]]:
    """The scores grouped by their gains (one pass over the judging events per group)."""
    groups: dict[str | None, list[Aggregate]] = {}
    for a in scores:
        groups.setdefault(a.gains, []).append(a)
    return list(groups.values())


def _summed(scores: Sequence[Aggregate], parts: list[str], by_day: bool) -> str:
    """The groups' per-user rows added up (one group: its rows as they are)."""
    if len(parts) == 1:
        return parts[0]
    keys = "r.user_id, r.day" if by_day else "r.user_id"
    sums = ",\n  ".join(
        f"SUM(r.{quote_ident(a.column)}) AS {quote_ident(a.column)}" for a in scores
    )
    union = "\n  UNION ALL\n".join(parts)
    return f"""
SELECT {keys},
  {sums}
FROM ({union}
) r
GROUP BY {keys}"""


def ranked_state_sql(
    scores: Sequence[Aggregate], table: str, before: dt.date, *, by_day: bool = False
) -> str:
    """:func:`ranked_sql` from an experiment's ``judged`` state table (see
    :mod:`abtest.analysis.state`): the same per-user (and per-day) scores, from the
    engaged positions the state kept on the days before ``before``."""
    parts = []
    for group in _grouped(scores):
        needs_pre = any(a.period == "pre" for a in group)
        judged = _judged_from_state(group, table, before, needs_pre, by_day)
        parts.append(_group_sql(group, scores, judged, needs_pre, by_day))
    return _summed(scores, parts, by_day)


def ranked_sql(
    scores: Sequence[Aggregate],
    units: str | None,
    start: dt.datetime,
    end: dt.datetime,
    pre_start: dt.datetime | None,
    *,
    by_day: bool = False,
) -> str:
    """Per user (``user_id``; with ``by_day`` also ``day``), each ranking score's sum over
    the user's showings, one column per aggregate of ``scores`` (named by it).

    ``units`` is a table, CTE or subquery of exposed users with ``user_id`` and
    ``exposed_at``: only their events after the exposure count. ``None`` reads the
    events without a join, as the one scan of the events does (every event of
    the window counts as after the exposure; the one scan's ``first_ts`` covers
    the judging events, so that the users with events before their exposure are
    recounted with ``units``). Scores that share their gains are computed from
    one pass over their judging events; scores with other gains in another, and
    the passes' rows are added up per user.
    """
    parts = []
    for group in _grouped(scores):
        needs_pre = any(a.period == "pre" for a in group)
        judged = _judged(group, units, start, end, pre_start if needs_pre else None, by_day)
        parts.append(_group_sql(group, scores, judged, needs_pre, by_day))
    return _summed(scores, parts, by_day)
