"""The report as Markdown: the same content as the HTML report, as tables, without figures.

Text from data or YAML is escaped for Markdown *and* HTML (most Markdown
renderers pass raw HTML through), so an item title can never become markup.
The spec goes in a fenced block longer than any run of backticks in it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from abtest import format as fmt
from abtest.analysis.cells import open_window_notes
from reports import tables
from reports.glossary import GLOSSARY
from reports.summary import summary

if TYPE_CHECKING:
    from reports.inputs import ReportInputs

_INLINE = re.compile(r"([\\`*_\[\]|~])")
"""Characters that start inline markup (emphasis, code, links) or end a table cell."""
_BLOCK_START = re.compile(r"^(?:([#+\-=>])|(\d+)([.)]))")
"""A heading, list, rule or quote marker at the start of a paragraph."""


def md(text: object) -> str:
    """Inline text, escaped: HTML entities for ``& < >``, backslashes for Markdown markup."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(_INLINE.sub(r"\\\1", s).split())  # no newline may break a row


def md_paragraph(text: object) -> str:
    """Text that starts a line: also escapes a leading heading, list or quote marker."""
    return _BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", md(text), count=1)


def md_table(table: tables.TextTable) -> str:
    lines = [
        "| " + " | ".join(md(c) for c in table.columns) + " |",
        "|" + "|".join(" ---: " if right else " --- " for right in table.numeric()) + "|",
    ]
    lines += ["| " + " | ".join(md(c) or " " for c in row.cells) + " |" for row in table.rows]
    return "\n".join(lines)


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(inputs: ReportInputs) -> str:
    """The report as one Markdown document (sections in the order of the HTML report)."""
    sections = (
        _header,
        _metrics,
        _truth,
        _over_time,
        _health,
        _segments,
        _offline,
        _gallery,
        _appendix,
    )
    blocks = [block for section in sections for block in section(inputs)]
    return "\n\n".join(blocks).rstrip("\n") + "\n"


def _header(inputs: ReportInputs) -> list[str]:
    result = inputs.result
    glance = summary(inputs)
    facts = [
        f"- Window: {md(tables.window_line(result))}",
        f"- Analysis: {md(tables.settings_line(result))}",
    ]
    for i, v in enumerate(inputs.variants):
        role = " (control)" if i == 0 else ""
        encoder = f", encoder {md(v.encoder)}" if v.encoder else ""
        description = f" — {md(v.description)}" if v.description else ""
        facts.append(
            f"- Variant **{md(v.name)}**{role}: {md(fmt.share(v.weight))} of users"
            f"{encoder}{description}"
        )
    tiles = tables.TextTable(
        ("", "value", "detail"),
        tuple(tables.Row((t.label, t.value, t.detail)) for t in glance.tiles),
    )
    blocks = [
        f"# {md(result.experiment)} — lift report",
        f"> **{md(glance.headline)}**  \n> {md(glance.reason)}",
    ]
    if result.description:
        blocks.append(md_paragraph(result.description))
    blocks += ["\n".join(facts), "## Summary", md_table(tiles)]
    if result.health.warnings:
        blocks.append("\n".join(f"- Warning: {md(w)}" for w in result.health.warnings))
    return blocks


def _metrics(inputs: ReportInputs) -> list[str]:
    result = inputs.result
    rows = tables.metric_table(inputs)
    levels = tables.ci_levels(rows)
    adjusted = tables.adjusted_ci_levels(rows)
    bayes = result.bayesian is not None
    columns = ["group", "metric", "variant", "control", "treatment", f"change ({levels} CI)"]
    columns += (
        ["lift", f"{levels} CrI", "chance to win", "risk"]
        if bayes
        else ["lift", f"{levels} CI", "p"]
    )
    if adjusted is not None:
        columns += [f"{adjusted} CI ({result.correction})", "adjusted p"]
    columns.append("result")
    if inputs.truth:
        columns.append("true lift (simulation only)")
    cells = []
    for r in rows:
        row = [r.group, r.metric, r.variant, r.control, r.treatment]
        row.append(f"{r.absolute} {r.absolute_ci}")
        row += [r.lift, r.lift_cri, r.chance_to_win, r.risk] if bayes else [r.lift, r.lift_ci, r.p]
        if adjusted is not None:
            row += [r.lift_ci_adjusted, r.p_adjusted]
        row.append(r.result)
        if inputs.truth:
            row.append(r.true_lift or fmt.DASH)
        cells.append(tables.Row(tuple(row)))
    caption = f"{GLOSSARY['ci']} {GLOSSARY['p']}"
    if bayes:
        caption = f"{tables.settings_line(result)}. {GLOSSARY['cri']} "
        caption += f"{GLOSSARY['chance_to_win']} {GLOSSARY['risk']}"
    if adjusted is not None:
        caption += f" {GLOSSARY['p_adjusted']}"
    blocks = [
        "## Metrics",
        md(caption),
        md_table(tables.TextTable(tuple(columns), tuple(cells))),
        *(md(f"Window: {n}.") for n in open_window_notes(result)),
        *([md(f"Data: {result.source}.")] if result.source else []),
    ]
    guards = [
        f"- Guardrail {md(r.metric)} / {md(r.variant)}: "
        + (
            f"chance {r.chance_worse} that it got worse, {r.result}"
            if bayes
            else f"one-sided p = {r.p_worse} that it got worse (unadjusted), {r.result}"
        )
        for r in rows
        if r.group == "guardrail"
    ]
    if guards:
        blocks.append(md(GLOSSARY["guardrail"]) + "\n\n" + "\n".join(guards))
    notes = [f"- Note on {md(r.metric)} / {md(r.variant)}: {md(r.note)}" for r in rows if r.note]
    return [*blocks, "\n".join(notes)] if notes else blocks


