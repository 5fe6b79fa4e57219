"""The HTML report: self-contained, complete, escaped, and a faithful copy of the results."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path

from plotly.offline import get_plotlyjs

from abtest import format as fmt
from abtest.analysis import analyze
from abtest.analysis.decision_text import decision_text
from abtest.spec import load_spec
from abtest.store import Store
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
    assert html.escape(decision_text(result)[0]) in text
    assert html.escape(decision_text(result)[1]) in text
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
    assert decision_text(report_inputs.result)[0] in top
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
    assert section.count('class="thumb neighbor"') == 8 * 2 * gallery.k
    for row in gallery.rows:
        assert html.escape(row.item.title, quote=False) in section


def test_a_sample_ratio_mismatch_reads_as_do_not_trust(report_inputs: ReportInputs) -> None:
    result = report_inputs.result
    srm = dataclasses.replace(result.health.srm, p_value=1e-9, flagged=True)
    decision = dataclasses.replace(result.decision, verdict="invalid", srm_p_value=1e-9)
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


def _metric_table_rows(text: str) -> list[list[str]]:
    """The cells of each comparison row of the metric table, tags stripped."""
    table = text[text.index('<table class="metrics">') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    rows = re.findall(r'<tr class="(?:good|bad|neutral)[^"]*">(.*?)</tr>', body, flags=re.S)
    return [
        [
            re.sub(r"<[^>]+>", " ", cell).split()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
        ]
        for r in rows
    ]


def test_p_and_adjusted_p_are_each_their_own_number(report_inputs: ReportInputs) -> None:
    """The "p" column is the raw p-value and "adjusted p" the Holm one: they differ where
    the correction bites (they were the same number before)."""
    result = report_inputs.result
    assert result.correction == "holm"
    text = page(report_inputs)
    head = text[text.index('<table class="metrics">') : text.index("<tbody>")]
    level = f"{result.comparisons[0].comparison.relative.ci_level_adjusted * 100:.4g}%"
    assert '<th class="num">p</th>' in head and "adjusted p" in head
    assert '<span class="ci">95% CI</span>' in head and f"{level} CI (holm)" in head
    rows = _metric_table_rows(text)
    by_metric = {c.metric: c for c in result.comparisons}
    differs = 0
    for cells in rows:
        c = by_metric[cells[0][0]]
        raw, ci_adjusted, adjusted = cells[6], cells[7], cells[8]
        assert raw == [fmt.p_value(c.p_value)] and adjusted == [fmt.p_value(c.p_adjusted)]
        rel = c.comparison.relative
        assert " ".join(ci_adjusted) == fmt.interval(rel.ci_low_adjusted, rel.ci_high_adjusted)
        differs += raw != adjusted
    assert len(rows) == len(result.comparisons) and differs >= 1


def test_every_interval_says_its_level(report_inputs: ReportInputs) -> None:
    """Cards, table headers and figures: each interval names its level (95%, 99%...)."""
    text = page(report_inputs)
    visible = re.sub(r"<script.*?</script>", "", text, flags=re.S)
    for header in re.findall(r"<th[^>]*>(.*?)</th>", visible, flags=re.S):
        plain = re.sub(r"<[^>]+>", " ", header)
        if re.search(r"\bCI\b|interval|confidence sequence", plain):
            assert re.search(r"\d+(\.\d+)?% (CI|confidence sequence)", plain), plain
    top = visible[visible.index('id="summary"') : visible.index('id="metrics"')]
    words_before_ci = re.findall(r"(\S+) CI\b", re.sub(r"<[^>]+>", " ", top))
    assert words_before_ci
    assert all(re.fullmatch(r"\(?\d+(\.\d+)?%", w) for w in words_before_ci), words_before_ci
    figures = {
        m[1]: json.loads(m[2])
        for m in re.finditer(r'data-plot="plot-(\w+)">(.*?)</script>', text, flags=re.S)
    }
    title = figures["forest"]["layout"]["xaxis"]["title"]["text"]
    assert re.search(r"\d+(\.\d+)?% CI", title), title
    names = [t.get("name", "") for t in figures["cumulative"]["data"]]
    bands = [n for n in names if "lift" not in n and ":" in n]
    assert bands and all(re.search(r"\d+% (CI|confidence sequence)$", n) for n in bands)


def test_the_bayesian_read_out_shows_chance_to_win_and_risk(
    report_inputs: ReportInputs, reported_db: tuple[Path, Path]
) -> None:
    """With ``engine: bayesian`` the metric table shows the credible interval, chance to
    win and risk of each comparison (the result's own numbers), and no p-values."""
    db, spec_file = reported_db
    spec = load_spec(spec_file)
    analysis = spec.analysis.model_copy(update={"engine": "bayesian", "test": "fixed_horizon"})
    with Store(db, read_only=True) as store:
        result = analyze(store, spec.model_copy(update={"analysis": analysis}))
    assert result.bayesian is not None
    text = page(dataclasses.replace(report_inputs, result=result))
    head = text[text.index('<table class="metrics">') : text.index("<tbody>")]
    assert "chance to win" in head and "risk" in head and "95% CrI" in head
    assert '<th class="num">p</th>' not in head and "adjusted p" not in head
    rows = _metric_table_rows(text)
    by_metric = {c.metric: c for c in result.comparisons}
    assert len(rows) == len(result.comparisons)
    for cells in rows:
        b = by_metric[cells[0][0]].bayes
        assert b is not None
        assert " ".join(cells[5][1:]) == fmt.interval(b.ci_low, b.ci_high)
        shown = [html.unescape(" ".join(cell)) for cell in cells[6:8]]
        assert shown == [fmt.chance(b.chance_to_win), fmt.risk(b.risk_treatment)]
    assert "Bayesian, flat prior" in text and "Chance to win:" in text
