"""The report's figures: one mark per result row, escaped labels, no NaN."""

from __future__ import annotations

import dataclasses
import json
import math

import plotly.io as pio

from abtest.analysis import AnalysisResult
from reports import ReportInputs, figures


def test_forest_has_every_comparison_in_table_order(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    fig = figures.forest(result)
    assert fig is not None
    xs = sorted(x for trace in fig.data for x in trace.x)
    assert xs == sorted(c.comparison.relative.estimate for c in result.comparisons)
    order = list(fig.layout.yaxis.categoryarray)[::-1]
    assert order[0] == "<b>tap_through_rate</b>" and order[-1].endswith("(guardrail)")


def test_forest_skips_undefined_lifts(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    nan_effect = dataclasses.replace(
        result.comparisons[0].comparison.relative, estimate=math.nan, ci_low=math.nan
    )
    broken = dataclasses.replace(
        result.comparisons[0],
        comparison=dataclasses.replace(result.comparisons[0].comparison, relative=nan_effect),
    )
    fig = figures.forest(dataclasses.replace(result, comparisons=(broken, *result.comparisons[1:])))
    assert fig is not None
    assert sum(len(t.x) for t in fig.data) == len(result.comparisons) - 1
    assert "NaN" not in pio.to_json(fig)


def test_cumulative_switches_metric_with_a_menu(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    fig = figures.cumulative(result)
    assert fig is not None
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == [m.name for m in result.metrics]
    assert len(fig.data) == 3 * len(result.metrics)  # upper bound, band, lift line
    visible = [t.visible for t in fig.data]
    assert visible == buttons[0].args[0]["visible"]
    line = fig.data[2]
    days = [p for p in result.daily if p.metric == result.metrics[0].name]
    assert list(line.y) == [p.lift for p in days]


def test_segment_and_name_labels_are_escaped(report_inputs: ReportInputs) -> None:
    result: AnalysisResult = report_inputs.result
    sneaky = tuple(dataclasses.replace(s, value="<b>x</b>") for s in result.segments)
    fig = figures.segments(dataclasses.replace(result, segments=sneaky))
    assert fig is not None
    labels = {y for trace in fig.data for y in trace.y}
    assert labels and all("&lt;b&gt;x&lt;/b&gt;" in y and "<b>" not in y for y in labels)


def test_exposures_and_offline(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    fig = figures.exposures(result)
    assert fig is not None and [t.name for t in fig.data] == list(result.variants)
    total = sum(sum(t.y) for t in fig.data)
    assert total == sum(result.health.users.values())
    offline = report_inputs.offline
    assert offline is not None
    fig = figures.offline(offline)
    assert fig is not None and [t.name for t in fig.data] == ["base", "better"]
    assert list(fig.data[0].x) == ["nDCG@1", "nDCG@5", "nDCG@10", "P@1", "P@5", "P@10"]
    assert json.loads(pio.to_json(fig))["data"][1]["y"] == [
        r.mean_b for r in offline.comparisons[0].rows
    ]
