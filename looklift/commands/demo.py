"""``looklift demo``: the whole journey on the embedded default, one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from looklift.console import err, out, progress


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help="Run the journey end to end on a synthetic marketplace and print where the "
        "results are. A second run reuses what is already built (use --fresh to rebuild).",
    )(demo)


def demo(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the database and artifacts.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="A smaller world, in about a minute.")] = False,
    fresh: Annotated[bool, typer.Option(help="Rebuild every stage from scratch.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the world.")] = 0,
) -> None:
    from looklift.pipeline import DemoConfig, StageResult, run_demo

    if quick:
        config = DemoConfig.quick(fresh=fresh, seed=seed)
    else:
        config = DemoConfig(fresh=fresh, seed=seed)
    if out_dir is not None:
        config = DemoConfig(
            out_dir=out_dir, n_items=config.n_items, n_users=config.n_users, seed=seed, fresh=fresh
        )

    with progress() as bar:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        def on_stage(stage: StageResult) -> None:
            how = "reused" if stage.reused else f"{stage.seconds:.1f} s"
            bar.console.print(f"[green]✓[/] {stage.name} ({how}): {stage.detail}")

        result = run_demo(config, on_progress, on_stage)

    total = sum(s.seconds for s in result.stages)
    err.print(f"finished in {total:.1f} s")
    out.print(f"database: {config.db}")