def _truth(inputs: ReportInputs) -> list[str]:
    truth = tables.truth_table(inputs)
    if truth is None:
        return []
    return [
        "## Simulation only: the true effects",
        "The traffic was simulated, so its true effects are known; a real experiment never "
        "shows this table.",
        md_table(truth),
    ]


def _over_time(inputs: ReportInputs) -> list[str]:
    result = inputs.result
    if not result.daily:
        return []
    primary = tables.primary_metric(result)
    key = "sequential" if result.test == "sequential" else "fixed_horizon"
    return [
        f"## Lift over time: {md(primary)}",
        md(GLOSSARY[key]),
        md_table(tables.daily_table(result, primary)),
        "Other metrics day by day: see the JSON report (analysis.daily).",
    ]


def _health(inputs: ReportInputs) -> list[str]:
    result = inputs.result
    verdict, _ = tables.srm_verdict(result)
    blocks = [
        "## Can we trust this experiment?",
        md(verdict),
        md(GLOSSARY["srm"]),
        md_table(tables.srm_table(result)),
    ]
    if result.health.mixed_users:
        blocks.append(
            f"{result.health.mixed_users:,} users saw more than one variant and are excluded "
            "from every metric."
        )
    if result.health.exposures_per_day:
        blocks += ["### Exposed users per day", md_table(tables.exposure_table(result))]
    return blocks


def _segments(inputs: ReportInputs) -> list[str]:
    result = inputs.result
    if not result.segments:
        return []
    primary = tables.primary_metric(result)
    return [
        f"## Segments: {md(primary)}",
        md(GLOSSARY["segments"]),
        md_table(tables.segment_table(result, primary)),
    ]


def _offline(inputs: ReportInputs) -> list[str]:
    offline = inputs.offline
    if offline is None:
        return []
    blocks = ["## Offline prediction vs online result"]
    if offline.judgments:
        blocks.append(md(f"Offline evaluation on historical logs: {offline.judgments}."))
    prediction = tables.prediction_table(inputs)
    if prediction is not None:
        blocks.append(md_table(prediction))
    ndcg = tables.ndcg_table(inputs.result, offline.comparisons, offline.encoder_of)
    if ndcg is not None:
        blocks += ["### Ranking quality: offline nDCG vs online nDCG", md_table(ndcg)]
    for comparison in offline.comparisons:
        blocks += [
            f"### {md(comparison.encoder_b)} vs {md(comparison.encoder_a)} on "
            f"{comparison.n_queries:,} judged queries",
            md_table(tables.offline_table(comparison)),
        ]
    if offline.counterfactual:
        blocks += [
            "### Counterfactual tap rate",
            md(GLOSSARY["counterfactual"]),
            md_table(tables.counterfactual_table(offline.counterfactual)),
        ]
    if offline.notes:
        blocks.append("\n".join(f"- {md(n)}" for n in offline.notes))
    return blocks


def _gallery(inputs: ReportInputs) -> list[str]:
    gallery = inputs.gallery
    if gallery is None:
        return []
    blocks = [
        "## What each variant recommends",
        f"A fixed sample of {len(gallery.rows)} items (seed {gallery.seed}) and the top "
        f"{gallery.k} of each variant, by title.",
    ]
    for row in gallery.rows:
        category = f" ({md(row.category)})" if row.category else ""
        columns = ("rank", *(f"{n.variant} · {n.encoder}" for n in row.neighbors))
        depth = max((len(n.items) for n in row.neighbors), default=0)
        cells = tuple(
            tables.Row(
                (
                    str(rank + 1),
                    *(n.items[rank].title if rank < len(n.items) else "" for n in row.neighbors),
                )
            )
            for rank in range(depth)
        )
        blocks += [
            f"### {md(row.item.title)}{category}",
            md_table(tables.TextTable(columns, cells)),
        ]
    return blocks


def _appendix(inputs: ReportInputs) -> list[str]:
    fence = _fence(inputs.spec_text)
    return [
        "## Appendix: the experiment spec",
        f"{md(inputs.spec_name)}:",
        f"{fence}yaml\n{inputs.spec_text.rstrip()}\n{fence}",
        "### How to read this report",
        "\n".join(f"- {md(text)}" for text in GLOSSARY.values()),
    ]
