"""Every treatment against the control on every metric, corrected, and read for the analyst.

From the per-variant moments rows (read through each metric's
:class:`~abtest.analysis.moments.MetricMoments`), the stats engine compares each
treatment with the control (:func:`abtest.stats.compare_moments`), the family
is corrected for multiple testing, and each comparison gets its significance,
its verdict and, for guardrails, the one-sided check that it got worse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from abtest.analysis.moments import MetricMoments
from abtest.analysis.result import (
    BayesianSettings,
    MetricComparison,
    MetricInfo,
    VariantValue,
    Verdict,
)
from abtest.spec import AnalysisSettings, ExperimentSpec, MetricDefinition
from abtest.stats import (
    BayesianEffect,
    Comparison,
    Effect,
    GaussianPrior,
    QuantileStats,
    Test,
    adjust_comparisons,
    bayesian_verdict,
    compare_bayesian,
    compare_moments,
    compare_quantiles,
    compare_quantiles_bayesian,
    guardrail_breached,
    p_worse,
)

Rows = Mapping[str, Mapping[str, Any]]
"""Moments rows by variant, as the moments-by-variant query returns them."""


def metric_infos(
    spec: ExperimentSpec, metrics: list[MetricMoments], caps: dict[str, float]
) -> list[MetricInfo]:
    """Each metric as the spec defines it, with the engine's metric type and its cap."""
    assert spec.metrics is not None
    groups = {name: group for group, name in reversed(spec.metrics.all())}
    infos = []
    for mm in metrics:
        m = mm.metric
        percent = m.kind == "proportion" or (
            m.kind == "ratio"
            and m.numerator.aggregate == "count"
            and m.denominator is not None
            and m.denominator.aggregate == "count"
        )
        infos.append(
            MetricInfo(
                name=m.name,
                group=groups[m.name],  # type: ignore[arg-type]
                kind=m.kind,
                metric_type=mm.metric_type,
                direction=m.direction or "higher_is_better",
                description=m.description,
                percent=percent,
                cap=caps.get(m.name),
                k=getattr(m, "k", None),
            )
        )
    return infos


def variant_values(
    spec: ExperimentSpec, metrics: list[MetricMoments], by_variant: Rows
) -> list[VariantValue]:
    """Users and the unadjusted value of every metric in every variant (NaN without users)."""
    values = []
    for mm in metrics:
        for v in spec.variant_names:
            moments = mm.read_row(by_variant.get(v))
            value = float(mm.kind.unadjusted_mean(moments))
            values.append(VariantValue(mm.name, v, int(moments.n), value))
    return values


Raw = tuple[MetricInfo, str, Comparison, BayesianEffect | None]
"""One treatment's comparison on one metric before the family is corrected and read."""


def spec_order(spec: ExperimentSpec) -> dict[str, int]:
    """Each metric's place in the spec: primary, secondary, then guardrail (first mention)."""
    order: dict[str, int] = {}
    for _, name in spec.metrics.all() if spec.metrics else []:
        order.setdefault(name, len(order))
    return order


def quantile_infos(spec: ExperimentSpec, metrics: list[MetricDefinition]) -> list[MetricInfo]:
    """Each quantile metric as the spec defines it (no cap, no CUPED)."""
    assert spec.metrics is not None
    groups = {name: group for group, name in reversed(spec.metrics.all())}
    return [
        MetricInfo(
            name=m.name,
            group=groups[m.name],  # type: ignore[arg-type]
            kind="quantile",
            metric_type="quantile",
            direction=m.direction or "higher_is_better",
            description=m.description,
            percent=False,
            cap=None,
        )
        for m in metrics
    ]


def quantile_values(
    spec: ExperimentSpec, quantiles: Mapping[str, Mapping[str, QuantileStats]]
) -> list[VariantValue]:
    """Each quantile metric's sample quantile and count in every variant (NaN without any)."""
    return [
        VariantValue(name, v, q.n, q.quantile_hat if q.n else math.nan)
        for name, by_variant in quantiles.items()
        for v in spec.variant_names
        for q in (by_variant[v],)
    ]


def compare_variants(
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    infos: list[MetricInfo],
    by_variant: Rows,
    test: Test,
    quantiles: Mapping[str, Mapping[str, QuantileStats]] | None = None,
) -> list[MetricComparison]:
    """Every treatment against the control on every metric, corrected as the spec asks.

    ``quantiles`` holds each quantile metric's statistics per variant (their infos are
    in ``infos`` after the moments metrics'); the family is read in the spec's order.
    """
    settings = spec.analysis
    bayesian = bayesian_settings(settings)
    control = spec.variant_names[0]
    raw = _moment_comparisons(spec, metrics, infos, by_variant, test, bayesian)
    by_name = {i.name: i for i in infos}
    for name, stats in (quantiles or {}).items():
        raw += _quantile_comparisons(spec, by_name[name], stats, test, bayesian)
    order = spec_order(spec)
    raw.sort(key=lambda r: order[r[0].name])
    adjusted = _corrected([c for _, _, c, _ in raw], settings, bayesian)
    return [
        read_comparison(cmp, info, v, control, bayes, bayesian)
        for (info, v, _, bayes), cmp in zip(raw, adjusted, strict=True)
    ]


