"""The report's content as rows of strings, shared by the HTML and Markdown renderers.

Each function reads result objects and formats them; none computes a
statistic. Keeping the content here means the HTML and the Markdown report
say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abtest import format as fmt
from abtest.analysis.cells import (
    adjusted_level,
    bayesian_cells,
    bayesian_settings_text,
    breakdown_cells,
    breakdown_interval_label,
    comparison_cells,
)

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult, MetricComparison, MetricInfo
    from offline_eval import CounterfactualEstimate, EncoderComparison, PairedResult
    from reports.inputs import ReportInputs

GROUP_ORDER = ("primary", "secondary", "guardrail")
METRIC_LABELS = {"ndcg": "nDCG", "precision": "P", "recall": "Recall", "mrr": "MRR"}
HEADLINE_K = 5
"""The cutoff quoted in the summary (the "similar looks" module shows about five items)."""


@dataclass(frozen=True)
class MetricRow:
    """One line of the metric table, formatted; ``status`` colours it (good, bad, neutral)."""

    metric: str
    description: str
    group: str
    variant: str
    control: str
    treatment: str
    absolute: str
    absolute_ci: str
    absolute_ci_adjusted: str
    lift: str
    lift_ci: str
    lift_ci_adjusted: str
    ci_level: str
    """The nominal intervals' level, e.g. "95%"."""
    ci_level_adjusted: str | None
    """The widened intervals' level, e.g. "98.75%"; ``None`` without a correction."""
    p: str
    p_adjusted: str
    p_worse: str
    lift_cri: str
    """The Bayesian read-out's credible interval of the lift ("—" without it)."""
    chance_to_win: str
    risk: str
    chance_worse: str
    """Guardrails with the Bayesian read-out: the chance the metric got worse."""
    result: str
    status: str
    note: str
    true_lift: str | None


@dataclass(frozen=True)
class Row:
    """A generic table row: cells in column order, and a status for colouring."""

    cells: tuple[str, ...]
    status: str = "neutral"


@dataclass(frozen=True)
class TextTable:
    """A table of formatted cells, rendered alike in HTML and Markdown."""

    columns: tuple[str, ...]
    rows: tuple[Row, ...]

    def numeric(self) -> tuple[bool, ...]:
        """Per column: whether every cell reads as a number (right-aligned when shown)."""
        return tuple(
            i > 0 and all(_NUMBER.match(row.cells[i]) for row in self.rows if row.cells[i])
            for i in range(len(self.columns))
        )


_NUMBER = re.compile(r"^[-+<\[\d—]")


def primary_metric(result: AnalysisResult) -> str:
    """The (first) primary metric: the one that decides the experiment."""
    return next(m.name for m in result.metrics if m.group == "primary")


# ---------------------------------------------------------------------------------------
# Metric table
# ---------------------------------------------------------------------------------------
def comparison_status(c: MetricComparison) -> str:
    if c.guardrail_breached or c.verdict == "worse":
        return "bad"
    if c.verdict == "better":
        return "good"
    return "neutral"


def headline_row(comparison: EncoderComparison, metric: str = "ndcg") -> PairedResult | None:
    """The row quoted in summaries: ``metric`` at k = 5 if scored, else its smallest k."""
    rows = [r for r in comparison.rows if r.metric == metric]
    if not rows:
        return None
    return next((r for r in rows if r.k == HEADLINE_K), rows[0])


def _result_text(c: MetricComparison) -> str:
    if c.group == "guardrail":
        if c.guardrail_breached:
            return "BREACHED"
        return "ok" if c.verdict != "undefined" else "undefined"
    return {
        "better": "significantly better",
        "worse": "significantly worse",
        "inconclusive": "not significant",
        "undefined": "undefined",
    }.get(c.verdict, c.verdict)


def metric_table(inputs: ReportInputs) -> list[MetricRow]:
    """One row per metric and treatment, primary metrics first, guardrails last."""
    result = inputs.result
    header_level = adjusted_level(result)
    rows = [
        _metric_row(inputs, c, result.metric(c.metric), header_level) for c in result.comparisons
    ]
    rows.sort(key=lambda r: GROUP_ORDER.index(r.group) if r.group in GROUP_ORDER else 99)
    return rows


