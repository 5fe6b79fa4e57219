"""``looklift report``: the lift report of an analyzed experiment, as HTML, Markdown and JSON.

This module also gathers a report's inputs from a store, for the CLI and for
``looklift demo``:

- :func:`build_report_inputs` runs the analysis (unless given one), builds the
  gallery, evaluates the variants' encoders offline when the store holds
  historical logs, and reads the simulator's truth when asked;
- :func:`reports.write_report` then writes the three files atomically.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult
    from abtest.spec import ExperimentSpec, MetricDefinition
    from abtest.store import Store
    from looklift.offline import OfflineResult
    from offline_eval import CounterfactualEstimate
    from reports import OfflineSection, ReportInputs, SimulatorTruth, VariantInfo

OFFLINE_KS = (1, 5, 10)
OFFLINE_METRICS = ("ndcg", "precision")


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
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.spec import load_spec
    from abtest.store import Store
    from reports import ReportError, check_output, write_report

    check_output(out_html)  # before any work: a bad path fails at once
    if gallery < 0:
        raise ReportError(f"--gallery must be 0 or more (got {gallery})")
    spec = load_spec(file)
    with Store(db, read_only=True) as store:
        inputs = build_report_inputs(
            store,
            spec,
            file.read_text(encoding="utf-8"),
            spec_name=file.name,
            as_of=as_of,
            segments=[x.strip() for x in segments.split(",") if x.strip()] if segments else None,
            gallery_items=gallery,
            seed=seed,
            compute_offline=offline,
            truth=truth,
        )
        no_truth = why_no_truth(store, spec) if truth and inputs.truth is None else None
    paths = write_report(inputs, out_html)
    if no_truth:  # asked for, impossible, and the rest of the report stands: say so, go on
        err.print(
            f"[yellow]looklift: warning:[/] --with-truth: {no_truth}; the report has no truth",
            highlight=False,
        )
    sizes = paths.sizes()
    if format is OutputFormat.json:
        print_json(
            {
                "html": paths.html,
                "markdown": paths.markdown,
                "json": paths.json,
                "bytes": sizes,
                "decision": inputs.result.decision,
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


# ---------------------------------------------------------------------------------------
# Gathering the inputs (also called by ``looklift demo``)
# ---------------------------------------------------------------------------------------
def build_report_inputs(
    store: Store,
    spec: ExperimentSpec,
    spec_text: str,
    *,
    spec_name: str = "experiment.yaml",
    result: AnalysisResult | None = None,
    as_of: dt.date | dt.datetime | None = None,
    segments: Sequence[str] | None = None,
    offline: OfflineSection | None = None,
    compute_offline: bool = True,
    gallery_items: int = 8,
    seed: int = 0,
    truth: bool = False,
) -> ReportInputs:
    """Everything the report of ``spec`` shows, read from ``store``.

    ``result`` is analysed here when not given (broken down by ``segments``, users
    columns; default platform, country, is_new). ``offline`` is used as given;
    otherwise, with ``compute_offline``, the variants' encoders are evaluated on
    the store's historical logs (:func:`offline_section`; skipped when there are
    none). ``gallery_items`` = 0 leaves the gallery out. ``truth`` adds the
    simulator's true effects (labelled "simulation only").
    """
    from abtest.analysis import analyze
    from reports import ReportInputs, build_gallery

    if result is None:
        result = analyze(store, spec, as_of=as_of, segments=segments)
    variants = variant_infos(spec)
    if offline is None and compute_offline:
        offline = offline_section(store, spec)
    return ReportInputs(
        result=result,
        spec_text=spec_text,
        spec_name=spec_name,
        variants=variants,
        offline=offline,
        gallery=build_gallery(store, variants, n_items=gallery_items, seed=seed)
        if gallery_items
        else None,
        truth=simulator_truth(store, spec) if truth else None,
    )


def variant_infos(spec: ExperimentSpec) -> tuple[VariantInfo, ...]:
    """The spec's variants as the report names them: encoder, share, description."""
    from reports import VariantInfo

    return tuple(
        VariantInfo(name=v.name, encoder=v.encoder, weight=w, description=v.description)
        for v, w in zip(spec.variants, spec.weights, strict=True)
    )


def tap_rate_metric(spec: ExperimentSpec) -> str | None:
    """The spec's metric that measures taps per impression (primary first), if any: the
    online counterpart of the counterfactual tap rate."""
    if spec.metrics is None:
        return None
    for _, name in spec.metrics.all():
        m = spec.metric_definitions.get(name)
        if (
            m is not None
            and m.kind == "ratio"
            and m.denominator is not None
            and (m.numerator.event, m.numerator.aggregate) == ("tap", "count")
            and (m.denominator.event, m.denominator.aggregate) == ("impression", "count")
        ):
            return name
    return None


