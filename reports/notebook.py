"""Notebook display: report inputs and offline comparisons render as HTML tables in Jupyter.

``ReportInputs`` shows the decision, the tiles, the metric table and the
offline prediction (no figures: those live in the full report). The offline
evaluation's :class:`~offline_eval.EncoderComparison` belongs to another room, so
:func:`offline_view` wraps it rather than changing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reports import tables
from reports.environment import environment
from reports.summary import summary

if TYPE_CHECKING:  # types only: ``ReportInputs`` imports this module to show itself
    from offline_eval import CounterfactualEstimate, EncoderComparison
    from reports.inputs import ReportInputs


def inputs_html(inputs: ReportInputs) -> str:
    """The report's decision, tiles, metric table and offline prediction as HTML."""
    rows = tables.metric_table(inputs)
    return (
        environment()
        .get_template("notebook.html.j2")
        .render(
            result=inputs.result,
            summary=summary(inputs),
            metric_rows=rows,
            ci_levels=tables.ci_levels(rows),
            adjusted_ci_levels=tables.adjusted_ci_levels(rows),
            settings=tables.settings_line(inputs.result),
            prediction=tables.prediction_table(inputs),
            comparisons=[
                (c, tables.offline_table(c))
                for c in (inputs.offline.comparisons if inputs.offline else ())
            ],
            counterfactual=None,
        )
    )


@dataclass(frozen=True)
class OfflineView:
    """An offline comparison (and counterfactual estimates) that Jupyter shows as tables."""

    comparison: EncoderComparison
    counterfactual: tuple[CounterfactualEstimate, ...] = ()

    def _repr_html_(self) -> str:
        return (
            environment()
            .get_template("notebook.html.j2")
            .render(
                result=None,
                summary=None,
                metric_rows=(),
                ci_levels="",
                adjusted_ci_levels=None,
                settings="",
                prediction=None,
                comparisons=[(self.comparison, tables.offline_table(self.comparison))],
                counterfactual=tables.counterfactual_table(self.counterfactual)
                if self.counterfactual
                else None,
            )
        )


def offline_view(
    comparison: EncoderComparison, counterfactual: Sequence[CounterfactualEstimate] = ()
) -> OfflineView:
    """Wrap an offline comparison for a notebook: ``offline_view(compare_encoders(a, b))``."""
    return OfflineView(comparison, tuple(counterfactual))