def _metric_row(
    inputs: ReportInputs, c: MetricComparison, info: MetricInfo, header_level: float | None
) -> MetricRow:
    """One comparison's line: every cell formatted by :mod:`abtest.format`.

    ``header_level`` is the level the adjusted-interval column names; an interval
    widened to another level says its own.
    """
    truth = inputs.truth.effect(c.metric, c.variant) if inputs.truth else None
    absolute, rel = c.comparison.absolute, c.comparison.relative
    return MetricRow(
        metric=c.metric,
        description=info.description,
        group=c.group,
        variant=c.variant,
        **comparison_cells(c, percent=info.percent, header_level=header_level)._asdict(),
        absolute=fmt.change(absolute.estimate, percent=info.percent),
        absolute_ci=fmt.change_interval(absolute.ci_low, absolute.ci_high, percent=info.percent),
        absolute_ci_adjusted=fmt.change_interval(
            absolute.ci_low_adjusted, absolute.ci_high_adjusted, percent=info.percent
        ),
        ci_level=fmt.level(rel.ci_level),
        ci_level_adjusted=(
            fmt.level(rel.ci_level_adjusted) if rel.ci_level_adjusted is not None else None
        ),
        p_worse=fmt.p_value(c.p_worse),
        **bayesian_cells(c)._asdict(),
        chance_worse=fmt.chance(1.0 - c.bayes.chance_to_win) if c.bayes else fmt.DASH,
        result=_result_text(c),
        status=comparison_status(c)
        if c.group != "guardrail"
        else ("bad" if c.guardrail_breached else "good"),
        note=c.comparison.message or "",
        true_lift=None if truth is None else fmt.signed_pct(truth.lift),
    )


def ci_levels(rows: Sequence[MetricRow]) -> str:
    """The nominal CI level(s) of the table, e.g. "95%" (several when they differ)."""
    return ", ".join(dict.fromkeys(r.ci_level for r in rows))


def adjusted_ci_levels(rows: Sequence[MetricRow]) -> str | None:
    """The level(s) of the intervals widened for the correction; ``None`` without one."""
    levels = [r.ci_level_adjusted for r in rows if r.ci_level_adjusted is not None]
    return ", ".join(dict.fromkeys(levels)) if levels else None


def settings_line(result: AnalysisResult) -> str:
    test = {"welch": "fixed-horizon (Welch t)", "sequential": "sequential (always valid)"}.get(
        result.test, result.test
    )
    parts = (
        [bayesian_settings_text(result)]
        if result.bayesian is not None
        else [f"{test} test", f"alpha {result.alpha:g}", f"correction {result.correction}"]
    )
    if result.cuped_text:
        parts.append(result.cuped_text)
    return ", ".join(parts)


def window_line(result: AnalysisResult) -> str:
    end = result.end
    text = f"{result.start:%Y-%m-%d} to {end:%Y-%m-%d}"
    if end.time() != end.min.time():
        text += f" {end:%H:%M}"
    text += " (end excluded)"
    if result.as_of is not None:
        text += f", data as of {result.as_of:%Y-%m-%d}"
    return text


# ---------------------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------------------
def srm_table(result: AnalysisResult) -> TextTable:
    srm = result.health.srm
    rows = []
    for i, variant in enumerate(result.variants):
        weight = srm.weights[i] if i < len(srm.weights) else float("nan")
        expected = srm.expected[i] if i < len(srm.expected) else float("nan")
        observed = srm.counts[i] if i < len(srm.counts) else result.health.users.get(variant, 0)
        rows.append(
            Row(
                (
                    variant,
                    fmt.share(weight),
                    fmt.count(expected),
                    fmt.count(observed),
                ),
                "bad" if srm.flagged else "neutral",
            )
        )
    return TextTable(
        ("variant", "configured share", "expected users", "observed users"), tuple(rows)
    )


def srm_verdict(result: AnalysisResult) -> tuple[str, str]:
    """A sentence on the split, and its status."""
    srm = result.health.srm
    if not fmt.finite(srm.p_value):
        return (f"SRM check not possible: {srm.message or 'no users'}", "warn")
    if srm.flagged:
        return (
            f"Sample ratio mismatch: p = {srm.p_value:.3g} (< {srm.threshold:g}). The split does "
            "not match the configuration; find the cause before reading any metric.",
            "bad",
        )
    return (
        f"The split matches the configuration: SRM p = {srm.p_value:.3g} "
        f"(a mismatch is flagged below {srm.threshold:g}).",
        "good",
    )


def exposure_table(result: AnalysisResult) -> TextTable:
    """New (and cumulative) exposed users per day, one column per variant."""
    by_day: dict[object, dict[str, tuple[int, int]]] = {}
    for e in result.health.exposures_per_day:
        by_day.setdefault(e.day, {})[e.variant] = (e.new_users, e.cumulative_users)
    rows = []
    for day, per_variant in sorted(by_day.items(), key=lambda kv: str(kv[0])):
        cells = [str(day)]
        for v in result.variants:
            new, total = per_variant.get(v, (0, 0))
            cells.append(f"{new:,} ({total:,})" if v in per_variant else "0")
        rows.append(Row(tuple(cells)))
    return TextTable(("day", *(f"{v}: new (total)" for v in result.variants)), tuple(rows))


