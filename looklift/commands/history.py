"""``looklift history``: historical logs of the module under a production encoder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from looklift.console import OutputFormat, out, print_json, progress, table


def register(app: typer.Typer) -> None:
    app.command(
        "history",
        help="Simulate historical logs of the 'similar looks' module served by a production "
        "encoder's neighbors, with a little randomisation (epsilon-greedy over the top "
        "candidates) and the logged propensity of every impression. Writes the "
        "interactions table, the input of 'looklift offline-eval'.",
    )(history)


def history(
    db: Annotated[Path, typer.Option(help="DuckDB file with a world and neighbors.")] = Path(
        "looklift.duckdb"
    ),
    policy: Annotated[
        str,
        typer.Option(
            metavar="ENCODER",
            help="Encoder whose neighbors the module served (the production one).",
        ),
    ] = "cnn-pca",
    days: Annotated[int, typer.Option(help="Number of days of logs.")] = 28,
    start: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First day of the logs.")
    ] = dt.datetime(2026, 2, 1),
    k: Annotated[int, typer.Option(help="Items shown in the module.")] = 5,
    epsilon: Annotated[
        float, typer.Option(help="Share of views that show a random ordering of the pool.")
    ] = 0.1,
    pool: Annotated[int, typer.Option(help="Candidates the randomisation draws from.")] = 20,
    search: Annotated[
        int,
        typer.Option(
            help="Random same-category search results logged per view, under "
            "policy 'search': unbiased relevance judgments for offline evaluation."
        ),
    ] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    replace: Annotated[
        bool, typer.Option(help="Replace logs of this policy already in the date range.")
    ] = False,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.simulate.history import HistoryConfig, simulate_history
    from abtest.store import Store

    config = HistoryConfig(
        policy=policy,
        start=start.date(),
        days=days,
        k=k,
        epsilon=epsilon,
        pool=pool,
        seed=seed,
        search=search,
    )
    config.validate()
    with Store(db, create=False) as store, progress() as bar:
        task = bar.add_task(f"history of {policy}", total=days)
        summary = simulate_history(
            store,
            config,
            replace=replace,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if format is OutputFormat.json:
        print_json(summary)
        return
    out.print(
        table(
            f"Historical logs of {summary.policy} ({summary.start} to {summary.end}, "
            f"epsilon {epsilon:g} over the top {pool})",
            ["", "count"],
            [
                ("module views", f"{summary.views:,}"),
                ("  of which explored", f"{summary.explored_views:,}"),
                ("impressions", f"{summary.impressions:,}"),
                ("taps", f"{summary.taps:,}"),
                ("purchases", f"{summary.purchases:,}"),
                ("tap rate", f"{summary.tap_rate:.2%}"),
                ("search impressions (judgments)", f"{summary.search_impressions:,}"),
                ("search taps", f"{summary.search_taps:,}"),
                ("events written", f"{summary.inserted:,}"),
            ],
        )
    )
