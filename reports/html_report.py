"""The self-contained HTML report: one file that opens offline, from a disk or an e-mail.

plotly.js is inlined once (no CDN); each figure travels as JSON inside a
``<script type="application/json">`` block and is drawn by a few lines of
script; photos are embedded as base64 JPEG thumbnails. The template is
rendered with jinja2 autoescaping, so every string from data or YAML (item
titles, names, the spec) shows as text and never runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import plotly.io as pio
from plotly.offline import get_plotlyjs

from abtest.analysis.cells import open_window_notes
from reports import figures, tables
from reports.environment import environment
from reports.glossary import GLOSSARY
from reports.summary import summary

if TYPE_CHECKING:
    from reports.inputs import ReportInputs

PLOT_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


def figure_json(fig: object) -> str:
    """A figure as JSON safe inside a ``<script>`` element.

    plotly already escapes ``<`` and ``>``; ``</`` is escaped again so that no
    string can ever close the element.
    """
    text = pio.to_json(fig, validate=False, pretty=False)
    return text.replace("</", "<\\/")


def build_figures(inputs: ReportInputs) -> dict[str, str]:
    """Figure id -> JSON, for the figures this report has data for."""
    result = inputs.result
    built = {
        "forest": figures.forest(result),
        "cumulative": figures.cumulative(result),
        "exposures": figures.exposures(result),
        "segments": figures.segments(result),
        "offline": figures.offline(inputs.offline) if inputs.offline else None,
    }
    return {name: figure_json(fig) for name, fig in built.items() if fig is not None}


def render_html(inputs: ReportInputs, *, plotlyjs: str | None = None) -> str:
    """The report as one HTML document.

    ``plotlyjs`` replaces the inlined plotly.js (tests pass a stub to stay
    fast); by default it is plotly's own bundle.
    """
    result = inputs.result
    primary = tables.primary_metric(result)
    metric_rows = tables.metric_table(inputs)
    template = environment().get_template("report.html.j2")
    return template.render(
        inputs=inputs,
        result=result,
        summary=summary(inputs),
        metric_rows=metric_rows,
        ci_levels=tables.ci_levels(metric_rows),
        adjusted_ci_levels=tables.adjusted_ci_levels(metric_rows),
        settings=tables.settings_line(result),
        window_notes=open_window_notes(result),
        source_note=result.source,
        window=tables.window_line(result),
        srm_table=tables.srm_table(result),
        srm_verdict=tables.srm_verdict(result),
        segment_table=tables.segment_table(result, primary),
        primary=primary,
        prediction=tables.prediction_table(inputs),
        ndcg=tables.ndcg_table(result, inputs.offline.comparisons, inputs.offline.encoder_of)
        if inputs.offline
        else None,
        offline_tables=[
            (c, tables.offline_table(c))
            for c in (inputs.offline.comparisons if inputs.offline else ())
        ],
        counterfactual=tables.counterfactual_table(inputs.offline.counterfactual)
        if inputs.offline and inputs.offline.counterfactual
        else None,
        truth=tables.truth_table(inputs),
        glossary=GLOSSARY,
        figures=build_figures(inputs),
        plot_config=json.dumps(PLOT_CONFIG),
        plotlyjs=get_plotlyjs() if plotlyjs is None else plotlyjs,
    )
