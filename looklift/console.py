"""Terminal output: tables on stdout, progress and messages on stderr, JSON on demand."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from abtest.format import jsonable

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: how the pipeline's stages report their progress."""

# Tables keep their columns when piped to a file or a CI log (rich would use 80).
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def print_json(obj: Any) -> None:
    """``obj`` as JSON on stdout, made JSON-ready by :func:`abtest.format.jsonable`."""
    out.print_json(json.dumps(jsonable(obj)))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A terminal table: the first column left-aligned, the others right-aligned."""
    t = Table(title=title, title_justify="left", header_style="bold")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*(str(v) for v in r))
    return t


@contextmanager
def progress() -> Iterator[Progress]:
    """A rich progress display on stderr (quiet when stderr is not a terminal)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    ) as p:
        yield p


@contextmanager
def stage_progress() -> Iterator[ProgressFn]:
    """A progress display on stderr and the ``progress(stage, done, total)`` callback that
    feeds it: one bar per stage, added when the stage first reports."""
    with progress() as bar:
        tasks: dict[str, Any] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield on_progress
