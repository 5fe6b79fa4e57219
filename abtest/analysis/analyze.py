"""Analyze an experiment: SQL where the data lives, numbers in the stats engine.

``analyze(store, spec)`` runs the queries of :mod:`abtest.analysis.sql`, turns
their per-variant moments into the engine's sufficient statistics, compares
every treatment with the control on every metric, corrects for multiple
testing, checks the health of the split, and returns a frozen
:class:`~abtest.analysis.result.AnalysisResult`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from abtest.analysis import sql
from abtest.analysis.result import (
    AnalysisResult,
    DailyPoint,
    Decision,
    ExposureDay,
    Health,
    MetricComparison,
    MetricInfo,
    SegmentPoint,
    VariantValue,
)
from abtest.spec import ExperimentSpec
from abtest.stats import (
    Comparison,
    CupedMeanStats,
    CupedRatioStats,
    Effect,
    MeanStats,
    MomentArrays,
    ProportionStats,
    RatioStats,
    adjust_comparisons,
    compare,
    compare_arrays,
    guardrail_breached,
    p_worse,
    srm_test,
)
from abtest.store import Store

DEFAULT_SEGMENTS = ("platform", "country", "is_new")
_REQUIRED_TABLES = ("exposures", "events", "users")


class AnalysisError(Exception):
    """The experiment cannot be analyzed as asked (no data, bad window, bad segment...)."""


def analysis_window(
    spec: ExperimentSpec, as_of: dt.date | dt.datetime | None, store: Store
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the analysis: the schedule, cut at the end of the ``as_of`` day."""
    if spec.schedule is not None:
        start, end = spec.schedule.start, spec.schedule.end
    else:
        row = store.fetch_one(
            "SELECT min(ts), max(ts) FROM exposures WHERE experiment = ?", [spec.key]
        )
        if row is None or row[0] is None:
            raise _no_exposures(spec, store)
        start = dt.datetime.combine(row[0].date(), dt.time())
        end = dt.datetime.combine(row[1].date(), dt.time()) + dt.timedelta(days=1)
    if as_of is not None:
        day = as_of.date() if isinstance(as_of, dt.datetime) else as_of
        cut = dt.datetime.combine(day, dt.time()) + dt.timedelta(days=1)
        if cut <= start:
            raise AnalysisError(f"--as-of {day} is before {spec.key!r} started ({start:%Y-%m-%d})")
        end = min(end, cut)
    return start, end


def _no_exposures(spec: ExperimentSpec, store: Store) -> AnalysisError:
    known = store.query("SELECT DISTINCT experiment FROM exposures ORDER BY 1")["experiment"]
    hint = f" (experiments with exposures: {', '.join(known)})" if len(known) else ""
    return AnalysisError(
        f"experiment {spec.key!r} has no exposures in {store.path}{hint}; "
        "was it run or simulated ('looklift simulate')?"
    )


def _check_store(store: Store) -> None:
    missing = [t for t in _REQUIRED_TABLES if not store.has_table(t)]
    if missing:
        raise AnalysisError(
            f"{store.path} has no {', '.join(missing)} table(s): is it a looklift database?"
        )


def _segments(store: Store, requested: Sequence[str] | None) -> list[str]:
    columns = [
        r[0]
        for r in store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        ).fetchall()
    ]
    if requested is None:
        return [s for s in DEFAULT_SEGMENTS if s in columns]
    requested = list(dict.fromkeys(requested))
    unknown = [s for s in requested if s not in columns or s == "user_id"]
    if unknown:
        raise AnalysisError(
            f"unknown segment {unknown[0]!r}: segments are columns of the users table "
            f"({', '.join(c for c in columns if c != 'user_id')})"
        )
    return list(requested)


