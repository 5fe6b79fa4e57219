"""The HTML report: self-contained, complete, escaped, and a faithful copy of the results."""

from __future__ import annotations

import dataclasses
import html
import re

from plotly.offline import get_plotlyjs

from reports import ReportInputs, ReportPaths, render_html
from reports.html_report import figure_json
from tests.reports.builders import PWNED_TITLE

STUB = "/* plotly.js stub */"


def page(inputs: ReportInputs) -> str:
    return render_html(inputs, plotlyjs=STUB)


def test_is_self_contained_with_plotly_inlined_once(report_paths: ReportPaths) -> None:
    text = report_paths.html.read_text(encoding="utf-8")
    assert text.count(get_plotlyjs()) == 1
    own = text.replace(get_plotlyjs(), "")
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=\"(https?:)?//", own)
    assert "<script src" not in own and "cdn.plot.ly" not in own
    images = re.findall(r'<img src="([^"]+)"', text)
    assert images and all(src.startswith("data:image/jpeg;base64,") for src in images)


def test_stays_small(report_paths: ReportPaths) -> None:
    size = report_paths.html.stat().st_size
    assert size < len(get_plotlyjs()) + 1_000_000, size  # figures, tables and thumbnails < 1 MB


def test_every_section_is_there(report_inputs: ReportInputs) -> None:
    text = page(report_inputs)
    for anchor in ("summary", "metrics", "over-time", "health", "segments", "offline", "gallery"):
        assert f'id="{anchor}"' in text, anchor
    for figure in ("forest", "cumulative", "exposures", "segments", "offline"):
        assert f'data-plot="plot-{figure}"' in text and f'id="plot-{figure}"' in text
    assert "Simulation only" in text and 'id="truth"' in text
    assert "Appendix: the experiment spec" in text


def test_numbers_are_the_results_own(report_inputs: ReportInputs) -> None:
    text = page(report_inputs)
    result = report_inputs.result
    assert html.escape(result.decision.headline) in text
    assert html.escape(result.decision.reason) in text
    for c in result.comparisons:
        rel = c.comparison.relative
        assert f"{rel.estimate:+.1%}" in text
        assert f"[{rel.ci_low:+.1%}, {rel.ci_high:+.1%}]" in text
    srm = result.health.srm
    for expected, observed in zip(srm.expected, srm.counts, strict=True):
        assert f'<td class="num">{expected:,.0f}</td>' in text
        assert f'<td class="num">{observed:,}</td>' in text
    row = next(
        r for r in report_inputs.offline.comparisons[0].rows if (r.metric, r.k) == ("ndcg", 5)
    )
    assert f"{row.lift:+.1%} [{row.lift_ci[0]:+.1%}, {row.lift_ci[1]:+.1%}]" in text
    visible = re.sub(r"<script.*?</script>", "", text, flags=re.S)
    assert not re.search(r"\b(nan|inf|None)\b", visible)


def test_decision_guardrails_and_health_lead_the_page(report_inputs: ReportInputs) -> None:
    text = page(report_inputs)
    top = text[text.index('id="summary"') : text.index('id="metrics"')]
    assert report_inputs.result.decision.headline in top
    assert "Guardrails" in top and "Experiment health" in top and "Offline nDCG@5" in top
    assert "Primary metric: tap_through_rate" in top


def test_data_and_yaml_strings_are_escaped(report_inputs: ReportInputs) -> None:
    text = page(report_inputs)
    assert "<script>window.__pwned" not in text
    assert html.escape(PWNED_TITLE, quote=False) in text
    assert "<b>bold</b>" not in text and "&lt;b&gt;bold&lt;/b&gt; claim &amp; more" in text
    assert "<i>first</i>" not in text  # a variant description from the YAML


def test_figure_json_cannot_close_its_script_element() -> None:
    import plotly.graph_objects as go

    text = figure_json(go.Figure(go.Bar(x=["</script><script>alert(1)</script>"], y=[1])))
    assert "</" not in text and "<script" not in text


def test_gallery_shows_each_variant_top_k(report_inputs: ReportInputs) -> None:
    text = page(report_inputs)
    gallery = report_inputs.gallery
    assert gallery is not None and len(gallery.rows) == 8
    section = text[text.index('id="gallery"') : text.index('id="spec"')]
    assert section.count('class="gallery-row"') == 8
    assert section.count('class="thumb neighbour"') == 8 * 2 * gallery.k
    for row in gallery.rows:
        assert html.escape(row.item.title, quote=False) in section


def test_a_sample_ratio_mismatch_reads_as_do_not_trust(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    srm = dataclasses.replace(result.health.srm, p_value=1e-9, flagged=True)
    decision = dataclasses.replace(
        result.decision, verdict="invalid", headline="Do not trust these results"
    )
    broken = dataclasses.replace(
        result, health=dataclasses.replace(result.health, srm=srm), decision=decision
    )
    text = page(dataclasses.replace(report_inputs, result=broken))
    assert '<section class="decision bad"' in text
    assert "Sample ratio mismatch: p = 1e-09" in text
    assert '<div class="tile bad">' in text


def test_sections_without_data_are_left_out(report_inputs: ReportInputs) -> None:
    bare = dataclasses.replace(report_inputs, offline=None, gallery=None, truth=None)
    text = page(bare)
    for anchor in ("offline", "gallery", "truth"):
        assert f'id="{anchor}"' not in text and f'href="#{anchor}"' not in text
    assert "Simulation only" not in text and "true lift" not in text
    assert 'id="metrics"' in text and 'id="health"' in text
