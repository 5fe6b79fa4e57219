"""The answer at a glance: the decision and the tiles under it.

"Did the new encoder win, by how much, how sure are we, and can I trust this
experiment?": one tile for the primary metric per treatment, one for the
guardrails, one for the health of the split, one per offline comparison, and,
for simulations only, the true lift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from abtest import format as fmt
from abtest.analysis.decision_text import decision_text
from reports.tables import comparison_status, headline_row, primary_metric

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult, MetricComparison
    from reports.inputs import OfflineSection, ReportInputs

_DECISION_STATUS = {
    "winner": "good",
    "loser": "bad",
    "invalid": "bad",
    "guardrail_breached": "warn",
    "no_difference": "neutral",
}


@dataclass(frozen=True)
class Tile:
    """One box of the summary at the top: a label, a big value, a line of detail."""

    label: str
    value: str
    detail: str
    status: str
    """``good``, ``bad``, ``warn``, ``neutral`` or ``sim`` (simulation-only truth)."""


@dataclass(frozen=True)
class Summary:
    """The answer at a glance: the decision and the tiles that back it."""

    verdict: str
    status: str
    headline: str
    reason: str
    tiles: tuple[Tile, ...]


def summary(inputs: ReportInputs) -> Summary:
    """The decision of the analysis and the tiles that back it, as strings."""
    result = inputs.result
    d = result.decision
    headline, reason = decision_text(result)
    primary = primary_metric(result)
    several = len(result.variants) > 2
    tiles = []
    for c in result.comparisons:
        if c.metric != primary:
            continue
        info = result.metric(c.metric)
        rel = c.comparison.relative
        tiles.append(
            Tile(
                label=f"Primary metric: {primary}" + (f" ({c.variant})" if several else ""),
                value=fmt.signed_pct(rel.estimate),
                detail=(
                    f"{c.variant} vs {c.control}: "
                    f"{fmt.metric_value(c.comparison.control_mean, info.percent)} → "
                    f"{fmt.metric_value(c.comparison.treatment_mean, info.percent)} · "
                    + _evidence_text(c, result.correction)
                    + ("" if info.direction != "lower_is_better" else " · lower is better")
                ),
                status=comparison_status(c),
            )
        )
    tiles.append(_guardrail_tile(result))
    tiles.append(_health_tile(result))
    if inputs.offline is not None:
        tiles.extend(_offline_tiles(inputs.offline))
    if inputs.truth is not None:
        for c in result.comparisons:
            effect = inputs.truth.effect(c.metric, c.variant) if c.metric == primary else None
            if effect is not None:
                tiles.append(
                    Tile(
                        label=f"Simulation only: true {primary} lift, {c.variant}",
                        value=fmt.signed_pct(effect.lift),
                        detail="known only because the traffic was simulated; "
                        "a real experiment never shows this",
                        status="sim",
                    )
                )
    return Summary(
        verdict=d.verdict,
        status=_DECISION_STATUS.get(d.verdict, "neutral"),
        headline=headline,
        reason=reason,
        tiles=tuple(tiles),
    )


def _evidence_text(c: MetricComparison, correction: str) -> str:
    """The interval and p-value(s) of a comparison, or its Bayesian read-out."""
    if c.bayes is not None:
        b = c.bayes
        return (
            f"{fmt.level(b.ci_level)} CrI {fmt.interval(b.ci_low, b.ci_high)}, "
            f"chance to win {fmt.chance(b.chance_to_win)}, risk {fmt.risk(b.risk_treatment)}"
        )
    rel = c.comparison.relative
    return (
        f"{fmt.level(rel.ci_level)} CI {fmt.interval(rel.ci_low, rel.ci_high)}, "
        f"p {fmt.p_value(c.p_value)}" + _adjusted_text(c, correction)
    )


def _adjusted_text(c: MetricComparison, correction: str) -> str:
    """ " · 98.75% CI (holm) [..], adjusted p ..." for a corrected comparison, else ""."""
    rel = c.comparison.relative
    if rel.ci_level_adjusted is None:
        return ""
    return (
        f" · {fmt.level(rel.ci_level_adjusted)} CI ({correction}) "
        f"{fmt.interval(rel.ci_low_adjusted, rel.ci_high_adjusted)}, "
        f"adjusted p {fmt.p_value(c.p_adjusted)}"
    )


def _guardrail_tile(result: AnalysisResult) -> Tile:
    guards = [c for c in result.comparisons if c.group == "guardrail"]
    if not guards:
        return Tile("Guardrails", "none defined", "the spec lists no guardrail metric", "neutral")
    breached = [c for c in guards if c.guardrail_breached]
    parts = [
        f"{c.metric} ({c.variant}) {fmt.signed_pct(c.comparison.relative.estimate)}, "
        + (
            f"chance worse {fmt.chance(1.0 - c.bayes.chance_to_win)}"
            if c.bayes is not None
            else f"one-sided p {fmt.p_value(c.p_worse)}"
        )
        for c in guards
    ]
    rule = (
        f"breached when the chance it got worse is above {fmt.level(result.bayesian.chance_to_win)}"
        if result.bayesian is not None
        else f"breached when it got worse with one-sided p < {result.alpha:g} (unadjusted)"
    )
    if breached:
        names = ", ".join(sorted({c.metric for c in breached}))
        return Tile(
            "Guardrails",
            "breached",
            f"{names} got significantly worse · {'; '.join(parts)} · {rule}",
            "bad",
        )
    return Tile("Guardrails", "all ok", f"no significant harm: {'; '.join(parts)} · {rule}", "good")


def _health_tile(result: AnalysisResult) -> Tile:
    h = result.health
    counts = " vs ".join(f"{h.users.get(v, 0):,}" for v in result.variants)
    expected = " vs ".join(fmt.count(e) for e in h.srm.expected)
    detail = f"users {counts} (expected {expected}) · SRM p = {h.srm.p_value:.3g}"
    if h.srm.flagged:
        return Tile("Experiment health", "sample ratio mismatch", detail, "bad")
    if h.warnings:
        return Tile(
            "Experiment health",
            "split ok, with warnings",
            f"{detail} · {len(h.warnings)} warning(s)",
            "warn",
        )
    return Tile("Experiment health", "split ok", detail, "good")


def _offline_tiles(offline: OfflineSection) -> list[Tile]:
    tiles = []
    for comparison in offline.comparisons:
        row = headline_row(comparison)
        if row is None:
            continue
        tiles.append(
            Tile(
                label=f"Offline nDCG@{row.k}: {row.encoder_b} vs {row.encoder_a}",
                value=fmt.signed_pct(row.lift),
                detail=(
                    f"{fmt.level(comparison.confidence)} CI "
                    f"{fmt.interval(*row.lift_ci)} · {row.mean_a:.3f} → {row.mean_b:.3f} · "
                    f"{row.n_queries:,} judged queries"
                ),
                status=_ci_status(row.lift_ci),
            )
        )
    return tiles


def _ci_status(ci: tuple[float, float]) -> str:
    """``good`` when the whole interval is above 0, ``bad`` when below, else ``neutral``."""
    low, high = ci
    if fmt.finite(low) and low > 0:
        return "good"
    if fmt.finite(high) and high < 0:
        return "bad"
    return "neutral"
