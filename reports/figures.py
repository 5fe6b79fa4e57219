"""The report's plotly figures, built from result objects (nothing is recomputed).

Every string that comes from data (metric, variant, segment and encoder names)
is HTML-escaped before it reaches plotly, whose labels understand a little
HTML: a name such as ``<b>`` shows as typed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from abtest import format as fmt
from abtest.analysis.cells import breakdown_interval_label
from reports.tables import metric_label

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult, MetricComparison
    from abtest.stats import Effect
    from reports.inputs import OfflineSection

GOOD, BAD, NEUTRAL = "#1b7f3b", "#c0392b", "#6b7280"
VARIANT_COLOURS = ("#6b7280", "#2563eb", "#d97706", "#7c3aed", "#0891b2", "#db2777")
"""Control grey, then one colour per treatment (the same in every figure)."""

FIGURE_METRICS = ("ndcg", "precision")
"""Offline metrics drawn (the tables list every metric that was computed)."""
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def _interval_bars(
    estimates: list[tuple[float, float, float]], colour: str, *, width: int
) -> dict[str, object]:
    """Asymmetric plotly error bars from (estimate, low, high) triples."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [_num(high - est) for est, _, high in estimates],
        "arrayminus": [_num(est - low) for est, low, _ in estimates],
        "color": colour,
        "thickness": 2,
        "width": width,
    }


def esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def _num(x: float) -> float | None:
    """Plotly has no NaN: undefined values become gaps."""
    return x if x is not None and math.isfinite(x) else None


def variant_colour(result: AnalysisResult, variant: str) -> str:
    i = result.variants.index(variant) if variant in result.variants else 0
    return VARIANT_COLOURS[i % len(VARIANT_COLOURS)]


def _layout(fig: go.Figure, *, height: int, **kw: object) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        font={"family": FONT, "size": 13, "color": "#1f2937"},
        margin={"l": 10, "r": 20, "t": 40, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hoverlabel={"font": {"family": FONT}},
        **kw,
    )
    fig.update_yaxes(automargin=True)
    fig.update_xaxes(automargin=True)
    return fig


def _zero_line() -> dict[str, object]:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": 0,
        "x1": 0,
        "y0": 0,
        "y1": 1,
        "line": {"color": "#111827", "width": 1},
    }


def _dropdown(labels: Sequence[str], masks: Sequence[list[bool]], extra: Sequence[dict]) -> dict:
    return {
        "buttons": [
            {"label": esc(label), "method": "update", "args": [{"visible": mask}, more]}
            for label, mask, more in zip(labels, masks, extra, strict=True)
        ],
        "direction": "down",
        "x": 1,
        "xanchor": "right",
        "y": 1.18,
        "yanchor": "top",
        "showactive": True,
    }


# ---------------------------------------------------------------------------------------
def _decision_interval(effect: Effect) -> tuple[float, float, str]:
    """The interval that matches the decision: widened for the correction when there is
    one, else nominal; with its label, e.g. "98.75% CI"."""
    if effect.ci_low_adjusted is not None and effect.ci_high_adjusted is not None:
        return (
            effect.ci_low_adjusted,
            effect.ci_high_adjusted,
            f"{fmt.level(effect.ci_level_adjusted)} CI",
        )
    return effect.ci_low, effect.ci_high, f"{fmt.level(effect.ci_level)} CI"


def _adjusted_hover(effect: Effect, p_adjusted: float | None, correction: str) -> str:
    """The hover's line for the corrected numbers ("" without a correction)."""
    if effect.ci_low_adjusted is None or effect.ci_high_adjusted is None:
        return ""
    return (
        f"<br>{fmt.level(effect.ci_level_adjusted)} CI ({esc(correction)}) "
        f"{fmt.interval(effect.ci_low_adjusted, effect.ci_high_adjusted)}"
        f"<br>adjusted p {fmt.p_value(p_adjusted)}"
    )