# ---------------------------------------------------------------------------------------
# Moments → statistics
# ---------------------------------------------------------------------------------------
def _moment_arrays(rows: Sequence[dict[str, Any]], mv: sql.MetricVariables) -> MomentArrays:
    """Moments of one metric for a batch of result rows (one row per group)."""
    k = len(mv.columns)
    n = np.array([row["n"] for row in rows], dtype=float)
    sums = np.zeros((len(rows), k))
    cross = np.zeros((len(rows), k, k))
    for r, row in enumerate(rows):
        for i, a in enumerate(mv.columns):
            sums[r, i] = row.get(f"s|{a}") or 0.0
            for j in range(i, k):
                value = row.get(f"c|{a}|{mv.columns[j]}") or 0.0
                cross[r, i, j] = cross[r, j, i] = value
    return MomentArrays(n=n, sums=sums, cross=cross)


def _stats(mv: sql.MetricVariables, row: dict[str, Any] | None) -> Any:
    """The engine's dataclass for one metric in one variant (zeros for a variant with no users)."""
    m = _moment_arrays([row or {"n": 0}], mv)
    n, s, c = int(m.n[0]), m.sums[0], m.cross[0]
    if mv.metric_type == "mean":
        return MeanStats(n, s[0], c[0, 0])
    if mv.metric_type == "proportion":
        return ProportionStats(n, round(s[0]))
    if mv.metric_type == "ratio":
        return RatioStats(n, s[0], c[0, 0], s[1], c[1, 1], c[0, 1])
    if mv.metric_type == "cuped_mean":
        return CupedMeanStats(MeanStats(n, s[0], c[0, 0]), MeanStats(n, s[1], c[1, 1]), c[0, 1])
    return CupedRatioStats(
        RatioStats(n, s[0], c[0, 0], s[1], c[1, 1], c[0, 1]),
        RatioStats(n, s[2], c[2, 2], s[3], c[3, 3], c[2, 3]),
        c[0, 2],
        c[0, 3],
        c[1, 2],
        c[1, 3],
    )


def _value(mv: sql.MetricVariables, row: dict[str, Any] | None) -> tuple[int, float]:
    """Users and the (unadjusted) metric value of a variant."""
    if not row or not row["n"]:
        return 0, math.nan
    num = float(row[f"s|{mv.columns[0]}"] or 0.0)
    if mv.metric.kind == "ratio":
        den = float(row[f"s|{mv.columns[1]}"] or 0.0)
        return int(row["n"]), (num / den if den else math.nan)
    return int(row["n"]), num / row["n"]


def _rows(store: Store, query: str) -> list[dict[str, Any]]:
    cursor = store.con.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


# ---------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------
def _decisive_effect(cmp: Comparison) -> Effect:
    """The effect a verdict reads: the relative lift when it was tested, else the absolute."""
    return cmp.relative if math.isfinite(cmp.relative.p_value) else cmp.absolute


def _verdict(cmp: Comparison, higher_is_better: bool, significant: bool) -> str:
    effect = _decisive_effect(cmp)
    if not math.isfinite(effect.p_value):
        return "undefined"
    if not significant:
        return "inconclusive"
    return "better" if (effect.estimate > 0) == higher_is_better else "worse"


