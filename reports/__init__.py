"""Lift reports: an analysis (and, when known, the offline evaluation) as HTML, Markdown, JSON.

Typical use::

    from reports import ReportInputs, write_report
    inputs = ReportInputs(result=analyze(store, spec), spec_text=Path(file).read_text())
    paths = write_report(inputs, "out/report.html")   # + report.md, report.json

The HTML is one self-contained file (plotly.js inlined, photos as base64
thumbnails) that opens offline. Reports format the numbers of the result
objects; they never recompute a statistic. ``looklift report`` gathers the
inputs from a store (see ``looklift.reporting.build_report_inputs``).
"""

from reports.errors import ReportError
from reports.gallery import build_gallery
from reports.html_report import render_html
from reports.inputs import (
    Gallery,
    GalleryRow,
    OfflineSection,
    ReportInputs,
    SimulatorTruth,
    Thumbnail,
    TrueEffect,
    VariantInfo,
    VariantNeighbors,
)
from reports.json_report import render_json, report_dict
from reports.markdown_report import render_markdown
from reports.notebook import OfflineView, offline_view
from reports.write import ReportPaths, check_output, write_report

__all__ = [
    "Gallery",
    "GalleryRow",
    "OfflineSection",
    "OfflineView",
    "ReportError",
    "ReportInputs",
    "ReportPaths",
    "SimulatorTruth",
    "Thumbnail",
    "TrueEffect",
    "VariantInfo",
    "VariantNeighbors",
    "build_gallery",
    "check_output",
    "offline_view",
    "render_html",
    "render_json",
    "render_markdown",
    "report_dict",
    "write_report",
]