def _forest_point(c: MetricComparison, correction: str) -> tuple[float, float, float, str, str]:
    """(lift, low, high, interval label, hover lines) of one comparison in the forest plot:
    the Bayesian credible interval with chance to win and risk when that read-out decides,
    else the interval that matches the decision with its p-value(s)."""
    if c.bayes is not None:
        b = c.bayes
        label = f"{fmt.level(b.ci_level)} CrI"
        hover = (
            f"<br>{label} {fmt.interval(b.ci_low, b.ci_high)}"
            f"<br>chance to win {fmt.chance(b.chance_to_win)}, risk {fmt.risk(b.risk_treatment)}"
        )
        return b.lift_mean, b.ci_low, b.ci_high, label, hover
    rel = c.comparison.relative
    low, high, label = _decision_interval(rel)
    hover = (
        f"<br>{fmt.level(rel.ci_level)} CI {fmt.interval(rel.ci_low, rel.ci_high)}"
        f"<br>p {fmt.p_value(c.p_value)}{_adjusted_hover(rel, c.p_adjusted, correction)}"
    )
    return rel.estimate, low, high, label, hover


def forest(result: AnalysisResult) -> go.Figure | None:
    """Relative lift of every metric with its CI; colour says significantly better/worse."""
    several = len(result.variants) > 2
    groups: dict[str, tuple[list, str, str]] = {
        "good": ([], "significantly better", GOOD),
        "bad": ([], "significantly worse, or guardrail breached", BAD),
        "neutral": ([], "not significant", NEUTRAL),
    }
    order = {"primary": 0, "secondary": 1, "guardrail": 2}
    comparisons = sorted(result.comparisons, key=lambda c: order.get(c.group, 3))
    labels = []
    for c in comparisons:
        rel = c.comparison.relative
        label = esc(c.metric) + (f" · {esc(c.variant)}" if several else "")
        if c.group == "guardrail":
            label += " (guardrail)"
        elif c.group == "primary":
            label = f"<b>{label}</b>"
        labels.append(label)
        if not math.isfinite(rel.estimate):
            continue
        if c.guardrail_breached or c.verdict == "worse":
            key = "bad"
        elif c.verdict == "better" and c.group != "guardrail":
            key = "good"
        else:
            key = "neutral"
        groups[key][0].append((label, c))
    if not any(points for points, _, _ in groups.values()):
        return None
    fig = go.Figure()
    for points, name, colour in groups.values():
        if not points:
            continue
        shown = [_forest_point(c, result.correction) for _, c in points]
        fig.add_trace(
            go.Scatter(
                x=[estimate for estimate, *_ in shown],
                y=[label for label, _ in points],
                mode="markers",
                name=name,
                marker={"color": colour, "size": 11, "symbol": "diamond"},
                error_x=_interval_bars(
                    [(estimate, low, high) for estimate, low, high, _, _ in shown],
                    colour,
                    width=6,
                ),
                customdata=[
                    [esc(c.variant), hover]
                    for (_, c), (*_, hover) in zip(points, shown, strict=True)
                ],
                hovertemplate="%{y} (%{customdata[0]})<br>lift %{x:+.1%}"
                "%{customdata[1]}<extra></extra>",
            )
        )
    _layout(fig, height=110 + 42 * len(labels), shapes=[_zero_line()])
    levels = {_forest_point(c, result.correction)[3] for c in comparisons}
    level_text = ", ".join(sorted(levels))
    if result.correction != "none" and any(c.comparison.relative.adjusted for c in comparisons):
        level_text += f" ({result.correction})"
    fig.update_xaxes(tickformat="+.0%", title_text=f"relative lift vs control, {level_text}")
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1])
    return fig


