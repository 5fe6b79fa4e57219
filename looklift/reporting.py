"""Gathering a lift report's inputs from a store, for ``looklift report`` and ``looklift demo``.

The composition root's part of a report: run the analysis (unless given one),
build the gallery, evaluate the variants' encoders offline when the store holds
historical logs, and read the simulator's truth when asked. The ``reports``
room then renders what this returns (:func:`reports.write_report`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from abtest.analysis import analyze
from abtest.simulate.truth import read_truth, why_no_truth
from looklift.offline import UNBIASED_POLICY, run_offline_eval
from offline_eval import OfflineEvalError
from reports import (
    OfflineSection,
    ReportError,
    ReportInputs,
    ReportPaths,
    VariantInfo,
    build_gallery,
    check_output,
    write_report,
)

if TYPE_CHECKING:
    from abtest.analysis import AnalysisResult
    from abtest.analysis.engine import Engine as AnalysisEngine
    from abtest.spec import ExperimentSpec
    from abtest.store import Store
    from looklift.offline import OfflineResult
    from offline_eval import CounterfactualEstimate

OFFLINE_KS = (1, 5, 10)
OFFLINE_METRICS = ("ndcg", "precision")


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
    use_state: bool = True,
) -> ReportInputs:
    """Everything the report of ``spec`` shows, read from ``store``.

    ``result`` is analysed here when not given (broken down by ``segments``, users
    columns; default platform, country, is_new). ``offline`` is used as given;
    otherwise, with ``compute_offline``, the variants' encoders are evaluated on
    the store's historical logs (:func:`offline_section`; skipped when there are
    none). ``gallery_items`` = 0 leaves the gallery out. ``truth`` adds the
    simulator's true effects (labelled "simulation only"). ``use_state`` = False
    analyses the raw tables even when the experiment has a fresh state.
    """
    if result is None:
        result = analyze(store, spec, as_of=as_of, segments=segments, use_state=use_state)
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
        truth=read_truth(store, spec) if truth else None,
    )


def variant_infos(spec: ExperimentSpec) -> tuple[VariantInfo, ...]:
    """The spec's variants as the report names them: encoder, share, description."""
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
    encoder without neighbors. An evaluation that fails on the data becomes a
    note in the section rather than an error: the online report still stands.
    """
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


@dataclass(frozen=True)
class WrittenReport:
    """What :func:`write_experiment_report` wrote, and what it could not show."""

    inputs: ReportInputs
    paths: ReportPaths
    no_truth: str | None
    """Why the simulator's truth, asked for, is missing (``None``: shown or not asked)."""


def write_experiment_report(
    spec_file: Path,
    db: Path,
    out_html: Path,
    *,
    as_of: dt.date | dt.datetime | None = None,
    segments: Sequence[str] | None = None,
    gallery_items: int = 8,
    seed: int = 0,
    compute_offline: bool = True,
    truth: bool = False,
    use_state: bool = True,
    engine: AnalysisEngine | None = None,
) -> WrittenReport:
    """The report of the experiment in ``spec_file`` on the data in ``db``, written to
    ``out_html`` and the Markdown and JSON beside it (``looklift report``).

    The output path is checked before any work, so a bad one fails at once. Truth
    asked for but not in ``db`` does not stop the report: ``no_truth`` says why.

    With another ``engine`` (Spark), the analysis runs there; ``db``, when it exists,
    still gives the gallery, the offline section and the truth, and without it the
    report shows the analysis alone.
    """
    from abtest.spec import load_spec
    from abtest.store import Store

    check_output(out_html)
    if gallery_items < 0:
        raise ReportError(f"--gallery must be 0 or more (got {gallery_items})")
    spec = load_spec(spec_file)
    result = None
    if engine is not None:
        result = analyze(engine, spec, as_of=as_of, segments=segments)
        if not db.exists():
            inputs = ReportInputs(
                result=result,
                spec_text=spec_file.read_text(encoding="utf-8"),
                spec_name=spec_file.name,
                variants=variant_infos(spec),
            )
            why = f"no --db ({db}) to read the simulator's truth from" if truth else None
            return WrittenReport(inputs, write_report(inputs, out_html), why)
    with Store(db, read_only=True) as store:
        inputs = build_report_inputs(
            store,
            spec,
            spec_file.read_text(encoding="utf-8"),
            spec_name=spec_file.name,
            as_of=as_of,
            segments=segments,
            gallery_items=gallery_items,
            seed=seed,
            compute_offline=compute_offline,
            truth=truth,
            use_state=use_state,
            result=result,
        )
        no_truth = why_no_truth(store, spec) if truth and inputs.truth is None else None
    return WrittenReport(inputs, write_report(inputs, out_html), no_truth)
