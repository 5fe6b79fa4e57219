"""``looklift simulate``: run experiments on the simulated marketplace.

Several files are simulated together, on one stream of traffic (see
:func:`abtest.simulate.traffic.simulate_experiments`): experiments that run on the
same dates must be, since the marketplace has one stream of users.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from abtest import format as fmt
from looklift.console import OutputFormat, out, print_json, progress, table

if TYPE_CHECKING:
    from abtest.simulate.traffic import RunSummary, TrafficSummary


def register(app: typer.Typer) -> None:
    app.command(
        "simulate",
        help="Simulate experiments' traffic on the marketplace: users are bucketed by the "
        "real assignment code and served their variant's neighbors; the behaviour model turns "
        "that into impressions, taps and purchases. Several files are simulated together, on "
        "one stream of traffic (each user sees the variant of the experiment that holds them); "
        "they need disjoint namespace ranges. Writes events and exposures, records each "
        "variant's true expected rates in truth_experiments and the run in simulation_runs. "
        "Dates that already hold traffic are refused; --replace replaces an earlier "
        "simulation of the same experiments.",
    )(simulate)


def _parse_shares(values: list[str], option: str = "--drop-exposures") -> dict[str, float]:
    """``VARIANT=SHARE`` (or ``KEY:VARIANT=SHARE``) options as a mapping."""
    from abtest.simulate.traffic import SimulationError

    shares: dict[str, float] = {}
    for value in values:
        name, sep, share = value.partition("=")
        try:
            shares[name] = float(share)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise SimulationError(
                f"{option} takes VARIANT=SHARE or KEY:VARIANT=SHARE, e.g. treatment=0.1 "
                f"(got {value!r})"
            )
    return shares


# The options, one type each, so that the command's signature reads as a list.
Files = Annotated[
    list[Path],
    typer.Argument(
        metavar="FILE",
        help="Experiment YAML(s); several are simulated together on one stream of traffic.",
    ),
]
Db = Annotated[Path, typer.Option(help="DuckDB file with a world and neighbors.")]
Days = Annotated[int | None, typer.Option(help="Days to simulate (default: the spec's schedule).")]
Users = Annotated[int | None, typer.Option(help="Simulate only the first M users (default: all).")]
Seed = Annotated[int, typer.Option(help="Random seed of the traffic.")]
PreDays = Annotated[
    int | None,
    typer.Option(
        help="Days of pre-period traffic before the start, for CUPED "
        "(default: the spec's cuped_pre_period_days)."
    ),
]
Novelty = Annotated[
    float, typer.Option(help="Day-one extra tap rate of arms with a new encoder (0.2 = +20%).")
]
NoveltyHalfLife = Annotated[float, typer.Option(help="Days for the novelty to halve.")]
Bots = Annotated[int, typer.Option(help="Bot users with extreme activity to add.")]
DropExposures = Annotated[
    list[str] | None,
    typer.Option(
        metavar="VARIANT=SHARE",
        help="Fault: VARIANT=SHARE of that variant's users whose exposures are lost "
        "(KEY:VARIANT=SHARE when several experiments have that variant).",
    ),
]
ModuleFailures = Annotated[
    list[str] | None,
    typer.Option(
        metavar="VARIANT=SHARE",
        help="Fault: VARIANT=SHARE of that variant's views where the module fails to "
        "render (a real harm: fewer impressions, taps and purchases); KEY:VARIANT=SHARE "
        "when several experiments have that variant.",
    ),
]
DuplicateEvents = Annotated[
    float, typer.Option(help="Fault: share of events delivered twice (same event_id).")
]
LateEvents = Annotated[
    float, typer.Option(help="Fault: share of taps/purchases logged up to 2 days late.")
]
Aa = Annotated[bool, typer.Option("--aa", help="Serve the control encoder in every arm.")]
Replace = Annotated[
    bool,
    typer.Option(
        help="Replace the earlier simulation of these experiments (all of its "
        "experiments must be given when it simulated several together)."
    ),
]
Parquet = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        help="Also write the database's exposures and events (folders partitioned by "
        "day) and users as parquet under DIR, as a warehouse exports them: what "
        "'looklift analyze --engine spark --tables DIR' reads. DIR must not exist.",
    ),
]
Via = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="Send the traffic through a running 'looklift serve' (http://HOST:PORT) "
        "instead of writing it to --db, which then only gives the world to simulate (a copy "
        "of the served database: the service holds its own). One experiment at a time.",
    ),
]
Format = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


def simulate(
    files: Files,
    db: Db = Path("looklift.duckdb"),
    days: Days = None,
    users: Users = None,
    seed: Seed = 0,
    pre_days: PreDays = None,
    novelty: Novelty = 0.0,
    novelty_half_life: NoveltyHalfLife = 3.0,
    bots: Bots = 0,
    drop_exposures: DropExposures = None,
    module_failures: ModuleFailures = None,
    duplicate_events: DuplicateEvents = 0.0,
    late_events: LateEvents = 0.0,
    aa: Aa = False,
    replace: Replace = False,
    parquet: Parquet = None,
    via: Via = None,
    format: Format = OutputFormat.table,
) -> None:
    from abtest.simulate.traffic import TrafficConfig, simulate_experiments
    from abtest.spec import load_spec
    from abtest.store import require_database

    config = TrafficConfig(
        days=days,
        users=users,
        seed=seed,
        pre_days=pre_days,
        novelty=novelty,
        novelty_half_life=novelty_half_life,
        bots=bots,
        drop_exposures=_parse_shares(drop_exposures or []),
        module_failures=_parse_shares(module_failures or [], "--module-failures"),
        duplicate_events=duplicate_events,
        late_events=late_events,
        aa=aa,
    )
    config.validate()
    specs = [load_spec(file) for file in files]
    require_database(db)  # one line for a missing path, a folder or a non-looklift file
    if parquet is not None and parquet.exists():
        from looklift.errors import UsageProblem

        raise UsageProblem(f"--parquet {parquet} exists: choose another folder")
    with progress() as bar:
        task = bar.add_task(f"simulating {', '.join(s.key for s in specs)}", total=None)
        run = simulate_experiments(
            str(db),
            specs,
            config,
            replace=replace,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            via=via,
        )
    exported = _export(db, parquet) if parquet is not None else None
    if format is OutputFormat.json:  # one object for one file, a list for several
        print_json(run.experiments[0] if len(run.experiments) == 1 else list(run.experiments))
        return
    if via is not None:
        for summary in run.experiments:
            _print_truth(summary)
        out.print(
            f"sent the run's {run.events_written:,} events through {via} (the service logged "
            "the exposures and impressions itself); the truth is printed, not stored"
        )
        return
    _print_run(run)
    if exported is not None:
        counts = ", ".join(f"{n:,} {table}" for table, n in exported.items())
        out.print(f"wrote {counts} as parquet under {parquet}")


def _export(db: Path, folder: Path) -> dict[str, int]:
    """The database's tables as parquet under ``folder`` (:mod:`abtest.export`)."""
    from abtest.export import export_parquet
    from abtest.store import Store

    with Store(db, read_only=True) as store, progress() as bar:
        bar.add_task(f"writing parquet under {folder}", total=None)
        return export_parquet(store, folder)