# ---------------------------------------------------------------------------------------
# Over time and segments
# ---------------------------------------------------------------------------------------
def daily_table(result: AnalysisResult, metric: str) -> TextTable:
    rows = []
    info = result.metric(metric)
    for p in result.daily:
        if p.metric != metric:
            continue
        rows.append(
            Row(
                (
                    str(p.day),
                    p.variant,
                    *breakdown_cells(p, percent=info.percent)[:-1],  # no p: see the segments
                )
            )
        )
    return TextTable(
        (
            "day",
            "variant",
            "users (control / treatment)",
            "control",
            "treatment",
            "lift",
            breakdown_interval_label(result),
        ),
        tuple(rows),
    )


def segment_table(result: AnalysisResult, metric: str) -> TextTable:
    rows = []
    info = result.metric(metric)
    for s in result.segments:
        if s.metric != metric:
            continue
        significant = fmt.finite(s.p_value) and s.p_value < result.alpha
        rows.append(
            Row(
                (
                    s.segment,
                    s.value,
                    s.variant,
                    *breakdown_cells(s, percent=info.percent),
                ),
                "good" if significant and s.lift > 0 else ("bad" if significant else "neutral"),
            )
        )
    return TextTable(
        (
            "segment",
            "value",
            "variant",
            "users (control / treatment)",
            "control",
            "treatment",
            "lift",
            breakdown_interval_label(result),
            "p (unadjusted)",
        ),
        tuple(rows),
    )


# ---------------------------------------------------------------------------------------
# Offline
# ---------------------------------------------------------------------------------------
def metric_label(metric: str, k: int) -> str:
    """ "ndcg", 5 -> "nDCG@5"."""
    return f"{METRIC_LABELS.get(metric, metric)}@{k}"


def online_ranking_metrics(result: AnalysisResult) -> list[MetricInfo]:
    """The experiment's online nDCG@k metrics (``kind: ndcg``), in the spec's order."""
    return [m for m in result.metrics if m.kind == "ndcg" and m.k is not None]


def ndcg_table(
    result: AnalysisResult,
    comparisons: Sequence[EncoderComparison],
    encoder_of: Callable[[str], str | None],
) -> TextTable | None:
    """The offline nDCG@k lift next to the online one, per treatment and online nDCG metric.

    Offline: the paired comparison of the treatment's encoder with the control's on
    judged search queries (bootstrap CI). Online: the ``kind: ndcg`` metric of the
    experiment, the module's own views judged by its taps and purchases (the
    analysis' interval: the nominal CI, or the credible interval when the Bayesian
    read-out decides). ``None`` when the experiment has no online nDCG metric.
    """
    metrics = online_ranking_metrics(result)
    if not metrics:
        return None
    by_encoder = {c.encoder_b: c for c in comparisons}
    rows = []
    for info in metrics:
        for c in (c for c in result.comparisons if c.metric == info.name):
            offline = by_encoder.get(encoder_of(c.variant) or "")
            row = None
            if offline is not None:
                row = next((r for r in offline.rows if r.metric == "ndcg" and r.k == info.k), None)
            rel = c.comparison.relative
            lift, low, high = (
                (c.bayes.lift_mean, c.bayes.ci_low, c.bayes.ci_high)
                if c.bayes is not None
                else (rel.estimate, rel.ci_low, rel.ci_high)
            )
            rows.append(
                Row(
                    (
                        c.variant,
                        f"nDCG@{info.k}",
                        f"{fmt.signed_pct(row.lift)} {fmt.interval(*row.lift_ci)}"
                        if row
                        else fmt.DASH,
                        f"{fmt.signed_pct(lift)} {fmt.interval(low, high)}",
                        c.metric,
                    ),
                    comparison_status(c),
                )
            )
    offline_level = fmt.level(comparisons[0].confidence) if comparisons else fmt.DASH
    online_kind = "CrI" if result.bayesian is not None else "CI"
    return TextTable(
        (
            "variant",
            "metric",
            f"offline lift (judged queries, {offline_level} CI)",
            f"online lift (module views, {fmt.level(1.0 - result.alpha)} {online_kind})",
            "online metric",
        ),
        tuple(rows),
    )


def offline_table(comparison: EncoderComparison) -> TextTable:
    rows = []
    for r in comparison.rows:
        significant = r.p_adjusted < 1 - comparison.confidence
        rows.append(
            Row(
                (
                    metric_label(r.metric, r.k),
                    f"{r.mean_a:.3f}",
                    f"{r.mean_b:.3f}",
                    fmt.signed_pct(r.lift),
                    fmt.interval(*r.lift_ci),
                    fmt.p_value(r.p_adjusted),
                ),
                ("good" if r.diff > 0 else "bad") if significant else "neutral",
            )
        )
    return TextTable(
        (
            "metric",
            comparison.encoder_a,
            comparison.encoder_b,
            "lift",
            f"{fmt.level(comparison.confidence)} CI",
            "adjusted p",
        ),
        tuple(rows),
    )


