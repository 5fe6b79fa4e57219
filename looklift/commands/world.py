"""``looklift world``: generate the synthetic marketplace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, stage_progress, table


def register(app: typer.Typer) -> None:
    app.command(
        "world",
        help="Generate a synthetic marketplace: product photos, noisy titles, users with "
        "tastes, and the behaviour model (in truth_* tables that only the simulator reads). "
        "Also writes a contact sheet PNG of a sample of items.",
    )(world)


def world(
    items: Annotated[int, typer.Option(help="Number of catalog items.")] = 2000,
    users: Annotated[int, typer.Option(help="Number of users.")] = 10000,
    db: Annotated[Path, typer.Option(help="DuckDB file to create.")] = Path("looklift.duckdb"),
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same world.")] = 0,
    image_size: Annotated[int, typer.Option(help="Photo size in pixels (square).")] = 128,
    nuisance: Annotated[
        float, typer.Option(help="How much photos vary in things shoppers ignore (0..1).")
    ] = 1.0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing database.")] = False,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.simulate.world import WorldConfig, build_world

    config = WorldConfig(
        n_items=items, n_users=users, seed=seed, image_size=image_size, nuisance=nuisance
    )
    config.validate()
    with stage_progress() as on_progress:
        summary = build_world(config, db, overwrite=overwrite, progress=on_progress)

    if format is OutputFormat.json:
        print_json(summary)
        return
    out.print(
        table(
            f"Marketplace (seed {summary.seed}): {summary.n_items:,} items, "
            f"{summary.n_users:,} users",
            ["category", "items"],
            sorted(summary.items_per_category.items()),
        )
    )
    out.print(table("Users", ["platform", "users"], sorted(summary.users_per_platform.items())))
    out.print(f"database       {summary.db}")
    out.print(f"photos         {summary.images_dir}/")
    out.print(f"contact sheet  {summary.contact_sheet}")
    err.print(f"done in {summary.seconds:.1f} s")
