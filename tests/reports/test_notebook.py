"""Notebook display: report inputs and offline comparisons render as escaped HTML tables."""

from __future__ import annotations

import html

from abtest.analysis.decision_text import decision_text
from reports import ReportInputs, offline_view


def test_report_inputs_render_in_a_notebook(report_inputs: ReportInputs) -> None:
    text = report_inputs._repr_html_()
    assert html.escape(decision_text(report_inputs.result)[0]) in text
    assert "<table" in text and "tap_through_rate" in text and "impressions_per_user" in text
    assert "Offline prediction vs online result" in text
    assert "<script" not in text


def test_offline_comparison_renders_in_a_notebook(report_inputs: ReportInputs) -> None:
    offline = report_inputs.offline
    assert offline is not None
    view = offline_view(offline.comparisons[0], offline.counterfactual)
    text = view._repr_html_()
    assert "better vs base" in text and "nDCG@5" in text and "Counterfactual tap rate" in text
    assert "<script" not in text
