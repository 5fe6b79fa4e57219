"""The report's tables and the terminal's show the same cells for the same numbers.

Both build a comparison's, a day's and a segment's cells with
:mod:`abtest.analysis.cells`; these tests read the two outputs side by side, so a
column formatted one way in the terminal and another in the report fails here.
"""

from __future__ import annotations

from abtest.analysis.cells import ComparisonCells, breakdown_interval_label
from abtest.analysis.render import metric_rows, segment_summary
from reports import ReportInputs, tables


def test_metric_rows_share_every_cell_with_the_terminal(report_inputs: ReportInputs) -> None:
    terminal = {
        (r["variant"], r["metric"].removesuffix(" (guardrail)")): r
        for r in metric_rows(report_inputs.result)
    }
    report = tables.metric_table(report_inputs)
    assert len(report) == len(terminal) >= 3
    for row in report:
        shown = terminal[(row.variant, row.metric)]
        for field in ComparisonCells._fields:
            assert getattr(row, field) == shown[field], (row.metric, field)


def test_segment_cells_match_the_terminal_table(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    assert result.segments, "the report fixture has segments"
    metric = tables.primary_metric(result)
    report = tables.segment_table(result, metric)
    terminal = segment_summary(result, metric)
    terminal_rows = list(zip(*(column._cells for column in terminal.columns), strict=True))
    assert [tuple(r.cells) for r in report.rows] == terminal_rows
    label = breakdown_interval_label(result)
    assert label.startswith("95% ") and label in report.columns
    assert label in [column.header for column in terminal.columns]


def test_daily_cells_are_the_segment_cells_without_p(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    metric = tables.primary_metric(result)
    daily = tables.daily_table(result, metric)
    assert daily.rows and daily.columns[-1] == breakdown_interval_label(result)
    first = next(p for p in result.daily if p.metric == metric)
    assert daily.rows[0].cells[0] == str(first.day)
    assert daily.rows[0].cells[2] == f"{first.control_users:,} / {first.treatment_users:,}"
