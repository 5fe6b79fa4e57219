"""``looklift validate``: check experiment specs before they run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, table

if TYPE_CHECKING:
    from abtest.spec import ExperimentSpec, MetricDefinition


def register(app: typer.Typer) -> None:
    app.command(
        "validate",
        help="Check experiment specs (YAML): fields, weights, metrics, targeting, schedule, "
        "and, between the files given, duplicate keys and overlapping namespace ranges. "
        "With --db, variants must serve encoders that have rows in its neighbors table "
        "and metric filters must read columns its events table has; event types and users "
        "columns that have no rows there are warned about (on stderr; the spec stays "
        "valid), as are, without --db, filter columns that only a database can check. "
        "Prints a table of the specs; on any problem prints them all and exits with code 2.",
    )(validate)


def validate(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE", help="Experiment spec files (YAML).")
    ],
    db: Annotated[
        Path | None,
        typer.Option(
            help="DuckDB file whose neighbors table lists the known encoders, and whose "
            "events and users tables the metrics and targeting are checked against."
        ),
    ] = None,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from rich.markup import escape

    from abtest.spec import load_specs
    from looklift.store_facts import data_facts_from_db, known_encoders_from_db, spec_data_warnings

    known = known_encoders_from_db(db) if db is not None else None
    specs = load_specs(files, known_encoders=known)
    facts = data_facts_from_db(db) if db is not None else None
    # errors (raised): events columns the database lacks; warnings: what a valid spec
    # reads that the database has no rows of, or that only a database could check
    warnings = spec_data_warnings(specs, facts, str(db))
    for w in (w for ws in warnings for w in ws):
        err.print(f"[yellow]looklift: warning:[/] {escape(str(w))}", highlight=False)

    if format is OutputFormat.json:
        print_json(
            [
                {
                    "file": s.source,
                    "warnings": [{"path": w.path, "message": w.message} for w in ws],
                    **s.model_dump(mode="json", exclude_defaults=False),
                }
                for s, ws in zip(specs, warnings, strict=True)
            ]
        )
        return
    for spec in specs:
        t = table(f"{spec.key}  ({spec.source})", ["field", "value"], spec_rows(spec))
        t.columns[1].justify = "left"
        out.print(t)
    n_warnings = sum(len(ws) for ws in warnings)
    out.print(
        f"{len(specs)} valid experiment spec{'s' if len(specs) != 1 else ''}"
        + (f", {n_warnings} warning{'s' if n_warnings != 1 else ''}" if n_warnings else "")
    )
    if known is None:
        out.print("encoders not checked (pass --db to check them against the neighbors table)")


def metric_summary(m: MetricDefinition) -> str:
    """A metric's kind with its cutoff, quantile, filters and window, e.g. ``ndcg@10``."""
    text = m.kind + (f"@{m.k}" if m.k is not None else "")
    if m.quantile is not None:
        text += f" {m.quantile:g} over {m.quantile_over}s"
    if any(p is not None and p.filter for p in (m.numerator, m.denominator)):
        text += ", filtered"
    if m.window is not None:
        text += f", window {m.window.delay}..+{m.window.within}"
    return text


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
            rows.append([f"{group} metric", f"{name} ({metric_summary(spec.metric(name))})"])
    a = spec.analysis
    engine = (
        f"bayesian (chance to win {a.chance_to_win:g}, risk {a.risk_threshold:g})"
        if a.bayesian
        else f"correction {a.correction}"
    )
    rows.append(
        [
            "analysis",
            f"alpha {a.alpha:g}, {a.test}"
            + (f" (tuning {a.sequential_tuning:g})" if a.sequential else "")
            + f", CUPED {a.cuped_pre_period_days} d, {engine}",
        ]
    )
    if spec.schedule:
        rows.append(["schedule", f"{summary['schedule']} ({spec.schedule.days:g} days)"])
    return rows