def prediction_table(inputs: ReportInputs) -> TextTable | None:
    """Offline prediction next to the online result, one row per variant."""
    offline, result = inputs.offline, inputs.result
    if offline is None:
        return None
    metric = offline.online_metric
    rows = []
    for v in result.variants:
        encoder = offline.encoder_of(v)
        comparison = offline.comparison_for(encoder) if v != result.control else None
        ndcg = headline_row(comparison) if comparison else None
        estimate = offline.counterfactual_for(encoder)
        online = online_lift = ""
        if metric is not None:
            online = fmt.metric_value(result.value(metric, v).value, result.metric(metric).percent)
            if v != result.control:
                c = result.comparison(metric, v)
                rel = c.comparison.relative
                online_lift = (
                    f"{fmt.signed_pct(rel.estimate)} {fmt.interval(rel.ci_low, rel.ci_high)}"
                )
        rows.append(
            Row(
                (
                    v,
                    encoder or fmt.DASH,
                    (f"{fmt.signed_pct(ndcg.lift)} {fmt.interval(*ndcg.lift_ci)}" if ndcg else ""),
                    online_lift,
                    (
                        f"{fmt.pct(estimate.snips, 2)} {fmt.rate_interval(*estimate.snips_ci)}"
                        if estimate
                        else fmt.DASH
                    ),
                    online or fmt.DASH,
                )
            )
        )
    k = next((r.k for c in offline.comparisons if (r := headline_row(c))), HEADLINE_K)
    offline_level = fmt.level(offline.comparisons[0].confidence) if offline.comparisons else ""
    predicted_level = (
        fmt.level(offline.counterfactual[0].confidence) if offline.counterfactual else ""
    )
    return TextTable(
        (
            "variant",
            "encoder",
            f"offline: nDCG@{k} lift ({offline_level} CI)",
            f"online: {metric or 'tap rate'} lift ({fmt.level(1.0 - result.alpha)} CI)",
            f"offline: predicted tap rate ({predicted_level} CI)",
            f"online: {metric or 'tap rate'}",
        ),
        tuple(rows),
    )


def counterfactual_table(estimates: Sequence[CounterfactualEstimate]) -> TextTable:
    """Each encoder's counterfactual tap rate (SNIPS and IPS) and how well the log covers it."""
    rows = []
    for e in estimates:
        rows.append(
            Row(
                (
                    e.policy,
                    f"{fmt.pct(e.snips, 2)} {fmt.rate_interval(*e.snips_ci)}",
                    f"{fmt.pct(e.ips, 2)} {fmt.rate_interval(*e.ips_ci)}",
                    f"{e.n_matched:,} of {e.n_impressions:,}",
                    f"{e.effective_sample_size:,.0f}",
                    fmt.pct(e.target_slots_logged, 0)
                    if e.target_slots_logged is not None
                    else fmt.DASH,
                ),
                "warn" if (e.target_slots_logged or 1) < 0.5 else "neutral",
            )
        )
    level = fmt.level(estimates[0].confidence) if estimates else ""
    return TextTable(
        (
            "encoder",
            f"tap rate, SNIPS ({level} CI)",
            f"tap rate, IPS ({level} CI)",
            "matched impressions",
            "effective sample size",
            "its slots seen in the log",
        ),
        tuple(rows),
    )


def truth_table(inputs: ReportInputs) -> TextTable | None:
    if inputs.truth is None:
        return None
    rows = []
    for e in inputs.truth.effects:
        info = _metric_or_none(inputs.result, e.metric)
        percent = info.percent if info else False
        show = (lambda x: fmt.pct(x, 2)) if percent else fmt.number
        estimated = ""
        try:
            rel = inputs.result.comparison(e.metric, e.variant).comparison.relative
            estimated = f"{fmt.signed_pct(rel.estimate)} {fmt.interval(rel.ci_low, rel.ci_high)}"
        except KeyError:
            pass
        rows.append(
            Row(
                (
                    e.metric,
                    e.variant,
                    show(e.control_value),
                    show(e.treatment_value),
                    fmt.signed_pct(e.lift),
                    estimated,
                ),
                "sim",
            )
        )
    return TextTable(
        (
            "metric",
            "variant",
            "true control",
            "true treatment",
            "true lift",
            f"measured lift ({fmt.level(1.0 - inputs.result.alpha)} CI)",
        ),
        tuple(rows),
    )


def _metric_or_none(result: AnalysisResult, name: str) -> MetricInfo | None:
    try:
        return result.metric(name)
    except KeyError:
        return None
