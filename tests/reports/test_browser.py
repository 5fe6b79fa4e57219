"""The report in a real browser: headless Chromium opens it from a file:// URL.

Checks what only a browser can: the page loads with no console error and no
network request, every plot renders, and an item title holding a script tag
shows as text without running. A full-page screenshot is kept in
``artifacts/report-screenshot.png`` for people (and CI) to look at.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abtest.analysis.decision_text import decision_text
from reports import ReportPaths
from tests.reports.builders import PWNED_TITLE

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed: 'make test' installs it (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def browser_page(report_paths: ReportPaths) -> Iterator[dict[str, Any]]:
    """Open the report once; return what the checks need (the browser is then closed)."""
    executable = chromium()
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is missing: pip install -e '.[dev]'"
    )
    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,  # a fresh user-data-dir
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900},
        )
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report_paths.html.as_uri(), wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.plot')]"
                ".every(div => div.querySelector('.main-svg'))",
                timeout=30_000,
            )
            ARTIFACTS.mkdir(exist_ok=True)
            screenshot = ARTIFACTS / "report-screenshot.png"
            page.screenshot(path=str(screenshot), full_page=True)
            title = page.locator("figcaption", has_text=PWNED_TITLE).first
            yield {
                "problems": problems,
                "requests": requests,
                "plots": page.evaluate(
                    "() => [...document.querySelectorAll('.plot')].map(div => "
                    "[div.id, div.querySelectorAll('.main-svg').length])"
                ),
                "pwned": page.evaluate("() => typeof window.__pwned"),
                "title_visible": title.is_visible(),
                "title_text": title.inner_text(),
                "headline": page.locator(".decision h1").inner_text(),
                "screenshot": screenshot,
            }
        finally:
            context.close()


def test_no_console_errors_and_no_network(
    browser_page: dict[str, Any], report_paths: ReportPaths
) -> None:
    assert browser_page["problems"] == []
    own = report_paths.html.as_uri()
    assert [u for u in browser_page["requests"] if u != own and not u.startswith("data:")] == []


def test_every_plot_rendered(browser_page: dict[str, Any]) -> None:
    plots = dict(browser_page["plots"])
    expected = {"forest", "cumulative", "exposures", "segments", "offline"}
    assert set(plots) == {f"plot-{name}" for name in expected}
    assert all(n >= 1 for n in plots.values()), plots


def test_script_in_a_title_shows_as_text_and_never_runs(browser_page: dict[str, Any]) -> None:
    assert browser_page["pwned"] == "undefined"
    assert browser_page["title_visible"]
    assert PWNED_TITLE in browser_page["title_text"]


def test_decision_and_screenshot(browser_page: dict[str, Any], report_inputs) -> None:
    assert browser_page["headline"] == decision_text(report_inputs.result)[0]
    screenshot: Path = browser_page["screenshot"]
    assert screenshot.exists() and screenshot.stat().st_size > 50_000