# ---------------------------------------------------------------------------------------
def cumulative(result: AnalysisResult) -> go.Figure | None:
    """Cumulative lift day by day with its interval, one metric at a time (a dropdown)."""
    if not result.daily:
        return None
    metrics = [m.name for m in result.metrics if any(p.metric == m.name for p in result.daily)]
    treatments = [v for v in result.variants if v != result.control]
    fig = go.Figure()
    owner: list[str] = []
    for m in metrics:
        for v in treatments:
            points = [p for p in result.daily if p.metric == m and p.variant == v]
            if not points:
                continue
            colour = variant_colour(result, v)
            days = [p.day.isoformat() for p in points]
            visible = m == metrics[0]
            fig.add_trace(
                go.Scatter(
                    x=days,
                    y=[_num(p.lift_high) for p in points],
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    visible=visible,
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=days,
                    y=[_num(p.lift_low) for p in points],
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor=_alpha(colour, 0.18),
                    name=f"{esc(v)}: {breakdown_interval_label(result)}",
                    hoverinfo="skip",
                    visible=visible,
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=days,
                    y=[_num(p.lift) for p in points],
                    mode="lines+markers",
                    line={"color": colour, "width": 2.5},
                    marker={"size": 6},
                    name=f"{esc(v)}: cumulative lift",
                    customdata=[
                        [_num(p.lift_low), _num(p.lift_high), p.control_users, p.treatment_users]
                        for p in points
                    ],
                    hovertemplate="%{x}<br>lift %{y:+.1%}"
                    f"<br>{breakdown_interval_label(result)} "
                    "[%{customdata[0]:+.1%}, %{customdata[1]:+.1%}]"
                    "<br>users so far: %{customdata[2]:,} control, %{customdata[3]:,} "
                    f"{esc(v)}<extra></extra>",
                    visible=visible,
                )
            )
            owner.extend([m] * 3)
    _layout(fig, height=400, shapes=[_hline(0)])
    fig.update_yaxes(tickformat="+.0%", title_text=f"lift in {esc(metrics[0])}")
    if len(metrics) > 1:
        fig.update_layout(
            updatemenus=[
                _dropdown(
                    metrics,
                    [[o == m for o in owner] for m in metrics],
                    [{"yaxis.title.text": f"lift in {esc(m)}"} for m in metrics],
                )
            ],
            margin={"t": 70},
        )
    return fig


def _hline(y: float) -> dict[str, object]:
    return {
        "type": "line",
        "xref": "paper",
        "yref": "y",
        "x0": 0,
        "x1": 1,
        "y0": y,
        "y1": y,
        "line": {"color": "#111827", "width": 1},
    }


