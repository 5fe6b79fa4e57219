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
from abtest.analysis.result import MetricComparison, MetricInfo, VariantValue, Verdict
from abtest.spec import AnalysisSettings, ExperimentSpec
from abtest.stats import (
    Comparison,
    Effect,
    Test,
    adjust_comparisons,
    compare_moments,
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


def compare_variants(
    spec: ExperimentSpec,
    metrics: list[MetricMoments],
    infos: list[MetricInfo],
    by_variant: Rows,
    test: Test,
) -> list[MetricComparison]:
    """Every treatment against the control on every metric, corrected as the spec asks."""
    settings = spec.analysis
    control = spec.variant_names[0]
    raw: list[tuple[MetricInfo, str, Comparison]] = []
    for mm, info in zip(metrics, infos, strict=True):
        control_moments = mm.read_row(by_variant.get(control))
        for v in spec.variant_names[1:]:
            cmp = compare_moments(
                mm.metric_type,
                control_moments,
                mm.read_row(by_variant.get(v)),
                alpha=settings.alpha,
                test=test,
                sequential_tuning=settings.sequential_tuning,
            )
            raw.append((info, v, cmp))
    adjusted = _corrected([c for _, _, c in raw], settings)
    return [
        read_comparison(cmp, info, v, control)
        for (info, v, _), cmp in zip(raw, adjusted, strict=True)
    ]


def _corrected(comparisons: list[Comparison], settings: AnalysisSettings) -> list[Comparison]:
    """The family corrected for multiple testing; unchanged when the spec says ``none``."""
    if settings.correction == "none":
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
    cmp: Comparison, info: MetricInfo, variant: str, control: str
) -> MetricComparison:
    """One comparison read for the analyst: its p-values, significance and verdict.

    Significance compares the adjusted p-value with alpha when a correction was
    applied (the raw one otherwise); a guardrail is breached when its one-sided,
    unadjusted p-value that it got worse is below alpha (:mod:`abtest.stats.guardrails`).
    """
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
