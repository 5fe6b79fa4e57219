"""``looklift analyze`` and ``looklift power``: lift tables and planning."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, table


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


def _open(db: Path):  # a context manager
    from abtest.store import Store

    return Store(db, read_only=True)  # refuses a missing path, a folder, a non-looklift file


def _users_of(baseline: object) -> int:
    """Users behind a baseline's moments (the post-period ones for CUPED moments)."""
    n = getattr(baseline, "n", None)
    if n is None:
        n = getattr(getattr(baseline, "post", None), "n", 0)
    return int(n or 0)


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
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.analysis import analyze as run_analysis
    from abtest.spec import load_spec

    spec = load_spec(file)
    seg = [s.strip() for s in segments.split(",") if s.strip()] if segments else None
    with _open(db) as store:
        result = run_analysis(store, spec, as_of=as_of, segments=seg)
    if format is OutputFormat.json:
        print_json(result.to_dict())
    else:
        from abtest.analysis.render import segment_summary

        out.print(result)
        if seg:  # segments asked for by name are shown; the default ones are in the report
            out.print(segment_summary(result))


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
    from abtest.stats import MeanStats, ProportionStats, StatsInputError, mde, sample_size
    from looklift.errors import UsageProblem

    baselines: dict[str, object] = {}
    if file is not None:
        from abtest.analysis import variant_stats
        from abtest.spec import load_spec

        spec = load_spec(file)
        with _open(db) as store:
            stats = variant_stats(store, spec)
        if not stats:
            raise UsageProblem(f"{file} defines no metrics to plan for")
        if metric is not None and metric not in stats:
            raise UsageProblem(f"unknown metric {metric!r}; the spec has {', '.join(stats)}")
        control = spec.variant_names[0]
        baselines = {m: v[control] for m, v in stats.items() if metric in (None, m)}
        n_control = min(_users_of(b) for b in baselines.values())
        if n_control < 2:  # a baseline needs a variance, whatever --users says
            raise UsageProblem(
                f"the control {control!r} of {spec.key!r} has {n_control} user(s) in {db}: "
                "too few for a baseline (give one with --proportion, or --mean and --sd)"
            )
    elif proportion is not None:
        if not 0 < proportion < 1:
            raise UsageProblem(f"--proportion must be between 0 and 1 (got {proportion})")
        n = 1_000_000
        baselines = {"proportion": ProportionStats(n, round(proportion * n))}
    elif mean is not None and sd is not None:
        if sd <= 0:
            raise UsageProblem(f"--sd must be positive (got {sd})")
        n = 1_000_000
        baselines = {"mean": MeanStats(n, mean * n, (sd * sd * (n - 1)) + n * mean * mean)}
    else:
        raise UsageProblem("give a baseline: FILE (with --db), or --proportion, or --mean and --sd")
    if users is None and file is None and lift is None:
        raise UsageProblem(
            "give --users (for the detectable lift) or --lift (for the users needed)"
        )

    rows, results, problems = [], [], []
    for name, base in baselines.items():
        n_users = users or (_users_of(base) if file is not None else None)
        problem = None
        try:
            detectable = (
                mde(base, n_control=n_users, alpha=alpha, power=target_power)  # type: ignore[arg-type]
                if n_users
                else None
            )
            needed = (
                sample_size(base, relative_effect=lift, alpha=alpha, power=target_power)  # type: ignore[arg-type]
                if lift is not None
                else None
            )
        except StatsInputError as exc:  # this metric's baseline cannot be planned with
            problem = str(exc)
            problems.append((name, problem))
            detectable = needed = None
        summary = detectable or needed
        results.append(
            {
                "metric": name,
                "mde": detectable,
                "sample_size": needed,
                "problem": problem,
            }
        )
        rows.append(
            (
                name,
                f"{summary.baseline_mean:,.4g}" if summary else "—",
                f"{summary.baseline_sd:,.4g}" if summary else "—",
                f"{n_users:,}" if n_users else "—",
                f"{detectable.relative_effect:+.2%}"
                if detectable and math.isfinite(detectable.relative_effect)
                else "—",
                f"{needed.n_control:,}" if needed else "—",
            )
        )
    if len(problems) == len(baselines):  # nothing to show: the inputs themselves are wrong
        messages = list(dict.fromkeys(m for _, m in problems))
        raise UsageProblem(
            messages[0] if len(messages) == 1 else "; ".join(f"{n}: {m}" for n, m in problems)
        )
    for name, message in problems:
        err.print(f"[yellow]note:[/] {name}: {message}", highlight=False)
    if format is OutputFormat.json:
        print_json(results)
        return
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