def _print_run(run: RunSummary) -> None:
    """Each experiment's true rates, then what the run wrote."""
    for summary in run.experiments:
        _print_truth(summary)
    exposures = sum(s.exposures_written for s in run.experiments)
    together = f" of {len(run.experiments)} experiments" if len(run.experiments) > 1 else ""
    out.print(
        f"{run.events_written:,} events{together} and {exposures:,} exposures written "
        f"(run {run.run_id}: {run.first_day:%Y-%m-%d} to "
        f"{run.end_day - dt.timedelta(days=1):%Y-%m-%d})"
        + (
            f"; {run.duplicates_skipped:,} duplicated events skipped"
            if run.duplicates_skipped
            else ""
        )
        + (f"; replaced {', '.join(run.replaced)}" if run.replaced else "")
    )


def _print_truth(summary: TrafficSummary) -> None:
    """The table of one experiment's true rates."""
    control = summary.truth[0]
    rows = []
    for t in summary.truth:
        lift = "" if t is control else fmt.signed_pct(summary.true_lift("tap_rate", t.variant))
        rows.append(
            (
                t.variant,
                t.encoder,
                f"{summary.exposed[t.variant]:,}",
                f"{t.tap_rate:.3%}",
                lift,
                f"{t.purchases_per_user:.3f}",
                f"{t.purchase_conversion:.2%}",
                f"{t.revenue_per_user:.2f}",
            )
        )
    out.print(
        table(
            f"{summary.experiment}: {summary.start:%Y-%m-%d} to {summary.end:%Y-%m-%d}"
            + (f" (+{summary.pre_days} pre-period days)" if summary.pre_days else ""),
            [
                "variant",
                "encoder",
                "exposed users",
                "true tap rate",
                "true lift",
                "true purchases/user",
                "true conversion",
                "true revenue/user",
            ],
            rows,
        )
    )