def _p_text(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"= {p:.2g}"


def _lift_text(effect: Effect) -> str:
    """A lift with the interval a decision rests on, naming its level."""
    if not math.isfinite(effect.estimate):
        return "a significant change"
    low, high, level = effect.ci_low, effect.ci_high, effect.ci_level
    if effect.adjusted and effect.ci_level_adjusted is not None:
        low, high = effect.ci_low_adjusted, effect.ci_high_adjusted
        level = effect.ci_level_adjusted
    return f"{effect.estimate:+.1%} [{low:+.1%}, {high:+.1%}] ({level * 100:.4g}% CI)"


def _decision_p(c: MetricComparison) -> str:
    """The p-value a decision compared with alpha, named for what it is."""
    if c.p_adjusted is None:
        return f"p {_p_text(c.p_value)}"
    return f"adjusted p {_p_text(c.p_adjusted)}"


def _decide(
    spec: ExperimentSpec,
    comparisons: list[MetricComparison],
    metrics: list[MetricInfo],
    health: Health,
) -> Decision:
    if health.srm.flagged:
        counts = ", ".join(f"{v} {n:,}" for v, n in health.users.items())
        return Decision(
            "invalid",
            None,
            "Do not trust these results: sample ratio mismatch",
            f"users per variant ({counts}) do not match the configured split "
            f"(p = {health.srm.p_value:.2g}); find the cause before reading any metric",
        )
    primary = next(m for m in metrics if m.group == "primary")
    on_primary = [c for c in comparisons if c.metric == primary.name]
    breached = [c for c in comparisons if c.guardrail_breached]
    winners = [c for c in on_primary if c.verdict == "better"]
    losers = [c for c in on_primary if c.verdict == "worse"]
    if winners:
        best = max(
            winners,
            key=lambda c: (
                c.comparison.relative.estimate
                if math.isfinite(c.comparison.relative.estimate)
                else -math.inf
            ),
        )
        lift_text = _lift_text(best.comparison.relative)
        own_breaches = [c.metric for c in breached if c.variant == best.variant]
        if own_breaches:
            return Decision(
                "guardrail_breached",
                best.variant,
                f"{best.variant} wins on {primary.name} but breaches a guardrail",
                f"{primary.name} {lift_text}; guardrail(s) {', '.join(own_breaches)} got "
                f"significantly worse (one-sided p < {spec.analysis.alpha:g}, unadjusted)",
            )
        return Decision(
            "winner",
            best.variant,
            f"{best.variant} wins on {primary.name}",
            f"{primary.name} {lift_text} vs {spec.variant_names[0]}"
            f" ({_decision_p(best)}); guardrails ok",
        )
    if losers:
        worst = losers[0]
        return Decision(
            "loser",
            worst.variant,
            f"{worst.variant} is worse on {primary.name}",
            f"{primary.name} {_lift_text(worst.comparison.relative)} ({_decision_p(worst)})",
        )
    return Decision(
        "no_difference",
        None,
        "No significant difference",
        f"no variant moved {primary.name} significantly at alpha = {spec.analysis.alpha:g}",
    )


# ---------------------------------------------------------------------------------------
# The analysis
# ---------------------------------------------------------------------------------------
def analyze(
    store: Store,
    spec: ExperimentSpec,
    *,
    as_of: dt.date | dt.datetime | None = None,
    segments: Sequence[str] | None = None,
    daily: bool = True,
) -> AnalysisResult:
    """Analyze ``spec`` on the data in ``store``.

    ``as_of`` analyses the data up to the end of that day (as an analyst looking
    at a running experiment would). ``segments`` are ``users`` columns to break
    results down by (default: platform, country, is_new where present);
    ``daily`` adds the cumulative day-by-day series.
    """
    _check_store(store)
    if spec.metrics is None:
        raise AnalysisError(f"{spec.key!r} defines no metrics to analyze")
    start, end = analysis_window(spec, as_of, store)
    if not store.count(
        "exposures", "experiment = ? AND ts >= ? AND ts < ?", [spec.key, start, end]
    ):
        raise _no_exposures(spec, store)
    segment_columns = _segments(store, segments)
    settings = spec.analysis
    cuped = settings.cuped_pre_period_days > 0
    pre_start = start - dt.timedelta(days=settings.cuped_pre_period_days) if cuped else None
    test = "sequential" if settings.sequential else "welch"
    variables = sql.metric_variables(spec, cuped)
    groups = {name: group for group, name in reversed(spec.metrics.all())}

    try:
        caps, mixed = _build_tables(store, spec, variables, start, end, pre_start, daily=daily)
        by_variant = {
            r["variant"]: r for r in _rows(store, sql.moments_by_variant_sql(variables, caps))
        }
        health = _health(store, spec, start, end, mixed)

        infos, values, raw = [], [], []
        control = spec.variant_names[0]
        for mv in variables:
            m = mv.metric
            infos.append(
                MetricInfo(
                    name=m.name,
                    group=groups[m.name],
                    kind=m.kind,
                    metric_type=mv.metric_type,
                    direction=m.direction or "higher_is_better",
                    description=m.description,
                    percent=m.kind == "proportion"
                    or (
                        m.kind == "ratio"
                        and m.numerator.aggregate == "count"
                        and m.denominator is not None
                        and m.denominator.aggregate == "count"
                    ),
                    cap=caps.get(m.name),
                )
            )
            for v in spec.variant_names:
                users, value = _value(mv, by_variant.get(v))
                values.append(VariantValue(m.name, v, users, value))
            for v in spec.variant_names[1:]:
                raw.append(
                    (
                        mv,
                        v,
                        compare(
                            _stats(mv, by_variant.get(control)),
                            _stats(mv, by_variant.get(v)),
                            alpha=settings.alpha,
                            test=test,
                            sequential_tuning=settings.sequential_tuning,
                        ),
                    )
                )
        adjusted = (
            [c for _, _, c in raw]
            if settings.correction == "none"
            else list(adjust_comparisons([c for _, _, c in raw], method=settings.correction))
        )
        comparisons = []
        for (mv, v, _), cmp in zip(raw, adjusted, strict=True):
            info = next(i for i in infos if i.name == mv.metric.name)
            comparisons.append(_metric_comparison(cmp, info, v, control))
        daily_points = _daily(store, spec, variables, start, end, caps, test) if daily else ()
        segment_points = _segment_breakdowns(store, spec, variables, caps, segment_columns, test)
        decision = _decide(spec, comparisons, infos, health)
    finally:
        _drop_tables(store)

    return AnalysisResult(
        experiment=spec.key,
        description=spec.description,
        start=start,
        end=end,
        as_of=None
        if as_of is None
        else dt.datetime.combine(
            as_of.date() if isinstance(as_of, dt.datetime) else as_of, dt.time()
        ),
        control=spec.variant_names[0],
        variants=spec.variant_names,
        weights=spec.weights,
        alpha=settings.alpha,
        test=test,
        correction=settings.correction,
        cuped_days=settings.cuped_pre_period_days
        if any(mv.metric_type.startswith("cuped") for mv in variables)
        else 0,
        metrics=tuple(infos),
        values=tuple(values),
        comparisons=tuple(comparisons),
        daily=daily_points,
        segments=segment_points,
        health=health,
        decision=decision,
    )


def _metric_comparison(
    cmp: Comparison, info: MetricInfo, variant: str, control: str
) -> MetricComparison:
    """One comparison read for the analyst: its p-values, significance and verdict.

    Significance compares the adjusted p-value with alpha when a correction was
    applied (the raw one otherwise); a guardrail is breached when its one-sided,
    unadjusted p-value that it got worse is below alpha (:mod:`abtest.stats.guardrails`).
    """
    higher = info.direction != "lower_is_better"
    effect = _decisive_effect(cmp)
    p_adjusted = effect.p_value_adjusted if cmp.correction else None
    decisive = p_adjusted if p_adjusted is not None else effect.p_value
    significant = math.isfinite(decisive) and decisive < cmp.alpha
    guardrail = info.group == "guardrail"
    return MetricComparison(
        metric=info.name,
        group=info.group,
        variant=variant,
        control=control,
        comparison=cmp,
        p_value=effect.p_value,
        p_adjusted=p_adjusted,
        significant=significant,
        verdict=_verdict(cmp, higher, significant),
        p_worse=p_worse(cmp, higher_is_better=higher) if guardrail else None,
        guardrail_breached=guardrail and guardrail_breached(cmp, higher_is_better=higher),
    )


class Tables(NamedTuple):
    """What building an analysis' tables found out."""

    caps: dict[str, float]
    """Winsorization cap of each capped metric."""
    mixed_users: int
    """Users exposed to more than one variant (excluded from the tables)."""


def _build_tables(
    store: Store,
    spec: ExperimentSpec,
    variables: list[sql.MetricVariables],
    start: dt.datetime,
    end: dt.datetime,
    pre_start: dt.datetime | None,
    *,
    daily: bool = False,
) -> Tables:
    """Create the temporary tables of an analysis; return the caps and the mixed users.

    ``daily`` adds the per-user-day table that the day-by-day series reads.
    """
    con = store.con
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {sql.USER_TOTALS} AS "
        f"{sql.user_totals_sql(spec, start, end, pre_start)}"
    )
    (mixed,) = store.fetch_one(f"SELECT COUNT(*) FROM {sql.USER_TOTALS} WHERE mixed = 1") or (0,)
    if mixed:
        con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE mixed = 1")
    (late,) = store.fetch_one(sql.late_exposures_sql()) or (0,)
    if daily:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {sql.USER_DAYS} AS "
            f"{sql.user_days_sql(spec, start, end, pre_start, late_users=bool(late))}"
        )
    if late:  # recount users with events before their exposure, from their events
        con.execute(
            f"INSERT INTO {sql.USER_TOTALS} {sql.recounted_totals_sql(spec, start, end, pre_start)}"
        )
        con.execute(f"DELETE FROM {sql.USER_TOTALS} WHERE first_ts < exposed_at")
    caps: dict[str, float] = {}
    for mv in variables:
        w = mv.metric.winsorize
        if w is None:
            continue
        if w.upper is not None:
            caps[mv.metric.name] = float(w.upper)
        else:
            (cap,) = store.fetch_one(sql.percentile_cap_sql(mv.metric)) or (None,)
            caps[mv.metric.name] = float(cap) if cap is not None else math.inf
    return Tables(caps, int(mixed))


