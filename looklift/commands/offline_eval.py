"""``looklift offline-eval``: compare two encoders on historical logs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from abtest import format as fmt
from looklift.console import OutputFormat, err, out, print_json, table

if TYPE_CHECKING:
    from looklift.offline import OfflineResult


def register(app: typer.Typer) -> None:
    app.command(
        "offline-eval",
        help="Compare two encoders offline on historical interaction logs: nDCG@k, "
        "precision, recall, MRR and hit rate against relevance judgments from the logs "
        "(purchase 2, tap 1), with a paired bootstrap CI of the lift and Holm-adjusted "
        "p-values, plus each encoder's counterfactual tap rate (IPS/SNIPS) from the logged "
        "propensities.",
    )(offline_eval)


def _ks(text: str) -> list[int]:
    from offline_eval import OfflineEvalError

    try:
        ks = [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise OfflineEvalError(f"--k takes integers like 1,3,5,10 (got {text!r})") from None
    if not ks or any(k <= 0 for k in ks):
        raise OfflineEvalError(f"--k values must be positive integers (got {text!r})")
    return ks


# The options, one type each, so that the command's signature reads as a list.
Db = Annotated[Path, typer.Option(help="DuckDB file with interactions and neighbors.")]
Encoders = Annotated[
    str, typer.Option(metavar="A,B", help="Two encoders A,B (B is compared with A).")
]
Ks = Annotated[str, typer.Option("--k", metavar="K,...", help="Cut-offs, e.g. 1,3,5,10.")]
Metrics = Annotated[
    str | None,
    typer.Option(
        metavar="NAME,...",
        help="Metrics (ndcg, ndcg_burges, precision, recall, mrr, hit_rate).",
    ),
]
JudgmentsFrom = Annotated[
    str,
    typer.Option(
        metavar="POLICY",
        help="Logging policy whose logs give the judgments; 'auto' uses "
        "the unbiased 'search' logs when present, 'all' every log.",
    ),
]
Start = Annotated[
    dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Logs from this day.")
]
End = Annotated[
    dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Logs before this day.")
]
Format = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


def offline_eval(
    db: Db = Path("looklift.duckdb"),
    encoders: Encoders = "cnn-pca,finetuned",
    k: Ks = "1,3,5,10",
    metrics: Metrics = None,
    judgments_from: JudgmentsFrom = "auto",
    start: Start = None,
    end: End = None,
    format: Format = OutputFormat.table,
) -> None:
    from abtest.store import Store
    from looklift.offline import run_offline_eval

    ks = _ks(k)
    names = [e.strip() for e in encoders.split(",") if e.strip()]
    with Store(db, read_only=True) as store:
        result = run_offline_eval(
            store,
            names,
            ks=ks,
            metrics=[m.strip() for m in metrics.split(",")] if metrics else None,
            judgments_from=None if judgments_from == "all" else judgments_from,
            start=start,
            end=end,
        )
    if format is OutputFormat.json:
        print_json(result.to_dict())
        return
    _print_comparison(result, ks)
    _print_counterfactual(result)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {w}")


def _print_comparison(result: OfflineResult, ks: list[int]) -> None:
    """The paired comparison of the two encoders, one table per cutoff."""
    a, b = result.encoders
    c = result.comparison
    source = result.judgments_from or "all logs"
    out.print(
        f"{c.n_queries:,} judged queries (source items with judged items, from {source}); "
        f"{c.n_no_relevant:,} queries without any relevant item were dropped"
    )
    for cut in ks:
        rows = [
            (
                r.metric,
                f"{r.mean_a:.4f}",
                f"{r.mean_b:.4f}",
                f"{r.diff:+.4f}",
                fmt.signed_pct(r.lift),
                fmt.interval(*r.lift_ci),
                f"{r.p_value:.2g}",
                f"{r.p_adjusted:.2g}",
            )
            for r in c.rows
            if r.k == cut
        ]
        out.print(
            table(
                f"@{cut}: {b} vs {a} ({c.confidence:.0%} {c.ci_method} bootstrap CI, "
                f"{c.n_resamples:,} resamples; p: paired t-test, {c.correction}-adjusted)",
                [
                    "metric",
                    a,
                    b,
                    "difference",
                    "lift",
                    f"lift {fmt.level(c.confidence)} CI",
                    "p",
                    "adjusted p",
                ],
                rows,
            )
        )


def _print_counterfactual(result: OfflineResult) -> None:
    """Each encoder's tap rate as the logs predict it (IPS and SNIPS)."""
    if result.counterfactual:
        out.print(
            table(
                f"Counterfactual tap rate per impression, from the logs of {result.production}",
                [
                    "encoder",
                    "IPS",
                    f"IPS {fmt.level(result.counterfactual[0].confidence)} CI",
                    "SNIPS",
                    f"SNIPS {fmt.level(result.counterfactual[0].confidence)} CI",
                    "effective n",
                    "slots logged",
                ],
                [
                    (
                        e.policy,
                        f"{e.ips:.2%}",
                        fmt.rate_interval(*e.ips_ci),
                        f"{e.snips:.2%}",
                        fmt.rate_interval(*e.snips_ci),
                        f"{e.effective_sample_size:,.0f}",
                        f"{e.target_slots_logged:.0%}"
                        if e.target_slots_logged is not None
                        else "—",
                    )
                    for e in result.counterfactual
                ],
            )
        )
