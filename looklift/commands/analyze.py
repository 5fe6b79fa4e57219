"""``looklift analyze`` and ``looklift power``: lift tables and planning."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, table
from looklift.engines import Engine, EngineOption, SparkMasterOption, TablesOption

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult
    from abtest.spec import ExperimentSpec
    from looklift.planning import PowerPlan


def register(app: typer.Typer) -> None:
    app.command(
        "analyze",
        help="Analyze an experiment: per-variant sufficient statistics in SQL, then lifts with "
        "confidence intervals, p-values adjusted for multiple testing, the sample ratio "
        "mismatch check, day-by-day and per-segment breakdowns.",
    )(analyze)
    app.command(
        "power",
        help="Plan an experiment: minimum detectable lift for a number of users, or users "
        "needed for a lift. The baseline comes from a past experiment's control (FILE and "
        "--db) or from numbers (--proportion, or --mean and --sd).",
    )(power)


def analyze(
    file: Annotated[Path, typer.Argument(help="Experiment YAML.")],
    db: Annotated[Path, typer.Option(help="DuckDB file with exposures and events.")] = Path(
        "looklift.duckdb"
    ),
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Analyze the data up to the end of this day."),
    ] = None,
    segments: Annotated[
        str | None,
        typer.Option(
            metavar="COLUMN,...",
            help="Comma-separated users columns to break down by "
            "(default: platform,country,is_new).",
        ),
    ] = None,
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
    from abtest.analysis import analyze as run_analysis
    from abtest.spec import load_spec
    from abtest.store import Store
    from looklift.engines import check_tables

    spec = load_spec(file)
    seg = [s.strip() for s in segments.split(",") if s.strip()] if segments else None
    if engine is Engine.spark:
        result = _analyze_on_spark(spec, tables, spark_master, as_of, seg)
    else:
        check_tables(engine, tables)
        # Read-only: refuses a missing path, a folder, a non-looklift file.
        with Store(db, read_only=True) as store:
            result = run_analysis(store, spec, as_of=as_of, segments=seg, use_state=state)
    from abtest.analysis.decision_text import json_summary
    from abtest.analysis.render import segment_summary

    if format is OutputFormat.json:
        print_json(json_summary(result))
    else:
        out.print(result)
        if seg:  # segments asked for by name are shown; the default ones are in the report
            out.print(segment_summary(result))


def _analyze_on_spark(
    spec: ExperimentSpec,
    tables: str | None,
    master: str,
    as_of: dt.datetime | None,
    segments: list[str] | None,
) -> AnalysisResult:
    """The analysis on Spark, with a spinner while Spark starts and works."""
    from abtest.analysis import analyze as run_analysis
    from looklift.engines import SPARK_LOG, check_tables, spark_engine

    check_tables(Engine.spark, tables)
    assert tables is not None
    with err.status(f"analysing {spec.key!r} on Spark ({master}; its log: {SPARK_LOG})..."):
        return run_analysis(spark_engine(tables, master), spec, as_of=as_of, segments=segments)


def power(
    file: Annotated[
        Path | None, typer.Argument(help="Experiment YAML whose control gives the baseline.")
    ] = None,
    db: Annotated[Path, typer.Option(help="DuckDB file of that experiment.")] = Path(
        "looklift.duckdb"
    ),
    metric: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Only this metric (default: all of the spec's)."),
    ] = None,
    proportion: Annotated[
        float | None, typer.Option(help="Baseline conversion rate, e.g. 0.05.")
    ] = None,
    mean: Annotated[float | None, typer.Option(help="Baseline mean per user.")] = None,
    sd: Annotated[float | None, typer.Option(help="Baseline standard deviation per user.")] = None,
    users: Annotated[
        int | None, typer.Option(help="Users per variant (default: the experiment's control).")
    ] = None,
    lift: Annotated[
        float | None, typer.Option(help="Relative lift to size for, e.g. 0.05 for +5%.")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    target_power: Annotated[float, typer.Option("--power", help="Desired power.")] = 0.8,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from looklift.errors import UsageProblem
    from looklift.planning import experiment_baselines, number_baseline, plan_power

    if file is not None:
        baselines = experiment_baselines(file, db, metric)
    else:
        baselines = number_baseline(proportion, mean, sd)
    if users is None and file is None and lift is None:
        raise UsageProblem(
            "give --users (for the detectable lift) or --lift (for the users needed)"
        )
    plans = plan_power(
        baselines,
        users=users,
        users_from_baseline=file is not None,
        lift=lift,
        alpha=alpha,
        power=target_power,
    )
    for p in plans:
        if p.problem is not None:
            err.print(f"[yellow]note:[/] {p.metric}: {p.problem}", highlight=False)
    if format is OutputFormat.json:
        print_json([p.to_dict() for p in plans])
        return
    _print_plans(plans, alpha=alpha, target_power=target_power, lift=lift)


def _print_plans(
    plans: list[PowerPlan], *, alpha: float, target_power: float, lift: float | None
) -> None:
    """The plan of every metric as one table."""
    rows = []
    for p in plans:
        summary, detectable = p.summary, p.mde
        rows.append(
            (
                p.metric,
                f"{summary.baseline_mean:,.4g}" if summary else "—",
                f"{summary.baseline_sd:,.4g}" if summary else "—",
                f"{p.n_users:,}" if p.n_users else "—",
                f"{detectable.relative_effect:+.2%}"
                if detectable and math.isfinite(detectable.relative_effect)
                else "—",
                f"{p.sample_size.n_control:,}" if p.sample_size else "—",
            )
        )
    out.print(
        table(
            f"Power at alpha {alpha:g}, power {target_power:.0%} (two-sided, fixed horizon)",
            [
                "metric",
                "baseline mean",
                "sd per user",
                "users per variant",
                "detectable lift",
                f"users per variant for {lift:+.1%}" if lift is not None else "users for a lift",
            ],
            rows,
        )
    )
