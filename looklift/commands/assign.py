"""``looklift assign``: assign a file of users to an experiment's variants."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, table
from looklift.engines import SPARK_LOG, Engine, SparkMasterOption


def register(app: typer.Typer) -> None:
    app.command(
        "assign",
        help="Assign every user of a file to a variant, with the same hashing as GrowthBook "
        "SDKs. The file (parquet, CSV, TSV or JSON lines, read as 'looklift ingest users' "
        "reads it) has a column named after the spec's unit, e.g. user_id, plus the "
        "attribute columns targeting reads. Writes one row per user: experiment, unit id, "
        "variant, encoder, in_experiment, reason, bucket. The output is replaced atomically "
        "and nothing is written when anything is wrong.",
    )(assign)


def assign(
    file: Annotated[Path, typer.Argument(help="Experiment spec (YAML).")],
    users: Annotated[
        Path,
        typer.Option(help="Users file (parquet, CSV, JSON lines): unit column and attributes."),
    ],
    out_path: Annotated[Path, typer.Option("--out", help="Assignments parquet to write.")],
    db: Annotated[
        Path | None,
        typer.Option(
            help="DuckDB file: check encoders against its neighbors table "
            "(and with --record-exposures, write exposures to it)."
        ),
    ] = None,
    record_exposures: Annotated[
        bool,
        typer.Option(help="Also write an exposure per assigned user to --db's exposures table."),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            metavar="TIME", help="Exposure timestamp (ISO 8601); default: the schedule's start."
        ),
    ] = None,
    force: Annotated[
        list[str] | None,
        typer.Option(
            metavar="UNIT=VARIANT",
            help="UNIT=VARIANT: force a unit into a variant (QA); repeatable.",
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            help="duckdb: assign in this process (numpy); spark: assign on Spark, one Arrow "
            "batch at a time, reading --users as parquet (a file or a folder) and writing "
            "--out as a parquet folder.",
        ),
    ] = Engine.duckdb,
    spark_master: SparkMasterOption = "local[*]",
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from looklift.assigning import assign_users_file, assign_users_on_spark

    if engine is Engine.spark:
        if record_exposures:
            from looklift.errors import UsageProblem

            raise UsageProblem(
                "--record-exposures writes to a DuckDB store: use --engine duckdb, or load "
                "the assignments into your warehouse"
            )
        with err.status(f"assigning on Spark ({spark_master}; its log: {SPARK_LOG})..."):
            summary = assign_users_on_spark(
                file, users, out_path, db=db, force=force or [], master=spark_master, log=SPARK_LOG
            )
        spec, recorded = summary.spec, None
        units, counts, reasons = summary.units, summary.counts, summary.reasons
    else:
        run = assign_users_file(
            file,
            users,
            out_path,
            db=db,
            record_exposures=record_exposures,
            at=at,
            force=force or [],
        )
        batch, spec, recorded = run.batch, run.spec, run.recorded
        units, counts, reasons = len(batch), batch.counts(), batch.reason_counts()
    if format is OutputFormat.json:
        print_json(
            {
                "experiment": spec.key,
                "out": str(out_path),
                "units": units,
                "variants": counts,
                "reasons": reasons,
                "exposures_recorded": recorded,
            }
        )
        return
    total = max(units, 1)
    rows = [
        [v.name, v.encoder or "", f"{counts[v.name]:,}", f"{counts[v.name] / total:.1%}"]
        for v in spec.variants
    ]
    out.print(table(f"{spec.key}: {units:,} units", ["variant", "encoder", "units", "share"], rows))
    out.print(table("Why", ["reason", "units"], [[r, f"{n:,}"] for r, n in reasons.items()]))
    out.print(f"wrote {out_path}")
    if recorded is not None:
        err.print(f"recorded {recorded:,} exposures in {db}")
