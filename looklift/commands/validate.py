"""``looklift validate``: check experiment specs before they run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from looklift.console import OutputFormat, out, print_json, table

if TYPE_CHECKING:
    from abtest.spec import ExperimentSpec


def register(app: typer.Typer) -> None:
    app.command(
        "validate",
        help="Check experiment specs (YAML): fields, weights, metrics, targeting, schedule, "
        "and, between the files given, duplicate keys and overlapping namespace ranges. "
        "With --db, variants must serve encoders that have rows in its neighbors table. "
        "Prints a table of the specs; on any problem prints them all and exits with code 2.",
    )(validate)


def validate(
    files: Annotated[list[Path], typer.Argument(help="Experiment spec files (YAML).")],
    db: Annotated[
        Path | None,
        typer.Option(help="DuckDB file whose neighbors table lists the known encoders."),
    ] = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.spec import load_specs

    known = known_encoders_from_db(db) if db is not None else None
    specs = load_specs(files, known_encoders=known)

    if format is OutputFormat.json:
        print_json(
            [{"file": s.source, **s.model_dump(mode="json", exclude_defaults=False)} for s in specs]
        )
        return
    for spec in specs:
        t = table(f"{spec.key}  ({spec.source})", ["field", "value"], spec_rows(spec))
        t.columns[1].justify = "left"
        out.print(t)
    out.print(f"{len(specs)} valid experiment spec{'s' if len(specs) != 1 else ''}")
    if known is None:
        out.print("encoders not checked (pass --db to check them against the neighbors table)")


def known_encoders_from_db(db: Path) -> set[str]:
    """The encoders with neighbours in ``db``: ``SELECT DISTINCT encoder FROM neighbors``."""
    from abtest.store import Store
    from looklift.errors import UsageProblem

    with Store(db, read_only=True) as store:
        if not store.has_table("neighbors"):
            raise UsageProblem(f"{db} has no neighbors table, so it cannot list encoders")
        rows = store.con.execute("SELECT DISTINCT encoder FROM neighbors").fetchall()
    return {str(r[0]) for r in rows}


def spec_rows(spec: ExperimentSpec) -> list[list[str]]:
    """The fields of a spec worth seeing at a glance, as (field, value) rows."""
    summary = spec.summary()
    rows = [
        ["unit", spec.unit],
        ["hash", summary["hash"]],
        ["coverage", f"{spec.coverage:g}"],
    ]
    if spec.namespace:
        rows.append(["namespace", summary["namespace"]])
    if spec.holdout:
        rows.append(["holdout", f"{spec.holdout.fraction:g}"])
    for v, w in zip(spec.variants, spec.weights, strict=True):
        params = ", ".join(f"{k}={val}" for k, val in v.params.items())
        rows.append(
            [f"variant {v.name}", f"{w:g}  {v.encoder or '-'}" + (f" ({params})" if params else "")]
        )
    if spec.targeting:
        import json

        rows.append(["targeting", json.dumps(spec.targeting, default=str)])
    if spec.forced:
        rows.append(["forced", f"{len(spec.forced)} unit(s)"])
    if spec.metrics:
        for group, name in spec.metrics.all():
            m = spec.metric(name)
            rows.append([f"{group} metric", f"{name} ({m.kind})"])
    a = spec.analysis
    rows.append(
        [
            "analysis",
            f"alpha {a.alpha:g}, {a.test}"
            + (f" (tuning {a.sequential_tuning:g})" if a.sequential else "")
            + f", CUPED {a.cuped_pre_period_days} d, correction {a.correction}",
        ]
    )
    if spec.schedule:
        rows.append(["schedule", f"{summary['schedule']} ({spec.schedule.days:g} days)"])
    return rows
