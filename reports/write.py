"""Writing a report: HTML, Markdown and JSON side by side, all or nothing.

Everything is rendered in memory first; then each file is written to a
temporary file in the target folder and renamed into place, so a reader never
sees a half-written report and a failure leaves no partial files behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reports.errors import ReportError
from reports.html_report import render_html
from reports.json_report import render_json
from reports.markdown_report import render_markdown

if TYPE_CHECKING:
    from reports.inputs import ReportInputs

HTML_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class ReportPaths:
    """Where the three renderings of one report are (or will be) written."""

    html: Path
    markdown: Path
    json: Path

    @classmethod
    def beside(cls, out_html: str | os.PathLike[str]) -> ReportPaths:
        """``report.html`` -> report.html, report.md and report.json in the same folder."""
        html = Path(out_html)
        return cls(html=html, markdown=html.with_suffix(".md"), json=html.with_suffix(".json"))

    def all(self) -> tuple[Path, Path, Path]:
        return (self.html, self.markdown, self.json)

    def sizes(self) -> dict[str, int]:
        """Bytes per file, for files that exist."""
        return {p.name: p.stat().st_size for p in self.all() if p.exists()}


def check_output(out_html: str | os.PathLike[str]) -> ReportPaths:
    """The report's paths, or a :class:`ReportError` saying why they cannot be written."""
    paths = ReportPaths.beside(out_html)
    html = paths.html
    if html.suffix.lower() not in HTML_SUFFIXES:
        raise ReportError(f"the report file must end in .html (got {html}), e.g. --out report.html")
    folder = html.parent if str(html.parent) else Path(".")
    if not folder.exists():
        raise ReportError(f"output folder does not exist: {folder} (create it first)")
    if not folder.is_dir():
        raise ReportError(f"output folder is not a folder: {folder}")
    for path in paths.all():
        if path.is_dir():
            raise ReportError(f"cannot write the report: {path} is a folder")
    if not os.access(folder, os.W_OK):
        raise ReportError(f"output folder is not writable: {folder}")
    return paths


def write_report(
    inputs: ReportInputs, out_html: str | os.PathLike[str], *, plotlyjs: str | None = None
) -> ReportPaths:
    """Render ``inputs`` and write report.html, report.md and report.json atomically.

    ``plotlyjs`` replaces the inlined plotly.js (see :func:`render_html`).
    """
    paths = check_output(out_html)
    contents = {
        paths.html: render_html(inputs, plotlyjs=plotlyjs),
        paths.markdown: render_markdown(inputs),
        paths.json: render_json(inputs),
    }
    write_atomically(contents)
    return paths


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(contents: dict[Path, str]) -> None:
    """Write every file or none: temporary files first, then renames."""
    temporary: list[tuple[str, Path]] = []
    try:
        for path, text in contents.items():
            fd, tmp = tempfile.mkstemp(
                dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp"
            )
            temporary.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is for sharing
        for tmp, path in temporary:
            os.replace(tmp, path)
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc}") from None
    finally:
        for tmp, _ in temporary:
            if os.path.exists(tmp):
                os.unlink(tmp)
