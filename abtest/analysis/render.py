"""Show an analysis result: a rich terminal summary, and an HTML table for notebooks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from abtest import format as fmt
from abtest.analysis.cells import (
    adjusted_level,
    bayesian_cells,
    bayesian_settings_text,
    breakdown_cells,
    breakdown_interval_label,
    comparison_cells,
    credible_label,
    guardrail_line,
    open_window_notes,
)
from abtest.analysis.decision_text import decision_text

if TYPE_CHECKING:  # types only: the results import this module to show themselves
    from abtest.analysis.result import AnalysisResult, MetricComparison

_VERDICT_STYLE = {
    "better": "bold green",
    "worse": "bold red",
    "inconclusive": "yellow",
    "undefined": "dim",
}


def ci_label(result: AnalysisResult) -> str:
    """The nominal interval's header: "95% CI" (``1 - alpha``)."""
    return f"{fmt.level(1.0 - result.alpha)} CI"


def adjusted_ci_label(result: AnalysisResult) -> str | None:
    """The widened interval's header, e.g. "98.75% CI (holm)"; ``None`` without a correction."""
    level = adjusted_level(result)
    if level is None:
        return None
    return f"{fmt.level(level)} CI ({result.correction})"


def metric_rows(result: AnalysisResult) -> list[dict[str, str]]:
    """The cells of the terminal (and notebook) metric table, one row per metric and treatment.

    ``p`` is the raw p-value, ``p_adjusted`` the adjusted one ("—" without a
    correction); ``lift_ci`` is the nominal interval and ``lift_ci_adjusted`` the
    one widened for the correction (naming its level when the header does not).
    """
    header_level = adjusted_level(result)
    rows = []
    for c in result.comparisons:
        cells = comparison_cells(
            c, percent=result.metric(c.metric).percent, header_level=header_level
        )
        rows.append(
            {
                "metric": c.metric + (" (guardrail)" if c.group == "guardrail" else ""),
                "variant": c.variant,
                **cells._asdict(),
                **bayesian_cells(c)._asdict(),
                "verdict": _verdict_text(c),
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
    ]
    if result.bayesian is not None:  # chance to win and risk decide; no p-values shown
        columns += [
            (credible_label(result), "lift_cri", "right"),
            ("chance to win", "chance_to_win", "right"),
            ("risk", "risk", "right"),
            ("", "verdict", "left"),
        ]
        return columns
    columns += [(ci_label(result), "lift_ci", "right"), ("p", "p", "right")]
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
    headline, reason = decision_text(result)
    head = Text.assemble((headline, style), "\n", (reason, ""))
    window = (
        f"{result.experiment}: {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d %H:%M}".removesuffix(
            " 00:00"
        )
        + (
            f" · {bayesian_settings_text(result)}"
            if result.bayesian is not None
            else f" · {result.test} test, alpha {result.alpha:g}, correction {result.correction}"
        )
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
    longest = max((len(m.name) for m in result.metrics), default=0)  # names are never cut
    for label, key, justify in columns:
        width = longest if key == "metric" else None
        table.add_column(label, justify=justify, min_width=width)  # type: ignore[arg-type]
    for row, c in zip(metric_rows(result), result.comparisons, strict=True):
        cells: list[Any] = [row[key] for _, key, _ in columns[:-1]]
        style = "bold red" if c.guardrail_breached else _VERDICT_STYLE.get(c.verdict, "")
        table.add_row(*cells, Text(row["verdict"], style=style))
    notes = [Text(f"note: {where}: {message}", style="dim") for where, message in _notes(result)]
    notes += [Text(f"note: {n}", style="dim") for n in open_window_notes(result)]
    if result.source is not None:
        notes.append(Text(f"note: {result.source}", style="dim"))
    guards = [
        Text(guardrail_line(c, result), style="bold red" if c.guardrail_breached else "")
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
    headline, reason = decision_text(result)
    head = f"<p><strong>{fmt.escape(headline)}</strong><br>{fmt.escape(reason)}</p>"
    columns = _table_columns(result)
    cols = [key for _, key, _ in columns]
    labels = [label or "verdict" for label, _, _ in columns]
    header = "".join(f"<th>{fmt.escape(h)}</th>" for h in labels)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt.escape(row[c])}</td>" for c in cols) + "</tr>"
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
        (breakdown_interval_label(result), "right"),
        ("p", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in result.segments:
        if s.metric != metric:
            continue
        cells = breakdown_cells(s, percent=info.percent)
        table.add_row(s.segment, s.value, s.variant, *cells)
    return table
