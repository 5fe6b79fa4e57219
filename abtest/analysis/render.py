"""Show an analysis result: a rich terminal summary, and an HTML table for notebooks."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from abtest.analysis.result import AnalysisResult, MetricComparison, escape, format_value

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


def ci_label(result: AnalysisResult) -> str:
    """The interval's level as computed: after a Holm correction it is wider than 1 - alpha."""
    levels = {
        round(c.comparison.relative.ci_level, 6)
        for c in result.comparisons
        if math.isfinite(c.comparison.relative.ci_level)
    }
    if len(levels) == 1:
        level = levels.pop()
        text = f"{level:.1%}".replace(".0%", "%")
        corrected = result.correction != "none" and level > 1 - result.alpha + 1e-9
        return f"{text} CI" + (f" ({result.correction})" if corrected else "")
    return "CI"


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def metric_rows(result: AnalysisResult) -> list[dict[str, str]]:
    """The metric table as strings, one row per metric and treatment (shared by renderers)."""
    rows = []
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
                "lift": f"{rel.estimate:+.1%}" if math.isfinite(rel.estimate) else "—",
                "lift_ci": _interval(rel.ci_low, rel.ci_high, True),
                "p": _p(rel.p_value if math.isfinite(rel.p_value) else absolute.p_value),
                "p_adjusted": _p(c.p_adjusted),
                "verdict": _verdict_text(c),
                "note": cmp.message or "",
            }
        )
    return rows


def _verdict_text(c: MetricComparison) -> str:
    if c.guardrail_breached:
        return "BREACHED"
    return c.verdict


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
    for name, justify in (
        ("metric", "left"),
        ("variant", "left"),
        ("control", "right"),
        ("treatment", "right"),
        ("lift", "right"),
        (ci_label(result), "right"),
        ("p", "right"),
        ("p adj.", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row, c in zip(metric_rows(result), result.comparisons, strict=True):
        table.add_row(
            row["metric"],
            row["variant"],
            row["control"],
            row["treatment"],
            row["lift"],
            row["lift_ci"],
            row["p"],
            row["p_adjusted"],
            Text(
                row["verdict"],
                style="bold red" if c.guardrail_breached else _VERDICT_STYLE.get(c.verdict, ""),
            ),
        )
    notes = [
        Text(f"note: {c.metric}/{c.variant}: {c.comparison.message}", style="dim")
        for c in result.comparisons
        if c.comparison.message
    ]
    warnings = [Text(f"warning: {w}", style="yellow") for w in result.health.warnings]
    return Group(head, health, table, *warnings, *notes)


def html_table(result: AnalysisResult) -> str:
    """The decision and metric table as an HTML fragment (Jupyter's ``_repr_html_``)."""
    head = (
        f"<p><strong>{escape(result.decision.headline)}</strong><br>"
        f"{escape(result.decision.reason)}</p>"
    )
    cols = [
        "metric",
        "variant",
        "control",
        "treatment",
        "lift",
        "lift_ci",
        "p",
        "p_adjusted",
        "verdict",
    ]
    labels = [
        "metric",
        "variant",
        "control",
        "treatment",
        "lift",
        ci_label(result),
        "p",
        "p adj.",
        "verdict",
    ]
    header = "".join(f"<th>{escape(h)}</th>" for h in labels)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(row[c])}</td>" for c in cols) + "</tr>"
        for row in metric_rows(result)
    )
    srm = result.health.srm
    foot = f"<p>SRM p = {srm.p_value:.3g}{' — sample ratio mismatch' if srm.flagged else ''}</p>"
    return f"{head}<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>{foot}"
