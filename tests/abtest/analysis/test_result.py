"""The result shows itself: terminal table, frame, JSON and HTML, each number under its
own name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from abtest.analysis import analyze
from abtest.spec import parse_spec
from abtest.store import Store
from tests.abtest.analysis.builders import SPEC, make_spec, render_p


def test_undefined_comparisons_keep_every_interval_header_s_level(db: Path) -> None:
    """A variant without users makes half the comparisons untestable; the headers still
    name both levels (the nominal one and the corrected one), with no bare "CI"."""
    data = json.loads(json.dumps(SPEC))
    data["variants"].append({"name": "ghost", "weight": 0.0, "encoder": "base"})
    data["analysis"]["correction"] = "holm"
    with Store(db, read_only=True) as store:
        result = analyze(store, parse_spec(data), daily=False)
    console = Console(width=220, record=True)
    console.print(result)
    header = next(line for line in console.export_text().splitlines() if "┃ metric" in line)
    cells = [cell.strip() for cell in header.split("┃")[1:-1]]
    assert "95% CI" in cells and "99% CI (holm)" in cells  # 5 testable comparisons
    assert "CI" not in cells
    ghost = result.comparison("taps", "ghost").comparison.relative
    assert ghost.ci_level == 0.95 and ghost.ci_level_adjusted == pytest.approx(0.99)


def test_result_converts_to_frame_json_and_html(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"))
    frame = result.to_frame()
    assert frame.height == 5 and set(frame["metric"]) == set(SPEC["metric_definitions"])
    data = json.loads(result.to_json())
    assert data["decision"]["verdict"] in {"winner", "no_difference", "loser", "guardrail_breached"}
    assert "NaN" not in result.to_json()
    html = result._repr_html_()
    assert "<table>" in html and "tap_rate" in html
    holm = result.comparison("taps")
    assert holm.comparison.correction == "holm"


def test_the_terminal_table_shows_each_number_under_its_own_name(db: Path) -> None:
    with Store(db, read_only=True) as store:
        result = analyze(store, make_spec(correction="holm"), daily=False)
        plain = analyze(store, make_spec(correction="none"), daily=False)
    console = Console(width=220, record=True)
    console.print(result)
    text = console.export_text()
    header = next(line for line in text.splitlines() if "┃ metric" in line)
    assert "95% CI" in header and "99% CI (holm)" in header
    for c in result.comparisons:
        row = next(line for line in text.splitlines() if line.startswith(f"│ {c.metric}"))
        cells = [cell.strip() for cell in row.split("│")[1:-1]]
        assert cells[6] == render_p(c.p_value) and cells[8] == render_p(c.p_adjusted)
    console = Console(width=220, record=True)
    console.print(plain)
    assert "adjusted p" not in console.export_text()  # no correction, no adjusted column
