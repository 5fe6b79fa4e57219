"""Show an analysis result: a rich terminal summary, and an HTML table for notebooks."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from abtest.analysis.result import AnalysisResult, MetricComparison, escape, format_value
from abtest.stats import Effect

_VERDICT_STYLE = {
    "better": "bold green",
    "worse": "bold red",
    "inconclusive": "yellow",
    "undefined": "dim",
}


def _interval(low: float, high: float, percent: bool) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "—"
    if percent:
        return f"[{low:+.1%}, {high:+.1%}]"
    return f"[{low:+,.3g}, {high:+,.3g}]"


def _level(level: float | None) -> str:
    """0.95 -> "95%", 0.9875 -> "98.75%"."""
    if level is None or not math.isfinite(level):
        return "—"
    return f"{level * 100:.4g}%"


def ci_label(result: AnalysisResult) -> str:
    """The nominal interval's header: "95% CI" (``1 - alpha``)."""
    return f"{_level(1.0 - result.alpha)} CI"


def _adjusted_level(result: AnalysisResult, family: str = "relative") -> float | None:
    """The level of the intervals widened for the correction (one per family)."""
    levels = [
        getattr(c.comparison, family).ci_level_adjusted
        for c in result.comparisons
        if getattr(c.comparison, family).ci_level_adjusted is not None
    ]
    return max(set(levels), key=levels.count) if levels else None


def adjusted_ci_label(result: AnalysisResult, family: str = "relative") -> str | None:
    """The widened interval's header, e.g. "98.75% CI (holm)"; ``None`` without a correction."""
    level = _adjusted_level(result, family)
    if level is None:
        return None
    return f"{_level(level)} CI ({result.correction})"


def _p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _adjusted_interval(effect: Effect, percent: bool, header_level: float | None) -> str:
    """The widened interval; it names its level when the column header does not."""
    if effect.ci_low_adjusted is None or effect.ci_high_adjusted is None:
        return "—"
    text = _interval(effect.ci_low_adjusted, effect.ci_high_adjusted, percent)
    level = effect.ci_level_adjusted
    differs = level is not None and header_level is not None and abs(level - header_level) > 1e-12
    if text != "—" and differs:
        text += f" ({_level(level)})"
    return text


def metric_rows(result: AnalysisResult) -> list[dict[str, str]]:
    """The metric table as strings, one row per metric and treatment (shared by renderers).

    ``p`` is the raw p-value, ``p_adjusted`` the adjusted one ("—" without a
    correction); ``*_ci`` are nominal intervals and ``*_ci_adjusted`` those
    widened for the correction; ``p_worse`` is a guardrail's one-sided p-value.
    """
    rows = []
    rel_level = _adjusted_level(result, "relative")
    abs_level = _adjusted_level(result, "absolute")
    for c in result.comparisons:
        info = result.metric(c.metric)
        cmp = c.comparison
        rel = cmp.relative
        absolute = cmp.absolute
        rows.append(
            {
                "metric": c.metric + (" (guardrail)" if c.group == "guardrail" else ""),
                "group": c.group,
                "variant": c.variant,
                "control": format_value(info, cmp.control_mean),
                "treatment": format_value(info, cmp.treatment_mean),
                "absolute": (
                    f"{absolute.estimate:+.3%}"
                    if info.percent and math.isfinite(absolute.estimate)
                    else (f"{absolute.estimate:+,.4g}" if math.isfinite(absolute.estimate) else "—")
                ),
                "absolute_ci": _interval(absolute.ci_low, absolute.ci_high, info.percent),
                "absolute_ci_adjusted": _adjusted_interval(absolute, info.percent, abs_level),
                "lift": f"{rel.estimate:+.1%}" if math.isfinite(rel.estimate) else "—",
                "lift_ci": _interval(rel.ci_low, rel.ci_high, True),
                "lift_ci_adjusted": _adjusted_interval(rel, True, rel_level),
                "p": _p(c.p_value),
                "p_adjusted": _p(c.p_adjusted),
                "p_worse": _p(c.p_worse),
                "verdict": _verdict_text(c),
                "note": cmp.message or "",
            }
        )
    return rows


def _verdict_text(c: MetricComparison) -> str:
    if c.group == "guardrail":
        if c.guardrail_breached:
            return "BREACHED"
        return "ok" if c.p_worse is not None and math.isfinite(c.p_worse) else "undefined"
    return c.verdict


def _table_columns(result: AnalysisResult) -> list[tuple[str, str, str]]:
    """(header, row key, justification) of the metric table, as the analysis asks.

    The adjusted interval and p-value appear only when a correction was applied;
    each interval's header says its level.
    """
    columns = [
        ("metric", "metric", "left"),
        ("variant", "variant", "left"),
        ("control", "control", "right"),
        ("treatment", "treatment", "right"),
        ("lift", "lift", "right"),
        (ci_label(result), "lift_ci", "right"),
        ("p", "p", "right"),
    ]
    adjusted = adjusted_ci_label(result)
    if adjusted is not None:
        columns += [(adjusted, "lift_ci_adjusted", "right"), ("adjusted p", "p_adjusted", "right")]
    columns.append(("", "verdict", "left"))
    return columns


