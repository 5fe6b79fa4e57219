"""``looklift assign``: assign a file of users to an experiment's variants."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, table


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
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.assignment import Assigner, AssignmentError, as_timestamp
    from abtest.assignment import record_exposures as record_batch
    from abtest.schema import USERS
    from abtest.spec import load_spec
    from abtest.store import read_frame
    from looklift.commands.validate import known_encoders_from_db
    from looklift.errors import UsageProblem

    if record_exposures and db is None:
        raise UsageProblem("--record-exposures needs --db")
    if not out_path.parent.exists():
        raise UsageProblem(f"folder does not exist: {out_path.parent}")
    if out_path.exists() and out_path.is_dir():
        raise UsageProblem(f"--out is a folder: {out_path}")

    spec = load_spec(file, known_encoders=known_encoders_from_db(db) if db else None)
    forced = _parse_forced(force or [])
    assigner = Assigner(spec, forced=forced)

    exposure_ts = None
    if record_exposures:
        if at is not None:
            exposure_ts = as_timestamp(at)
        elif spec.schedule is not None:
            exposure_ts = spec.schedule.start
        else:
            raise UsageProblem(f"{file} has no schedule; pass --at for the exposure time")

    if not users.exists():
        raise AssignmentError(f"users file not found: {users}")
    # A folder, a FIFO or a device is refused by read_frame in one line (never read).
    # The reader of `looklift ingest`: the same formats, and the same attributes (types,
    # UTC timestamps) whether a users file is assigned or stored. The unit is text, as
    # written: "007" stays "007" (hashing reads the string).
    frame = read_frame(
        users,
        table="users",
        types=None if spec.unit in USERS.column_names else {spec.unit: "text"},
    )

    batch = assigner.assign_frame(frame)
    result = batch.to_frame(unit_column=spec.unit)

    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    recorded = None
    try:
        result.write_parquet(tmp)
        if record_exposures:
            from abtest.store import Store

            assert db is not None
            with Store(db, create=False) as store:
                recorded = record_batch(store, batch, exposure_ts).inserted
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)

    counts = batch.counts()
    reasons = batch.reason_counts()
    if format is OutputFormat.json:
        print_json(
            {
                "experiment": spec.key,
                "out": str(out_path),
                "units": len(batch),
                "variants": counts,
                "reasons": reasons,
                "exposures_recorded": recorded,
            }
        )
        return
    total = max(len(batch), 1)
    rows = [
        [v.name, v.encoder or "", f"{counts[v.name]:,}", f"{counts[v.name] / total:.1%}"]
        for v in spec.variants
    ]
    out.print(
        table(f"{spec.key}: {len(batch):,} units", ["variant", "encoder", "units", "share"], rows)
    )
    out.print(table("Why", ["reason", "units"], [[r, f"{n:,}"] for r, n in reasons.items()]))
    out.print(f"wrote {out_path}")
    if recorded is not None:
        err.print(f"recorded {recorded:,} exposures in {db}")


def _parse_forced(items: list[str]) -> dict[str, str]:
    from looklift.errors import UsageProblem

    forced: dict[str, str] = {}
    for item in items:
        unit, sep, variant = item.partition("=")
        if not sep or not unit or not variant:
            raise UsageProblem(f"--force takes UNIT=VARIANT, got {item!r}")
        forced[unit] = variant
    return forced