def offline_section(
    store: Store,
    spec: ExperimentSpec,
    *,
    ks: Sequence[int] = OFFLINE_KS,
    metrics: Sequence[str] = OFFLINE_METRICS,
    seed: int = 0,
) -> OfflineSection | None:
    """Offline evaluation of each treatment's encoder against the control's, on the
    store's historical logs (:func:`looklift.offline.run_offline_eval`).

    ``None`` when there is nothing to evaluate: no second encoder, no logs, or an
    encoder without neighbours. An evaluation that fails on the data becomes a
    note in the section rather than an error: the online report still stands.
    """
    from looklift.offline import run_offline_eval
    from offline_eval import OfflineEvalError
    from reports import OfflineSection

    control = spec.variants[0].encoder
    treatments = [e for e in spec.encoders if e != control]
    if control is None or not treatments:
        return None
    if not all(store.has_table(t) for t in ("interactions", "neighbors")):
        return None
    if not store.count("interactions"):
        return None
    if any(not store.count("neighbors", "encoder = ?", [e]) for e in (control, *treatments)):
        return None
    try:
        results = [
            run_offline_eval(store, (control, e), ks=ks, metrics=metrics, seed=seed)
            for e in treatments
        ]
    except OfflineEvalError as exc:
        return OfflineSection(
            variants=variant_infos(spec),
            comparisons=(),
            online_metric=tap_rate_metric(spec),
            notes=(f"offline evaluation not possible: {exc}",),
        )
    return section_from_offline(spec, results)


def section_from_offline(spec: ExperimentSpec, results: Sequence[OfflineResult]) -> OfflineSection:
    """The report's offline section from ``run_offline_eval`` results (one per treatment
    encoder, each against the control's encoder): what ``looklift demo`` passes on."""
    from looklift.offline import UNBIASED_POLICY
    from reports import OfflineSection

    counterfactual: dict[str, CounterfactualEstimate] = {}
    for r in results:
        for estimate in r.counterfactual:
            counterfactual.setdefault(estimate.policy, estimate)
    sources = {r.judgments_from for r in results}
    if sources == {UNBIASED_POLICY}:
        judged = "relevance from taps and purchases on search results, which no encoder ranked"
    elif sources == {None}:
        judged = "relevance from taps and purchases in all logs"
    else:
        judged = "relevance from " + ", ".join(sorted(f"{s or 'all'} logs" for s in sources))
    notes = dict.fromkeys(w for r in results for w in r.warnings)
    return OfflineSection(
        variants=variant_infos(spec),
        comparisons=tuple(r.comparison for r in results),
        counterfactual=tuple(counterfactual.values()),
        online_metric=tap_rate_metric(spec),
        judgments=judged,
        notes=tuple(notes),
    )


def _truth_column(m: MetricDefinition) -> str | None:
    """The ``truth_experiments`` column that holds the true value of metric ``m``."""
    num = (m.numerator.event, m.numerator.aggregate)
    den = (m.denominator.event, m.denominator.aggregate) if m.denominator else None
    if m.kind == "ratio" and num == ("tap", "count") and den == ("impression", "count"):
        return "tap_rate"
    if m.kind == "proportion" and m.numerator.event == "purchase":
        return "purchase_conversion"
    if m.kind == "mean" and num == ("purchase", "count"):
        return "purchases_per_user"
    if m.kind == "mean" and num == ("purchase", "sum"):
        return "revenue_per_user"
    if m.kind == "mean" and num == ("tap", "count"):
        return "taps_per_user"
    return None


def why_no_truth(store: Store, spec: ExperimentSpec) -> str:
    """Why :func:`simulator_truth` found nothing for ``spec`` in ``store``, in a phrase."""
    if not store.has_table("truth_experiments"):
        return (
            f"{store.path} holds no simulator truth (no truth_experiments table; "
            "only 'looklift simulate' writes one)"
        )
    if not store.count("truth_experiments", "experiment = ?", [spec.key]):
        return f"{spec.key!r} was not simulated in {store.path}, so it has no simulator truth"
    return f"the simulator knows the true value of none of {spec.key!r}'s metrics"


def simulator_truth(store: Store, spec: ExperimentSpec) -> SimulatorTruth | None:
    """The simulator's true value of each metric it knows, per variant (``None`` if the
    experiment was not simulated). Only for simulations: real data has no truth."""
    from reports import SimulatorTruth, TrueEffect

    if spec.metrics is None or not store.has_table("truth_experiments"):
        return None
    frame = store.query("SELECT * FROM truth_experiments WHERE experiment = ?", [spec.key])
    if frame.is_empty():
        return None
    rows = {r["variant"]: r for r in frame.iter_rows(named=True)}
    control = rows.get(spec.variant_names[0])
    if control is None:
        return None
    effects = []
    for _, name in spec.metrics.all():
        column = _truth_column(spec.metric(name))
        if column is None or column not in frame.columns:
            continue
        for v in spec.variant_names[1:]:
            if v not in rows:
                continue
            c, t = control[column], rows[v][column]
            if c is None or t is None:
                continue
            lift = t / c - 1 if c else math.nan
            effects.append(TrueEffect(name, v, float(c), float(t), lift))
    return SimulatorTruth(tuple(effects)) if effects else None
