"""``looklift demo``: the whole journey, end to end, on a tiny world; a second run reuses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from looklift.cli import run


@pytest.mark.slow
def test_demo_runs_the_journey_and_reuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--quick", "--out", str(out), "--items", "200", "--users", "1500"]
    assert run(args) == 0
    first = capsys.readouterr()
    for stage in (
        "marketplace",
        "encoders",
        "history",
        "offline evaluation",
        "experiment traffic",
        "analysis",
        "report",
    ):
        assert f"✓ {stage}" in first.err
    assert "tap_through_rate" in first.out and "simulator's true lift" in first.out
    assert "95% CI" in first.out and "covers" in first.out
    report = out / "report.html"
    assert f"report: {report.resolve()}" in first.out
    data = json.loads(report.with_suffix(".json").read_text())
    assert data  # the report's JSON twin exists and parses
    assert (out / "looklift-contact-sheet.png").exists()

    assert run(args) == 0
    second = capsys.readouterr()
    for stage in ("marketplace", "encoders", "history", "experiment traffic"):
        assert f"✓ {stage} (reused)" in second.err
    assert "✓ report" in second.err and "tap_through_rate" in second.out
