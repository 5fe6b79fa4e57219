"""The report as JSON: the analysis, offline evaluation, gallery and spec as plain data.

Numbers are the result objects' own (``AnalysisResult.to_dict`` and the
offline results' ``to_dict``), made JSON-ready by :func:`abtest.format.jsonable`:
NaN and infinity, which JSON cannot hold, become ``null``. Photos are
referenced by their path, not embedded.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from abtest.analysis.decision_text import json_summary
from abtest.format import jsonable
from reports.summary import summary

if TYPE_CHECKING:
    from reports.inputs import Gallery, OfflineSection, ReportInputs, SimulatorTruth

FORMAT_VERSION = 1


def _offline(section: OfflineSection) -> dict[str, Any]:
    return {
        "judgments": section.judgments,
        "online_metric": section.online_metric,
        "variants": [dataclasses.asdict(v) for v in section.variants],
        "comparisons": [c.to_dict() for c in section.comparisons],
        "counterfactual": [e.to_dict() for e in section.counterfactual],
        "notes": list(section.notes),
    }


def _gallery(gallery: Gallery) -> dict[str, Any]:
    def item(t: Any) -> dict[str, Any]:
        return {"item_id": t.item_id, "title": t.title, "image_path": t.image_path}

    return {
        "k": gallery.k,
        "seed": gallery.seed,
        "items": [
            {
                **item(row.item),
                "category": row.category,
                "neighbors": [
                    {
                        "variant": n.variant,
                        "encoder": n.encoder,
                        "items": [item(t) for t in n.items],
                    }
                    for n in row.neighbors
                ],
            }
            for row in gallery.rows
        ],
    }


def _truth(truth: SimulatorTruth) -> dict[str, Any]:
    return {
        "note": "simulation only: true effects known because the traffic was simulated",
        "source": truth.source,
        "effects": [dataclasses.asdict(e) for e in truth.effects],
    }


def report_dict(inputs: ReportInputs) -> dict[str, Any]:
    """The whole report as plain JSON values (what :func:`render_json` writes)."""
    glance = summary(inputs)
    return jsonable(
        {
            "report": "looklift lift report",
            "format_version": FORMAT_VERSION,
            "experiment": inputs.result.experiment,
            "summary": {
                "verdict": glance.verdict,
                "headline": glance.headline,
                "reason": glance.reason,
                "tiles": [dataclasses.asdict(t) for t in glance.tiles],
            },
            "variants": [dataclasses.asdict(v) for v in inputs.variants],
            "analysis": json_summary(inputs.result),
            "offline": _offline(inputs.offline) if inputs.offline else None,
            "gallery": _gallery(inputs.gallery) if inputs.gallery else None,
            "simulator_truth": _truth(inputs.truth) if inputs.truth else None,
            "spec": {"name": inputs.spec_name, "yaml": inputs.spec_text},
        }
    )


def render_json(inputs: ReportInputs) -> str:
    return json.dumps(report_dict(inputs), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
