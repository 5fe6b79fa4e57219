"""``looklift demo``: the whole journey on the embedded default, one command."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from abtest import format as fmt
from looklift.console import err, out, stage_progress, table

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult
    from abtest.simulate.truth import SimulatorTruth
    from looklift.offline import OfflineResult
    from looklift.pipeline import DemoResult


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help="Run the journey end to end on a synthetic marketplace: catalog → baseline and "
        "fine-tuned encoders → neighbors → historical logs → offline evaluation → the "
        "experiment of examples/similar-looks.yaml → 14 days of simulated traffic → analysis "
        "→ HTML report. A second run reuses what is already built (--fresh rebuilds).",
    )(demo)


def demo(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder for the database, artifacts and report.")
    ] = None,
    quick: Annotated[bool, typer.Option(help="A smaller world, in about a minute.")] = False,
    fresh: Annotated[bool, typer.Option(help="Rebuild every stage from scratch.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed of the world and the traffic.")] = 0,
    items: Annotated[int | None, typer.Option(help="Catalog size (default 5,000).")] = None,
    users: Annotated[int | None, typer.Option(help="Users (default 20,000).")] = None,
) -> None:
    from looklift.pipeline import DemoConfig, StageResult, run_demo

    kw: dict[str, object] = {"fresh": fresh, "seed": seed}
    if out_dir is not None:
        kw["out_dir"] = out_dir
    if items is not None:
        kw["n_items"] = items
    if users is not None:
        kw["n_users"] = users
    config = DemoConfig.quick(**kw) if quick else DemoConfig(**kw)  # type: ignore[arg-type]

    def on_stage(stage: StageResult) -> None:
        how = "reused" if stage.reused else f"{stage.seconds:.1f} s"
        err.print(f"[green]✓[/] [bold]{stage.name}[/] ({how}): {stage.detail}")

    with stage_progress() as on_progress:
        result = run_demo(config, on_progress, on_stage)

    assert result.analysis is not None and result.offline is not None
    out.print()
    _print_offline(result.offline)
    if result.offline.counterfactual:
        _print_prediction(result)
    _print_ndcg(result)
    out.print(result.analysis)
    if result.truth is not None:
        _print_truth(result.analysis, result.truth)
    err.print(f"finished in {result.seconds:.0f} s")
    out.print(f"[bold]report:[/] {result.report_paths.html.resolve()}")  # type: ignore[union-attr]


def _print_offline(offline: OfflineResult) -> None:
    """The offline comparison of the two encoders at the cutoffs worth a glance."""
    rows = []
    for metric, k in (("ndcg", 5), ("precision", 1), ("ndcg", 10)):
        r = offline.comparison.get(metric, k)
        rows.append(
            (
                f"{metric}@{k}",
                f"{r.mean_a:.3f}",
                f"{r.mean_b:.3f}",
                f"{r.lift:+.1%}",
                fmt.interval(*r.lift_ci),
            )
        )
    a, b = offline.encoders
    out.print(
        table(
            f"Offline: {b} vs {a} on {offline.n_queries:,} judged queries "
            f"({offline.comparison.confidence:.0%} bootstrap CI)",
            ["metric", a, b, "lift", f"lift {offline.comparison.confidence:.0%} CI"],
            rows,
        )
    )


def _print_prediction(result: DemoResult) -> None:
    """Each encoder's tap rate predicted offline next to the one its variant measured."""
    offline, analysis, spec = result.offline, result.analysis, result.spec
    assert offline is not None and analysis is not None and spec is not None
    online = {v.variant: v.value for v in analysis.values if v.metric == result.tap_rate_metric}
    rows = [
        (
            c.policy,
            f"{c.snips:.2%}",
            fmt.rate_interval(*c.snips_ci),
            next(
                (
                    f"{online[v.name]:.2%}"
                    for v in spec.variants
                    if v.encoder == c.policy and v.name in online
                ),
                "—",
            ),
        )
        for c in offline.counterfactual
    ]
    out.print(
        table(
            "Tap rate: predicted offline from the logs (SNIPS) vs measured online",
            [
                "encoder",
                "predicted",
                f"{offline.counterfactual[0].confidence:.0%} CI",
                "online (A/B test)",
            ],
            rows,
        )
    )


def _print_ndcg(result: DemoResult) -> None:
    """The online nDCG@k lift of the module next to the offline nDCG@k lift, if measured."""
    from reports.tables import ndcg_table

    analysis, offline, spec = result.analysis, result.offline, result.spec
    assert analysis is not None and offline is not None and spec is not None
    encoders = {v.name: v.encoder for v in spec.variants}
    shown = ndcg_table(analysis, [offline.comparison], encoders.get)
    if shown is not None:
        out.print(
            table(
                "Ranking quality: offline nDCG (judged queries) vs online nDCG (module views)",
                list(shown.columns),
                [r.cells for r in shown.rows],
            )
        )


def _covers(low: float | None, high: float | None, value: float) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "—"
    return "yes" if low <= value <= high else "NO"


def _print_truth(analysis: AnalysisResult, truth: SimulatorTruth) -> None:
    """Estimated lifts next to the simulator's true ones, with whether each interval
    (nominal, and widened for the correction when there is one) covers the truth.

    A 95% interval misses the truth in about one run in twenty: one "NO" in a
    table is what honest intervals look like, not a bug.
    """
    corrected = analysis.correction != "none"
    level = next(
        (
            c.comparison.relative.ci_level_adjusted
            for c in analysis.comparisons
            if c.comparison.relative.ci_level_adjusted is not None
        ),
        None,
    )
    rows = []
    for cmp in analysis.comparisons:
        effect = truth.effect(cmp.metric, cmp.variant)
        if effect is None:
            continue
        rel = cmp.comparison.relative
        row = [  # two decimals: a miss by a hair must not read as "+90.7% not in [+90.7%..."
            cmp.metric,
            cmp.variant,
            f"{rel.estimate:+.2%}",
            f"{effect.lift:+.2%}",
            fmt.interval(rel.ci_low, rel.ci_high, digits=2),
            _covers(rel.ci_low, rel.ci_high, effect.lift),
        ]
        if corrected and level is not None:
            low, high = rel.ci_low_adjusted, rel.ci_high_adjusted
            row += [
                fmt.interval(low, high, digits=2),
                _covers(low, high, effect.lift),
            ]
        rows.append(tuple(row))
    columns = ["metric", "variant", "estimated", "true", f"{1 - analysis.alpha:.0%} CI", "covers"]
    if corrected and level is not None:
        columns += [f"{level * 100:.4g}% CI ({analysis.correction})", "covers"]
    out.print(
        table(
            "Estimated lift vs the simulator's true lift (only a simulation knows the truth; "
            "a 95% interval misses it in about one run in twenty)",
            columns,
            rows,
        )
    )