def _alpha(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# ---------------------------------------------------------------------------------------
def exposures(result: AnalysisResult) -> go.Figure | None:
    """Newly exposed users per day and variant (hover: the running total)."""
    if not result.health.exposures_per_day:
        return None
    fig = go.Figure()
    for v in result.variants:
        days = [e for e in result.health.exposures_per_day if e.variant == v]
        fig.add_trace(
            go.Bar(
                x=[e.day.isoformat() for e in days],
                y=[e.new_users for e in days],
                name=esc(v),
                marker_color=variant_colour(result, v),
                customdata=[e.cumulative_users for e in days],
                hovertemplate=f"{esc(v)}<br>%{{x}}: %{{y:,}} new users"
                "<br>%{customdata:,} in total<extra></extra>",
            )
        )
    _layout(fig, height=320, barmode="group", bargap=0.25)
    fig.update_yaxes(title_text="newly exposed users", tickformat=",")
    return fig


# ---------------------------------------------------------------------------------------
def segments(result: AnalysisResult) -> go.Figure | None:
    """Lift per segment value with its interval, one metric at a time; dashed: overall lift."""
    if not result.segments:
        return None
    metrics = [m.name for m in result.metrics if any(s.metric == m.name for s in result.segments)]
    treatments = [v for v in result.variants if v != result.control]
    several = len(treatments) > 1
    fig = go.Figure()
    owner: list[str] = []
    categories: list[str] = []
    for m in metrics:
        for v in treatments:
            points = [s for s in result.segments if s.metric == m and s.variant == v]
            if not points:
                continue
            labels = [
                f"{esc(s.segment)}: {esc(s.value)}" + (f" · {esc(v)}" if several else "")
                for s in points
            ]
            categories.extend(label for label in labels if label not in categories)
            colour = variant_colour(result, v)
            fig.add_trace(
                go.Scatter(
                    x=[_num(s.lift) for s in points],
                    y=labels,
                    mode="markers",
                    name=esc(v),
                    marker={"color": colour, "size": 10},
                    error_x=_interval_bars(
                        [(p.lift, p.lift_low, p.lift_high) for p in points], colour, width=5
                    ),
                    customdata=[
                        [_num(s.lift_low), _num(s.lift_high), s.control_users, s.treatment_users]
                        for s in points
                    ],
                    hovertemplate="%{y}<br>lift %{x:+.1%}"
                    f"<br>{breakdown_interval_label(result)} "
                    "[%{customdata[0]:+.1%}, %{customdata[1]:+.1%}]"
                    "<br>users: %{customdata[2]:,} control, %{customdata[3]:,} treatment"
                    "<extra></extra>",
                    visible=m == metrics[0],
                    showlegend=several,
                )
            )
            owner.append(m)

    def overall(m: str) -> list[dict[str, object]]:
        shapes: list[dict[str, object]] = [_zero_line()]
        for v in treatments:
            try:
                est = result.comparison(m, v).comparison.relative.estimate
            except KeyError:
                continue
            if math.isfinite(est):
                line = {**_zero_line(), "x0": est, "x1": est}
                line["line"] = {"color": variant_colour(result, v), "width": 1.5, "dash": "dash"}
                shapes.append(line)
        return shapes

    _layout(fig, height=130 + 30 * len(categories), shapes=overall(metrics[0]))
    fig.update_xaxes(tickformat="+.0%", title_text="lift within the segment (dashed: overall)")
    fig.update_yaxes(categoryorder="array", categoryarray=categories[::-1])
    if len(metrics) > 1:
        fig.update_layout(
            updatemenus=[
                _dropdown(
                    metrics,
                    [[o == m for o in owner] for m in metrics],
                    [{"shapes": overall(m)} for m in metrics],
                )
            ],
            margin={"t": 70},
        )
    return fig


# ---------------------------------------------------------------------------------------
def offline(section: OfflineSection) -> go.Figure | None:
    """Mean nDCG@k and P@k per encoder, as grouped bars (all metrics if neither was scored)."""
    if not section.comparisons:
        return None
    first = section.comparisons[0]
    rows = [r for r in first.rows if r.metric in FIGURE_METRICS] or list(first.rows)
    labels = [metric_label(r.metric, r.k) for r in rows]
    series = [(first.encoder_a, [r.mean_a for r in rows])]
    for comparison in section.comparisons:
        by_label = {metric_label(r.metric, r.k): r.mean_b for r in comparison.rows}
        series.append((comparison.encoder_b, [by_label.get(label) for label in labels]))
    served = [v.encoder for v in section.variants]
    fig = go.Figure()
    for i, (encoder, means) in enumerate(series):
        colour = served.index(encoder) if encoder in served else i  # the variant's colour
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[_num(m) if m is not None else None for m in means],
                name=esc(encoder),
                marker_color=VARIANT_COLOURS[colour % len(VARIANT_COLOURS)],
                text=[f"{m:.3f}" if m is not None and math.isfinite(m) else "" for m in means],
                textposition="outside",
                hovertemplate=f"{esc(encoder)}<br>%{{x}} = %{{y:.3f}}<extra></extra>",
            )
        )
    _layout(fig, height=340, barmode="group", bargap=0.3)
    fig.update_yaxes(title_text="mean over judged queries", rangemode="tozero")
    return fig