def rich_summary(result: AnalysisResult) -> Any:
    """Decision, health and the metric table, for the terminal."""
    d = result.decision
    style = {
        "winner": "bold green",
        "loser": "bold red",
        "invalid": "bold red",
        "guardrail_breached": "bold yellow",
    }.get(d.verdict, "bold")
    head = Text.assemble((d.headline, style), "\n", (d.reason, ""))
    window = (
        f"{result.experiment}: {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d %H:%M}".removesuffix(
            " 00:00"
        )
        + f" · {result.test} test, alpha {result.alpha:g}, correction {result.correction}"
        + (f", {result.cuped_text}" if result.cuped_text else "")
    )
    srm = result.health.srm
    users = ", ".join(f"{v} {n:,}" for v, n in result.health.users.items())
    health = Text(
        f"Users: {users} · SRM p = {srm.p_value:.3g} "
        + ("— MISMATCH, do not trust the results" if srm.flagged else "(ok)"),
        style="bold red" if srm.flagged else "",
    )
    table = Table(title=window, title_justify="left", header_style="bold")
    columns = _table_columns(result)
    for label, _, justify in columns:
        table.add_column(label, justify=justify)  # type: ignore[arg-type]
    for row, c in zip(metric_rows(result), result.comparisons, strict=True):
        cells: list[Any] = [row[key] for _, key, _ in columns[:-1]]
        style = "bold red" if c.guardrail_breached else _VERDICT_STYLE.get(c.verdict, "")
        table.add_row(*cells, Text(row["verdict"], style=style))
    notes = [Text(f"note: {where}: {message}", style="dim") for where, message in _notes(result)]
    guards = [
        Text(
            f"guardrail {c.metric}/{c.variant}: one-sided p = {_p(c.p_worse)} that it got worse "
            f"(unadjusted; breached below {result.alpha:g})"
            + (" — BREACHED" if c.guardrail_breached else ""),
            style="bold red" if c.guardrail_breached else "",
        )
        for c in result.comparisons
        if c.group == "guardrail"
    ]
    warnings = [Text(f"warning: {w}", style="yellow") for w in result.health.warnings]
    return Group(head, health, table, *guards, *warnings, *notes)


def _notes(result: AnalysisResult) -> list[tuple[str, str]]:
    """The comparisons' notes, each said once with the metric/variant pairs it is about."""
    grouped: dict[str, list[str]] = {}
    for c in result.comparisons:
        if c.comparison.message:
            grouped.setdefault(c.comparison.message, []).append(f"{c.metric}/{c.variant}")
    return [(", ".join(where), message) for message, where in grouped.items()]


def html_table(result: AnalysisResult) -> str:
    """The decision and metric table as an HTML fragment (Jupyter's ``_repr_html_``)."""
    head = (
        f"<p><strong>{escape(result.decision.headline)}</strong><br>"
        f"{escape(result.decision.reason)}</p>"
    )
    columns = _table_columns(result)
    cols = [key for _, key, _ in columns]
    labels = [label or "verdict" for label, _, _ in columns]
    header = "".join(f"<th>{escape(h)}</th>" for h in labels)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(row[c])}</td>" for c in cols) + "</tr>"
        for row in metric_rows(result)
    )
    srm = result.health.srm
    foot = f"<p>SRM p = {srm.p_value:.3g}{' — sample ratio mismatch' if srm.flagged else ''}</p>"
    return f"{head}<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>{foot}"


def segment_summary(result: AnalysisResult, metric: str | None = None) -> Any:
    """The per-segment lifts of one metric (the primary by default), for the terminal.

    Segments are for exploring: their p-values are not adjusted, as the title says.
    """
    if not result.segments:
        return Text("")
    metric = metric or next(m.name for m in result.metrics if m.group == "primary")
    info = result.metric(metric)
    level = _level(1.0 - result.alpha)
    kind = "confidence sequence" if result.test == "sequential" else "CI"
    table = Table(
        title=f"{metric} by segment (exploratory: p not adjusted)",
        title_justify="left",
        header_style="bold",
    )
    for name, justify in (
        ("segment", "left"),
        ("value", "left"),
        ("variant", "left"),
        ("users", "right"),
        ("control", "right"),
        ("treatment", "right"),
        ("lift", "right"),
        (f"{level} {kind}", "right"),
        ("p", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in result.segments:
        if s.metric != metric:
            continue
        table.add_row(
            s.segment,
            s.value,
            s.variant,
            f"{s.control_users:,} / {s.treatment_users:,}",
            format_value(info, s.control_value),
            format_value(info, s.treatment_value),
            f"{s.lift:+.1%}" if math.isfinite(s.lift) else "—",
            _interval(s.lift_low, s.lift_high, True),
            _p(s.p_value),
        )
    return table