def _quantile_comparisons(
    spec: ExperimentSpec,
    info: MetricInfo,
    stats: Mapping[str, QuantileStats],
    test: Test,
    bayesian: BayesianSettings | None,
) -> list[Raw]:
    """Each treatment against the control on one quantile metric."""
    settings = spec.analysis
    control = stats[spec.variant_names[0]]
    raw: list[Raw] = []
    for v in spec.variant_names[1:]:
        cmp = compare_quantiles(
            control,
            stats[v],
            alpha=settings.alpha,
            test=test,
            sequential_tuning=settings.sequential_tuning,
        )
        bayes = None
        if bayesian is not None:
            bayes = compare_quantiles_bayesian(
                control,
                stats[v],
                alpha=settings.alpha,
                prior=_prior(bayesian),
                higher_is_better=info.direction != "lower_is_better",
            )
        raw.append((info, v, cmp, bayes))
    return raw


def _moment_comparisons(
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    infos: list[MetricInfo],
    by_variant: Rows,
    test: Test,
    bayesian: BayesianSettings | None,
) -> list[Raw]:
    """Each treatment against the control on every metric read from moments."""
    settings = spec.analysis
    control = spec.variant_names[0]
    raw: list[Raw] = []
    for mm, info in zip(metrics, infos, strict=False):
        control_moments = mm.read_row(by_variant.get(control))
        for v in spec.variant_names[1:]:
            treatment_moments = mm.read_row(by_variant.get(v))
            cmp = compare_moments(
                mm.metric_type,
                control_moments,
                treatment_moments,
                alpha=settings.alpha,
                test=test,
                sequential_tuning=settings.sequential_tuning,
            )
            bayes = None
            if bayesian is not None:
                bayes = compare_bayesian(
                    mm.metric_type,
                    control_moments,
                    treatment_moments,
                    alpha=settings.alpha,
                    prior=_prior(bayesian),
                    higher_is_better=info.direction != "lower_is_better",
                )
            raw.append((info, v, cmp, bayes))
    return raw


def bayesian_settings(settings: AnalysisSettings) -> BayesianSettings | None:
    """The Bayesian read-out's settings when the spec asks for it (``None`` otherwise)."""
    if not settings.bayesian:
        return None
    prior = settings.prior
    return BayesianSettings(
        chance_to_win=settings.chance_to_win,
        risk_threshold=settings.risk_threshold,
        prior_mean=None if prior is None else prior.mean,
        prior_variance=None if prior is None else prior.variance,
    )


def _prior(bayesian: BayesianSettings) -> GaussianPrior:
    """The engine's prior: proper when the spec gives one, else flat."""
    if bayesian.prior_mean is None or bayesian.prior_variance is None:
        return GaussianPrior()
    return GaussianPrior(bayesian.prior_mean, bayesian.prior_variance, proper=True)


def _corrected(
    comparisons: list[Comparison], settings: AnalysisSettings, bayesian: BayesianSettings | None
) -> list[Comparison]:
    """The family corrected for multiple testing; unchanged when the spec says ``none`` or
    the Bayesian read-out decides (chance to win and risk are not corrected, as in GrowthBook)."""
    if settings.correction == "none" or bayesian is not None:
        return comparisons
    return list(adjust_comparisons(comparisons, method=settings.correction))


def decisive_effect(cmp: Comparison) -> Effect:
    """The effect a verdict reads: the relative lift when it was tested, else the absolute."""
    return cmp.relative if math.isfinite(cmp.relative.p_value) else cmp.absolute


def _verdict(cmp: Comparison, higher_is_better: bool, significant: bool) -> Verdict:
    """Better or worse (by the metric's direction) when significant; else why not."""
    effect = decisive_effect(cmp)
    if not math.isfinite(effect.p_value):
        return "undefined"
    if not significant:
        return "inconclusive"
    return "better" if (effect.estimate > 0) == higher_is_better else "worse"


def read_comparison(
    cmp: Comparison,
    info: MetricInfo,
    variant: str,
    control: str,
    bayes: BayesianEffect | None = None,
    bayesian: BayesianSettings | None = None,
) -> MetricComparison:
    """One comparison read for the analyst: its p-values, significance and verdict.

    Significance compares the adjusted p-value with alpha when a correction was
    applied (the raw one otherwise); a guardrail is breached when its one-sided,
    unadjusted p-value that it got worse is below alpha (:mod:`abtest.stats.guardrails`).
    With the Bayesian read-out, chance to win and risk decide instead
    (:class:`~abtest.analysis.result.BayesianSettings` states the rule).
    """
    if bayes is not None and bayesian is not None:
        return _read_bayesian(cmp, info, variant, control, bayes, bayesian)
    higher = info.direction != "lower_is_better"
    effect = decisive_effect(cmp)
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


def _read_bayesian(
    cmp: Comparison,
    info: MetricInfo,
    variant: str,
    control: str,
    bayes: BayesianEffect,
    bayesian: BayesianSettings,
) -> MetricComparison:
    """One comparison read by chance to win and risk; the raw p-value is kept beside them."""
    verdict: Verdict = bayesian_verdict(
        bayes, chance_to_win=bayesian.chance_to_win, risk=bayesian.risk_threshold
    )
    guardrail = info.group == "guardrail"
    worse_likely = math.isfinite(bayes.chance_to_win) and (
        bayes.chance_to_win < 1.0 - bayesian.chance_to_win
    )
    return MetricComparison(
        metric=info.name,
        group=info.group,
        variant=variant,
        control=control,
        comparison=cmp,
        p_value=decisive_effect(cmp).p_value,
        p_adjusted=None,
        significant=verdict in ("better", "worse"),
        verdict=verdict,
        p_worse=None,
        guardrail_breached=guardrail and worse_likely,
        bayes=bayes,
    )
