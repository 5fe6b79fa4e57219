"""Analyze an experiment: SQL where the data lives, numbers in the stats engine.

``analyze(store, spec)`` checks the store and the window (:mod:`.window`),
runs its SQL on the store's DuckDB or on another engine (:mod:`.engine`; Spark in
:mod:`.spark`),
stages the per-user tables (:mod:`.staging`), reads each metric's moments per
variant through its :class:`~abtest.analysis.moments.MetricMoments`, compares
every treatment with the control on every metric and corrects for multiple
testing (:mod:`.comparisons`), checks the health of the split (:mod:`.health`),
breaks lifts down by day and segment (:mod:`.breakdowns`), decides
(:mod:`.decision`), and returns a frozen
:class:`~abtest.analysis.result.AnalysisResult`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from abtest.analysis import sql
from abtest.analysis.breakdowns import daily_points, segment_points
from abtest.analysis.comparisons import (
    bayesian_settings,
    compare_variants,
    metric_infos,
    quantile_infos,
    quantile_values,
    spec_order,
    variant_values,
)
from abtest.analysis.decision import decide
from abtest.analysis.engine import Engine, as_engine, store_of
from abtest.analysis.health import health as split_health
from abtest.analysis.moments import MetricMoments, metric_moments
from abtest.analysis.quantiles import quantile_metrics, variant_quantiles
from abtest.analysis.result import AnalysisResult
from abtest.analysis.staging import fetch_rows, staged_tables
from abtest.analysis.state.reading import StateUse, state_use
from abtest.analysis.window import (
    AnalysisError,
    analysis_window,
    as_of_day,
    check_store,
    pre_period_start,
    require_exposures,
    segment_columns,
)
from abtest.spec import ExperimentSpec
from abtest.stats import Stats, Test
from abtest.store import Store

__all__ = ["AnalysisError", "analysis_window", "analyze", "variant_stats"]


def analyze(
    store: Store | Engine,
    spec: ExperimentSpec,
    *,
    as_of: dt.date | dt.datetime | None = None,
    segments: Sequence[str] | None = None,
    daily: bool = True,
    use_state: bool = True,
) -> AnalysisResult:
    """Analyze ``spec`` on the data in ``store``.

    ``as_of`` analyses the data up to the end of that day (as an analyst looking
    at a running experiment would). ``segments`` are ``users`` columns to break
    results down by (default: platform, country, is_new where present);
    ``daily`` adds the cumulative day-by-day series. The experiment's state
    (``looklift refresh``) is read instead of the raw tables when it is fresh and
    ``use_state``; the result's :attr:`~AnalysisResult.source` says which.

    ``store`` is a looklift store (DuckDB) or an :class:`~abtest.analysis.engine.Engine`
    (e.g. :class:`~abtest.analysis.spark.SparkEngine` on a user's ``SparkSession``):
    the same plan, the same numbers.
    """
    engine = as_engine(store)
    check_store(engine)
    if spec.metrics is None:
        raise AnalysisError(f"{spec.key!r} defines no metrics to analyze")
    window = analysis_window(spec, as_of, engine)
    require_exposures(engine, spec, *window)
    segment_names = segment_columns(engine, segments)
    settings = spec.analysis
    test: Test = "sequential" if settings.sequential else "welch"
    metrics = metric_moments(spec, settings.cuped_pre_period_days > 0)
    pre_start = pre_period_start(spec, window[0])
    duck = store_of(engine)
    state = (
        state_use(duck, spec, window, pre_start)
        if use_state and duck is not None
        else StateUse(None, None)
    )
    with staged_tables(
        engine, spec, metrics, window, pre_start, daily=daily, state=state.meta
    ) as staged:
        caps, open_windows = staged.caps, staged.open_windows
        rows = fetch_rows(engine, sql.moments_by_variant_sql(metrics, caps))
        by_variant = {r["variant"]: r for r in rows}
        health = split_health(engine, spec, window, staged.mixed_users)
        quantiles = {
            m.name: variant_quantiles(engine, spec, m, window) for m in quantile_metrics(spec)
        }
        infos = metric_infos(spec, metrics, caps) + quantile_infos(spec, quantile_metrics(spec))
        values = variant_values(spec, metrics, by_variant) + quantile_values(spec, quantiles)
        comparisons = compare_variants(spec, metrics, infos, by_variant, test, quantiles)
        order = spec_order(spec)
        infos.sort(key=lambda i: order[i.name])
        daily_series = daily_points(engine, spec, metrics, window, caps, test) if daily else ()
        by_segment = segment_points(engine, spec, metrics, caps, segment_names, test)
    result = AnalysisResult(
        experiment=spec.key,
        description=spec.description,
        start=window[0],
        end=window[1],
        as_of=None if as_of is None else dt.datetime.combine(as_of_day(as_of), dt.time()),
        control=spec.variant_names[0],
        variants=spec.variant_names,
        weights=spec.weights,
        alpha=settings.alpha,
        test=test,
        correction=settings.correction,
        cuped_days=_cuped_days(spec, metrics),
        metrics=tuple(infos),
        values=tuple(values),
        comparisons=tuple(comparisons),
        daily=daily_series,
        segments=by_segment,
        health=health,
        decision=decide(comparisons, infos, health),
        bayesian=bayesian_settings(settings),
        open_windows=dict(open_windows),
        source=state.note if duck is not None else f"{engine.where}",
    )
    return result


def _cuped_days(spec: ExperimentSpec, metrics: list[MetricMoments]) -> int:
    """The pre-period days CUPED used: 0 when no metric was adjusted."""
    if any(mm.metric_type.startswith("cuped") for mm in metrics):
        return spec.analysis.cuped_pre_period_days
    return 0


def variant_stats(
    store: Store | Engine, spec: ExperimentSpec, *, as_of: dt.date | dt.datetime | None = None
) -> dict[str, dict[str, Stats]]:
    """Each metric's sufficient statistics per variant: ``{metric: {variant: stats}}``.

    The inputs of power calculations: a past experiment's control is the
    baseline of the next one. Like :func:`analyze`, it needs exposures in the
    window: without them there is nothing to measure (and no cap to winsorize at).
    The statistics are the validated dataclasses of :mod:`abtest.stats`.
    """
    check_store(store)
    window = analysis_window(spec, as_of, store)
    require_exposures(store, spec, *window)
    metrics = metric_moments(spec, spec.analysis.cuped_pre_period_days > 0)
    pre_start = pre_period_start(spec, window[0])
    with staged_tables(store, spec, metrics, window, pre_start) as staged:
        query = sql.moments_by_variant_sql(metrics, staged.caps)
        rows = {r["variant"]: r for r in fetch_rows(store, query)}
    return {
        mm.name: {
            v: mm.kind.stats.from_arrays(mm.read_row(rows.get(v))) for v in spec.variant_names
        }
        for mm in metrics
    }
