"""One real pipeline and one report, built once for the reports tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from abtest.spec import load_spec
from abtest.store import Store
from looklift.reporting import build_report_inputs
from reports import ReportInputs, ReportPaths, write_report
from tests.reports.builders import build_reported_db


@pytest.fixture(scope="session")
def reported_db(small_world, tmp_path_factory) -> tuple[Path, Path]:
    """(database, spec file) of a simulated experiment with history. Read-only."""
    return build_reported_db(small_world, tmp_path_factory.mktemp("reported"))


@pytest.fixture(scope="session")
def report_inputs(reported_db: tuple[Path, Path]) -> ReportInputs:
    db, spec_file = reported_db
    with Store(db, read_only=True) as store:
        return build_report_inputs(
            store,
            load_spec(spec_file),
            spec_file.read_text(encoding="utf-8"),
            spec_name=spec_file.name,
            truth=True,
        )


@pytest.fixture(scope="session")
def report_paths(report_inputs: ReportInputs, tmp_path_factory) -> ReportPaths:
    """The report written once, with the real plotly.js (for the browser and size checks)."""
    return write_report(report_inputs, tmp_path_factory.mktemp("report") / "report.html")
