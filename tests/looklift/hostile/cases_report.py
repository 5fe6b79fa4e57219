"""Hostile inputs to analyze and report that hold: injection in names and text, bad paths."""

from __future__ import annotations

from pathlib import Path

from tests.looklift.hostile.corpus import Case, Result

SCRIPT = "<script>window.__pwned=1</script>"


def _spec_with(old: str, new: str) -> str:
    from tests.looklift.hostile.corpus import EXAMPLE_SPEC

    return EXAMPLE_SPEC.read_text(encoding="utf-8").replace(old, new)


def _escaped(folder: Path, result: Result) -> None:
    page = (folder / "r.html").read_text(encoding="utf-8")
    assert SCRIPT not in page and "&lt;script&gt;window.__pwned" in page


CASES = [
    Case(
        "report-script-in-description-is-text",
        ("report", "evil.yaml", "--db", "{db}", "--out", "r.html", "--gallery", "0"),
        code=0,
        files={"evil.yaml": _spec_with("description: >", f"description: >\n  {SCRIPT}")},
        may_write=("r.html", "r.md", "r.json"),
        check=_escaped,
    ),
    Case(
        "analyze-sql-injection-in-a-segment",
        ("analyze", "{spec}", "--db", "{db}", "--segments", "platform; DROP TABLE users"),
        says="unknown segment 'platform; DROP TABLE users'",
    ),
    Case(
        "report-into-a-missing-folder",
        ("report", "{spec}", "--db", "{db}", "--out", "nowhere/r.html"),
        says="output folder does not exist",
    ),
    Case(
        "analyze-a-database-that-is-a-folder",
        ("analyze", "{spec}", "--db", "{dir}"),
        says="is not a file",
    ),
]
