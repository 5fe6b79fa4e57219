"""``looklift report``: the lift report of an analyzed experiment, as HTML, Markdown and JSON.

The command parses its options, calls :func:`looklift.reporting.write_experiment_report`
(which gathers the inputs from the store and writes the three files) and prints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json
from looklift.engines import Engine, EngineOption, SparkMasterOption, TablesOption

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult
    from looklift.reporting import WrittenReport


def register(app: typer.Typer) -> None:
    app.command(
        "report",
        help="Write the lift report of an analyzed experiment: a self-contained HTML file "
        "(opens offline) with the decision, health checks, metric table, figures, the offline "
        "evaluation next to the online result and a gallery of recommendations; plus the same "
        "content as Markdown and JSON beside it.",
    )(report)


def report(
    file: Annotated[Path, typer.Argument(help="Experiment YAML.")],
    db: Annotated[Path, typer.Option(help="DuckDB file with exposures and events.")] = Path(
        "looklift.duckdb"
    ),
    out_html: Annotated[
        Path,
        typer.Option("--out", help="HTML file to write; .md and .json are written beside it."),
    ] = Path("report.html"),
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Report on the data up to the end of this day."),
    ] = None,
    segments: Annotated[
        str | None,
        typer.Option(
            metavar="COLUMN,...",
            help="Comma-separated users columns to break down by, your own included "
            "(default: platform,country,is_new).",
        ),
    ] = None,
    gallery: Annotated[
        int, typer.Option(help="Items in the recommendation gallery (0: no gallery).")
    ] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the gallery's sample of items.")] = 0,
    offline: Annotated[
        bool,
        typer.Option(help="Evaluate the variants' encoders on the historical logs, if any."),
    ] = True,
    truth: Annotated[
        bool,
        typer.Option(
            "--with-truth",
            help="Show the simulator's true effects (simulated experiments only). Without "
            "truth for the experiment in --db, the report is written without it and a "
            "warning says why.",
        ),
    ] = False,
    state: Annotated[
        bool,
        typer.Option(
            "--state/--no-state",
            help="Read the experiment's state when it is fresh ('looklift refresh'); "
            "--no-state reads the raw tables.",
        ),
    ] = True,
    engine: EngineOption = Engine.duckdb,
    tables: TablesOption = None,
    spark_master: SparkMasterOption = "local[*]",
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from looklift.engines import SPARK_LOG, check_tables, spark_engine
    from looklift.reporting import write_experiment_report

    check_tables(engine, tables)
    analysis_engine = None
    if engine is Engine.spark:
        assert tables is not None
        with err.status(f"starting Spark ({spark_master}; its log: {SPARK_LOG})..."):
            analysis_engine = spark_engine(tables, spark_master)
    written = write_experiment_report(
        file,
        db,
        out_html,
        as_of=as_of,
        segments=[x.strip() for x in segments.split(",") if x.strip()] if segments else None,
        gallery_items=gallery,
        seed=seed,
        compute_offline=offline,
        truth=truth,
        use_state=state,
        engine=analysis_engine,
    )
    if written.no_truth:  # asked for, impossible, and the rest of the report stands: say so
        err.print(
            f"[yellow]looklift: warning:[/] --with-truth: {written.no_truth}; "
            "the report has no truth",
            highlight=False,
        )
    _print_written(written, format)


def _print_written(written: WrittenReport, format: OutputFormat) -> None:
    """Where the report went (and, as a table, the analysis it shows)."""
    inputs, paths = written.inputs, written.paths
    sizes = paths.sizes()
    if format is OutputFormat.json:
        print_json(
            {
                "html": paths.html,
                "markdown": paths.markdown,
                "json": paths.json,
                "bytes": sizes,
                "decision": _decision(inputs.result),
            }
        )
        return
    out.print(inputs.result)
    for note in inputs.offline.notes if inputs.offline else ():
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    out.print(
        f"report: {paths.html} ({sizes.get(paths.html.name, 0) / 1e6:.1f} MB); "
        f"also {paths.markdown.name} and {paths.json.name}",
        highlight=False,
    )


def _decision(result: AnalysisResult) -> dict[str, str | None]:
    """The decision as ``--format json`` prints it: the verdict, its variant, in words."""
    from abtest.analysis.decision_text import decision_text

    headline, reason = decision_text(result)
    d = result.decision
    return {"verdict": d.verdict, "variant": d.variant, "headline": headline, "reason": reason}
