"""``looklift refresh``: bring an experiment's state up to date, reading only what changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from looklift.console import OutputFormat, out, print_json, stage_progress


def register(app: typer.Typer) -> None:
    app.command(
        "refresh",
        help="Keep an experiment's state in the database up to date: first exposures and "
        "per-user, per-day aggregates of the metrics' events, read only for the days that "
        "changed since the last refresh (new days, and older days that late rows reached). "
        "analyze and report then read the state instead of every event since the start, "
        "with the same numbers.",
    )(refresh)


def refresh(
    file: Annotated[Path, typer.Argument(help="Experiment YAML.")],
    db: Annotated[Path, typer.Option(help="DuckDB file with exposures and events.")] = Path(
        "looklift.duckdb"
    ),
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild the state from all the raw rows.")
    ] = False,
    lookback: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="Also re-read the days this long before the last refresh's latest row, "
            "whatever their row counts (rows replaced in place): e.g. 6h, 2d. Rows added "
            "late are found by their day's row count, however late.",
        ),
    ] = "0h",
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.analysis.state import refresh as run_refresh
    from abtest.spec import load_spec
    from abtest.spec.models import duration_minutes
    from abtest.store import Store
    from looklift.errors import UsageProblem

    try:
        back = dt.timedelta(minutes=duration_minutes(lookback))
    except ValueError:
        raise UsageProblem(
            f"--lookback {lookback!r}: write a duration as a whole number and a unit, "
            "m (minutes), h, d or w, e.g. 6h or 2d"
        ) from None
    spec = load_spec(file)
    with Store(db, create=False) as store, stage_progress() as progress:
        report = run_refresh(store, spec, full=full, lookback=back, progress=progress)
    if format is OutputFormat.json:
        print_json(report.to_dict())
        return
    late = ", ".join(d.isoformat() for d in report.late_days) or "none"
    rows = [
        ("state", f"{report.mode} ({report.reason})"),
        ("recomputed from", report.recomputed_from.isoformat() if report.recomputed_from else "—"),
        ("late rows reached", late),
        ("events read", f"{report.events_read:,}"),
        ("units", f"{report.units:,} ({report.new_units:,} new, {report.changed_units:,} changed)"),
        ("window", f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M}"),
        ("up to", f"{report.watermark:%Y-%m-%d %H:%M:%S}" if report.watermark else "no rows"),
        ("took", f"{report.seconds:.2f} s"),
    ]
    shown = Table(title=f"{report.experiment}: state", title_justify="left", show_header=False)
    shown.add_column(style="bold")
    shown.add_column()
    for row in rows:
        shown.add_row(*row)
    out.print(shown)
    out.print("analyze and report now read this state while no rows arrive.", highlight=False)