def _drop_tables(store: Store) -> None:
    for table in (sql.USER_DAYS, sql.USER_TOTALS):
        store.con.execute(f"DROP TABLE IF EXISTS {table}")


def variant_stats(
    store: Store, spec: ExperimentSpec, *, as_of: dt.date | dt.datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Each metric's sufficient statistics per variant: ``{metric: {variant: stats}}``.

    The inputs of power calculations: a past experiment's control is the
    baseline of the next one. Like :func:`analyze`, it needs exposures in the
    window: without them there is nothing to measure (and no cap to winsorize at).
    """
    _check_store(store)
    start, end = analysis_window(spec, as_of, store)
    if not store.count(
        "exposures", "experiment = ? AND ts >= ? AND ts < ?", [spec.key, start, end]
    ):
        raise _no_exposures(spec, store)
    cuped = spec.analysis.cuped_pre_period_days > 0
    pre_start = start - dt.timedelta(days=spec.analysis.cuped_pre_period_days) if cuped else None
    variables = sql.metric_variables(spec, cuped)
    try:
        caps, _ = _build_tables(store, spec, variables, start, end, pre_start)
        rows = {r["variant"]: r for r in _rows(store, sql.moments_by_variant_sql(variables, caps))}
    finally:
        _drop_tables(store)
    return {
        mv.metric.name: {v: _stats(mv, rows.get(v)) for v in spec.variant_names} for mv in variables
    }


def _health(
    store: Store, spec: ExperimentSpec, start: dt.datetime, end: dt.datetime, mixed: int
) -> Health:
    counts = {v: 0 for v in spec.variant_names}
    cumulative = dict.fromkeys(spec.variant_names, 0)
    days = []
    for day, variant, n in store.con.execute(
        f"SELECT exposed_day, variant, count(*) FROM {sql.USER_TOTALS} "
        "GROUP BY exposed_day, variant ORDER BY exposed_day, variant"
    ).fetchall():
        counts[variant] += int(n)
        cumulative[variant] += int(n)
        days.append(ExposureDay(day, variant, int(n), cumulative[variant]))
    srm = srm_test(list(counts.values()), list(spec.weights))
    warnings = []
    if mixed:
        warnings.append(f"{mixed:,} users were exposed to more than one variant and are excluded")
    empty = [v for v, n in counts.items() if n == 0]
    if empty:
        warnings.append(f"no exposed users in variant(s) {', '.join(empty)}")
    (outside,) = store.fetch_one(
        "SELECT count(*) FROM exposures WHERE experiment = ? AND ts >= ? AND ts < ? "
        f"AND variant NOT IN ({', '.join(sql.literal(v) for v in spec.variant_names)})",
        [spec.key, start, end],
    ) or (0,)
    if outside:
        warnings.append(f"{outside:,} exposures name a variant that is not in the spec; ignored")
    return Health(srm, counts, int(mixed), tuple(days), tuple(warnings))


def _contrast_points(
    mv: sql.MetricVariables,
    control_rows: list[dict[str, Any]],
    treatment_rows: list[dict[str, Any]],
    alpha: float,
    test: str,
    tuning: float,
) -> Any:
    with np.errstate(all="ignore"):
        return compare_arrays(
            mv.metric_type,  # type: ignore[arg-type]
            _moment_arrays(control_rows, mv),
            _moment_arrays(treatment_rows, mv),
            alpha=alpha,
            test=test,
            sequential_tuning=tuning,  # type: ignore[arg-type]
        )


def _lift_fields(res: Any, i: int) -> dict[str, Any]:
    """The fields daily and segment points share, from entry ``i`` of a batched contrast."""
    return {
        "control_users": int(res.control_n[i]),
        "treatment_users": int(res.treatment_n[i]),
        "control_value": float(res.control_mean[i]),
        "treatment_value": float(res.treatment_mean[i]),
        "lift": float(res.relative.estimate[i]),
        "lift_low": float(res.relative.ci_low[i]),
        "lift_high": float(res.relative.ci_high[i]),
        "p_value": float(res.relative.p_value[i]),
    }


def _daily(
    store: Store,
    spec: ExperimentSpec,
    variables: list[sql.MetricVariables],
    start: dt.datetime,
    end: dt.datetime,
    caps: dict[str, float],
    test: str,
) -> tuple[DailyPoint, ...]:
    """Cumulative lift day by day, with intervals (always-valid when sequential)."""
    last = (end - dt.timedelta(microseconds=1)).date()
    days = [start.date() + dt.timedelta(days=i) for i in range((last - start.date()).days + 1)]
    rows = _rows(store, sql.moments_by_day_sql(variables, days, caps))
    by = {(r["variant"], r["day"]): r for r in rows}
    control = spec.variant_names[0]
    empty = {"n": 0}
    points = []
    for v in spec.variant_names[1:]:
        c_rows = [by.get((control, d), empty) for d in days]
        t_rows = [by.get((v, d), empty) for d in days]
        for mv in variables:
            res = _contrast_points(
                mv, c_rows, t_rows, spec.analysis.alpha, test, spec.analysis.sequential_tuning
            )
            for i, d in enumerate(days):
                points.append(
                    DailyPoint(
                        metric=mv.metric.name,
                        variant=v,
                        day=d,
                        **_lift_fields(res, i),
                    )
                )
    return tuple(points)


def _segment_breakdowns(
    store: Store,
    spec: ExperimentSpec,
    variables: list[sql.MetricVariables],
    caps: dict[str, float],
    segments: list[str],
    test: str,
) -> tuple[SegmentPoint, ...]:
    if not segments:
        return ()
    control = spec.variant_names[0]
    points: list[SegmentPoint] = []
    rows = _rows(store, sql.moments_by_segments_sql(variables, caps, segments))
    for i, segment in enumerate(segments):
        by = {(r["variant"], r[f"value|{i}"]): r for r in rows if r[f"grouped|{i}"] == 0}
        seg_values = sorted({value for _, value in by}, key=str)
        for v in spec.variant_names[1:]:
            c_rows = [by.get((control, s), {"n": 0}) for s in seg_values]
            t_rows = [by.get((v, s), {"n": 0}) for s in seg_values]
            for mv in variables:
                res = _contrast_points(
                    mv, c_rows, t_rows, spec.analysis.alpha, test, spec.analysis.sequential_tuning
                )
                for i, s in enumerate(seg_values):
                    points.append(
                        SegmentPoint(
                            segment=segment,
                            value=str(s),
                            metric=mv.metric.name,
                            variant=v,
                            **_lift_fields(res, i),
                        )
                    )
    return tuple(points)
