"""Quantile metrics (``kind: quantile``): each variant's order statistics, from SQL.

A quantile is not a mean of per-user values, so it does not travel as moments:
for each variant, SQL counts the values and returns the quantile at ``nu`` and at
the two levels around it that GrowthBook's SQL fetches
(:func:`abtest.stats.quantile_levels`, from the variant's count), which become
gbstats' ``QuantileStatistic`` (:class:`~abtest.stats.QuantileStats`). The
values are the staged users' per-user values (``over: unit``; 0 for a user
without the event) or the individual events' values (``over: event``), as
:func:`abtest.analysis.sql.quantile_values_sql` and
:func:`~abtest.analysis.sql.quantile_events_sql` select them. Quantiles are
compared by :func:`abtest.stats.compare_quantiles` and, with the Bayesian
read-out, :func:`abtest.stats.compare_quantiles_bayesian`; they have no CUPED
and no day-by-day or segment breakdown.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from abtest.analysis import sql
from abtest.analysis.engine import Engine, as_engine, fetch_one
from abtest.analysis.filters import Query
from abtest.spec import ExperimentSpec, MetricDefinition
from abtest.stats import QuantileStats, quantile_levels
from abtest.store import Store


def quantile_metrics(spec: ExperimentSpec) -> list[MetricDefinition]:
    """The spec's quantile metrics, in group order (each once)."""
    seen: dict[str, MetricDefinition] = {}
    for _, name in spec.metrics.all() if spec.metrics else []:
        m = spec.metric(name)
        if m.kind == "quantile":
            seen.setdefault(name, m)
    return list(seen.values())


def _values(metric: MetricDefinition, window: tuple[dt.datetime, dt.datetime]) -> Query:
    """The ``(variant, value)`` rows the metric's quantile is taken over."""
    if metric.quantile_over == "event":
        return sql.quantile_events_sql(metric, *window)
    return Query(sql.quantile_values_sql(metric), {})


def variant_quantiles(
    engine: Engine | Store,
    spec: ExperimentSpec,
    metric: MetricDefinition,
    window: tuple[dt.datetime, dt.datetime],
) -> dict[str, QuantileStats]:
    """Each variant's :class:`QuantileStats` of ``metric``, from the staged tables.

    Two passes over the values: their count per variant (which sets the levels of
    the order statistics), then the three quantiles of each variant at once.
    """
    engine = as_engine(engine)
    values = _values(metric, window)
    nu = float(metric.quantile or 0.5)
    counts = dict(
        engine.fetch_all(
            f"SELECT variant, COUNT(value) FROM ({values.sql}) v GROUP BY variant",
            values.params,
        )
    )
    out = {}
    for variant in spec.variant_names:
        n = int(counts.get(variant, 0))
        n_star, low, high = quantile_levels(n, nu)
        if n == 0:
            out[variant] = QuantileStats(0, n_star, nu, 0.0, 0.0, 0.0)
            continue
        params: dict[str, Any] = {**values.params, "q_variant": variant}
        params |= {"q_levels": [nu, low, high]}
        (q,) = fetch_one(
            engine,
            f"SELECT quantile_cont(value, $q_levels) FROM ({values.sql}) v "
            "WHERE variant = $q_variant",
            params,
        ) or ((0.0, 0.0, 0.0),)
        hat, lower, upper = (float(x) for x in q)
        out[variant] = QuantileStats(n, n_star, nu, hat, lower, upper)
    return out
