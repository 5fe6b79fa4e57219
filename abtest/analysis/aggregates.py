"""The per-user aggregate columns the metrics read, and which of them each metric reads.

Every metric variable is computed from one or two per-user aggregates of events
(:class:`Aggregate`): a count or a sum of one event type in a period, optionally
restricted by a filter on the events' columns and by a window after the user's
first exposure, or a ranking score summed over the module's showings. Two
metrics that read the same aggregate share its column; an aggregate with a
filter, a window or other gains is another column, whose name carries a short
stable digest of what distinguishes it (``post__purchase__count__f3a91c0d2e7__w0_1440``).
The names are made of identifiers, digits and ``_`` only, and always quoted in SQL.

How the SQL computes them (:mod:`abtest.analysis.sql`): plain and filtered
counts and sums in the one scan of the events grouped by user; windowed ones in
a separate step that joins their events to the exposures; ranking scores in
:mod:`abtest.analysis.ranking`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from abtest.spec import ExperimentSpec, MetricDefinition
from abtest.spec.models import RANKING_KINDS, EventValue, Window

VIEW_FILTER: dict[str, Any] = {"position": 1, "view_id": {"$exists": True}}
"""The events that count a showing of the module: its impression at position 1.

Counting ``DISTINCT view_id`` over every impression would cost a hash of millions of
ids per analysis; the impression at position 1 is one per showing when, as in the
module's logs, every showing fills its list from the top. A showing whose first
slot was not logged is not counted (its taps still score)."""
POSITION_FILTER: dict[str, Any] = {"position": {"$exists": True}}
"""The taps ``tap_position`` averages: those with a position (taps on the module)."""
SCORES = ("ndcg", "mrr")
"""The aggregates that are ranking scores (summed over a user's showings)."""


def canonical(value: Any) -> str:
    """A filter or gains as canonical JSON text: equal conditions, equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(text: str) -> str:
    """A short stable digest of canonical text, for column names (11 hex digits)."""
    return hashlib.sha256(text.encode()).hexdigest()[:11]


class Aggregate(NamedTuple):
    """One per-user aggregate column."""

    event: str
    """The event type (for a ranking score: the view event, e.g. ``impression``)."""
    how: str
    """``count``, ``sum`` (of ``value``), ``position`` (sum of positions), or a ranking
    score: ``ndcg`` or ``mrr`` (summed over the user's showings)."""
    period: str
    """``post`` (after the first exposure, in the analysis window) or ``pre`` (CUPED)."""
    filter: str | None = None
    """The filter on the events' columns, as :func:`canonical` JSON."""
    window: tuple[int, int] | None = None
    """``(delay, within)`` in minutes after the first exposure."""
    gains: str | None = None
    """Of a ranking score: the gains by event type, as :func:`canonical` JSON."""
    k: int | None = None
    """Of a ranking score: the cutoff (``None``: the whole list, for ``mrr``)."""

    @property
    def column(self) -> str:
        """The aggregate's column name in the per-user tables."""
        how = f"{self.how}{self.k}" if self.k is not None else self.how
        name = f"{self.period}__{self.event}__{how}"
        if self.filter is not None:
            name += f"__f{digest(self.filter)}"
        if self.window is not None:
            name += f"__w{self.window[0]}_{self.window[1]}"
        if self.gains is not None:
            name += f"__g{digest(self.gains)}"
        return name

    @property
    def is_score(self) -> bool:
        """Whether this is a ranking score (computed by :mod:`abtest.analysis.ranking`)."""
        return self.how in SCORES

    @property
    def condition(self) -> Any:
        """The filter as a condition (``None`` without one)."""
        return None if self.filter is None else json.loads(self.filter)

    @property
    def gain_of(self) -> dict[str, float]:
        """Of a ranking score: the gain of each judging event type."""
        return {} if self.gains is None else json.loads(self.gains)


def _event_aggregate(ev: EventValue, period: str, window: Window | None) -> Aggregate:
    """The aggregate of a numerator or denominator of events, in ``period``."""
    return Aggregate(
        ev.event,
        ev.aggregate,
        period,
        filter=canonical(ev.filter) if ev.filter else None,
        window=window.key if window is not None else None,
    )


def parts(m: MetricDefinition, period: str) -> tuple[Aggregate, Aggregate | None]:
    """The aggregates of a metric's numerator and denominator in ``period``.

    ``ndcg`` / ``mrr``: the sum of the scores of the user's showings over the
    number of showings (:data:`VIEW_FILTER`); ``tap_position``: the sum of the taps'
    positions over the number of taps (:data:`POSITION_FILTER`).
    """
    if m.kind in RANKING_KINDS:
        r = m.ranking_events
        if m.kind == "tap_position":
            only = canonical(POSITION_FILTER)
            return (
                Aggregate(r.tap, "position", period, filter=only),
                Aggregate(r.tap, "count", period, filter=only),
            )
        score = Aggregate(r.view, m.kind, period, gains=canonical(r.gains), k=m.k)
        return score, Aggregate(r.view, "count", period, filter=canonical(VIEW_FILTER))
    assert m.numerator is not None
    num = _event_aggregate(m.numerator, period, m.window)
    den = None if m.denominator is None else _event_aggregate(m.denominator, period, m.window)
    return num, den


def reads_per_user(m: MetricDefinition) -> bool:
    """Whether a metric reads per-user aggregates (all but quantiles over events)."""
    return not (m.kind == "quantile" and m.quantile_over == "event")


def metric_aggregates(spec: ExperimentSpec, with_pre: bool) -> list[Aggregate]:
    """The distinct aggregates the spec's metrics read, in the order the metrics list them.

    Every metric's aggregates after exposure (``post``); with ``with_pre``, those of
    the CUPED-adjusted metrics in the pre-period too (``pre``).
    """
    out: dict[Aggregate, None] = {}
    for _, name in spec.metrics.all() if spec.metrics else []:
        m = spec.metric(name)
        if not reads_per_user(m):
            continue
        periods = ("post", "pre") if with_pre and m.cuped_applies else ("post",)
        for period in periods:
            for part in parts(m, period):
                if part is not None:
                    out[part] = None
    return list(out)
