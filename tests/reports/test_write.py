"""Writing a report: three files beside each other, atomically, or a clear error."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from reports import ReportError, ReportInputs, check_output, write_report
from reports import write as write_module


def test_writes_html_markdown_and_json_beside_each_other(
    report_inputs: ReportInputs, tmp_path: Path
) -> None:
    paths = write_report(report_inputs, tmp_path / "r.html", plotlyjs="")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json", "r.md"]
    assert paths.sizes().keys() == {"r.html", "r.md", "r.json"}
    mode = stat.S_IMODE(paths.html.stat().st_mode)
    assert mode & stat.S_IRUSR and mode & stat.S_IRGRP  # shareable, unlike a mkstemp file


def test_a_second_write_replaces_the_files(report_inputs: ReportInputs, tmp_path: Path) -> None:
    (tmp_path / "r.md").write_text("old")
    write_report(report_inputs, tmp_path / "r.html", plotlyjs="")
    assert (tmp_path / "r.md").read_text().startswith("# report-test")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing/r.html", "output folder does not exist"),
        ("r.txt", "must end in .html"),
        ("file.txt/r.html", "is not a folder"),
        ("folder.html", "is a folder"),
    ],
)
def test_bad_output_paths(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder.html").mkdir()
    with pytest.raises(ReportError, match=message):
        check_output(tmp_path / name)


def test_a_failure_leaves_nothing_half_written(
    report_inputs: ReportInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(inputs: ReportInputs) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(write_module, "render_json", broken)
    with pytest.raises(RuntimeError):
        write_report(report_inputs, tmp_path / "r.html", plotlyjs="")
    assert list(tmp_path.iterdir()) == []

    def failing_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.undo()
    monkeypatch.setattr(write_module.os, "replace", failing_replace)
    with pytest.raises(ReportError, match="disk full"):
        write_report(report_inputs, tmp_path / "r.html", plotlyjs="")
    assert list(tmp_path.iterdir()) == []  # temporary files are cleaned up
