"""The Markdown and JSON reports: the same content as the HTML, as tables and as data."""

from __future__ import annotations

import json
import re

from abtest import format as fmt
from abtest.analysis.decision_text import decision_text, json_summary
from abtest.format import jsonable
from reports import ReportInputs, render_json, render_markdown
from reports.markdown_report import md, md_paragraph
from tests.reports.builders import PWNED_TITLE


def test_markdown_has_the_sections_and_numbers(report_inputs: ReportInputs) -> None:
    text = render_markdown(report_inputs)
    result = report_inputs.result
    for heading in (
        "## Summary",
        "## Metrics",
        "## Simulation only: the true effects",
        "## Lift over time: tap\\_through\\_rate",
        "## Can we trust this experiment?",
        "## Segments: tap\\_through\\_rate",
        "## Offline prediction vs online result",
        "## What each variant recommends",
        "## Appendix: the experiment spec",
    ):
        assert heading in text, heading
    assert md(decision_text(result)[0]) in text
    for c in result.comparisons:
        rel = c.comparison.relative
        assert (
            f"{rel.estimate:+.1%}" in text
            and f"\\[{rel.ci_low:+.1%}, {rel.ci_high:+.1%}\\]" in text
        )


def test_markdown_tables_are_well_formed(report_inputs: ReportInputs) -> None:
    text = render_markdown(report_inputs)
    table: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            cells = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
            assert len(cells) == 1, table
            table = []


def test_markdown_escapes_titles_and_fences_the_spec(report_inputs: ReportInputs) -> None:
    text = render_markdown(report_inputs)
    assert "<script>" not in text and "&lt;script&gt;window.\\_\\_pwned" in text
    spec = report_inputs.spec_text.rstrip("\n")
    assert f"```yaml\n{spec}\n```" in text  # raw inside the fence: code, not markup


def test_md_escapes_markup_and_table_breakers() -> None:
    assert md("a|b") == "a\\|b"
    assert md("<b>x</b> & *y*") == "&lt;b&gt;x&lt;/b&gt; &amp; \\*y\\*"
    assert md("two\nlines") == "two lines"
    assert md("-1.1%") == "-1.1%"  # readable inside tables
    assert md_paragraph("# not a heading") == "\\# not a heading"
    assert md_paragraph("1. not a list") == "1\\. not a list"


def test_json_is_the_results_data(report_inputs: ReportInputs) -> None:
    data = json.loads(render_json(report_inputs))
    result = report_inputs.result
    assert data["analysis"] == jsonable(json_summary(result))  # as `looklift analyze --format json`
    headline, reason = decision_text(result)
    assert data["summary"]["headline"] == data["analysis"]["decision"]["headline"] == headline
    assert data["analysis"]["decision"]["reason"] == reason
    assert data["analysis"]["decision"]["verdict"] == result.decision.verdict
    offline = report_inputs.offline
    assert offline is not None
    assert data["offline"]["comparisons"] == [jsonable(c.to_dict()) for c in offline.comparisons]
    assert [e["policy"] for e in data["offline"]["counterfactual"]] == ["base", "better"]
    assert data["offline"]["online_metric"] == "tap_through_rate"
    assert data["spec"]["yaml"] == report_inputs.spec_text
    assert data["simulator_truth"]["note"].startswith("simulation only")
    titles = [item["title"] for item in data["gallery"]["items"]]
    assert titles[0] == PWNED_TITLE  # data stays data: JSON consumers escape for their medium
    assert all("base64" not in json.dumps(item) for item in data["gallery"]["items"])


def test_json_has_no_nan(report_inputs: ReportInputs) -> None:
    text = render_json(report_inputs)
    json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


def test_markdown_p_columns_are_raw_and_adjusted(report_inputs: ReportInputs) -> None:
    text = render_markdown(report_inputs)
    result = report_inputs.result
    lines = text[text.index("## Metrics") :].splitlines()
    header = next(line for line in lines if line.startswith("| group"))
    columns = [c.strip() for c in re.split(r"(?<!\\)\|", header)[1:-1]]
    level = fmt.level(result.comparisons[0].comparison.relative.ci_level_adjusted)
    assert columns[7:11] == ["95% CI", "p", f"{level} CI (holm)", "adjusted p"]
    rows = [line for line in lines if line.startswith("| ") and line not in (header,)][1:]
    by_metric = {md(c.metric): c for c in result.comparisons}
    for row in rows[: len(result.comparisons)]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        c = by_metric[cells[1]]
        assert cells[8] == md(fmt.p_value(c.p_value))
        assert cells[10] == md(fmt.p_value(c.p_adjusted))
    guard = next(c for c in result.comparisons if c.group == "guardrail")
    assert f"one-sided p = {md(fmt.p_value(guard.p_worse))} that it got worse" in text
