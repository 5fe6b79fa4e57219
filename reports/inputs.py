"""What a report needs, as small frozen dataclasses.

The report renders these objects and nothing else: the analyzer's
:class:`~abtest.analysis.AnalysisResult`, the spec's YAML text, and, when
known, the offline evaluation, a gallery of recommendations and the
simulator's truth (:class:`~abtest.simulate.truth.SimulatorTruth`, the
simulator's own result). Every number shown comes from them; the report never
recomputes a statistic.

This module holds data only: the renderers import it for its types, never the
other way round (``ReportInputs`` finds its notebook renderer when Jupyter asks).
"""

from __future__ import annotations

from dataclasses import dataclass

from abtest.analysis import AnalysisResult
from abtest.simulate.truth import SimulatorTruth, TrueEffect
from offline_eval import CounterfactualEstimate, EncoderComparison

__all__ = [
    "Gallery",
    "GalleryRow",
    "OfflineSection",
    "ReportInputs",
    "SimulatorTruth",
    "Thumbnail",
    "TrueEffect",
    "VariantInfo",
    "VariantNeighbors",
]


@dataclass(frozen=True)
class VariantInfo:
    """A variant as the spec describes it: what it serves and why."""

    name: str
    encoder: str | None
    weight: float
    description: str = ""


@dataclass(frozen=True)
class Thumbnail:
    """One catalog item as the gallery shows it."""

    item_id: int
    title: str
    image_path: str
    """As stored in ``items`` (relative to the database's folder)."""
    jpeg: bytes | None
    """A small JPEG of the photo; ``None`` when the file could not be read."""


@dataclass(frozen=True)
class VariantNeighbors:
    """The top recommendations one variant serves under one item."""

    variant: str
    encoder: str
    items: tuple[Thumbnail, ...]


@dataclass(frozen=True)
class GalleryRow:
    """A source item and, per variant, the items its "similar looks" module shows."""

    item: Thumbnail
    category: str | None
    neighbors: tuple[VariantNeighbors, ...]


@dataclass(frozen=True)
class Gallery:
    """A deterministic sample of items with each variant's top-``k`` side by side."""

    rows: tuple[GalleryRow, ...]
    k: int
    seed: int


@dataclass(frozen=True)
class OfflineSection:
    """Offline evaluation of the variants' encoders, and what it predicted.

    ``comparisons`` holds one paired comparison per treatment encoder against
    the control's encoder (nDCG@k, P@k... with the lift's CI).
    ``counterfactual`` holds one estimate per encoder of the tap rate it would
    have earned on the logged traffic. ``online_metric`` names the experiment
    metric that measures the same tap rate online (taps per impression), so
    prediction and result can sit side by side; ``None`` when the spec has none.
    """

    variants: tuple[VariantInfo, ...]
    comparisons: tuple[EncoderComparison, ...]
    counterfactual: tuple[CounterfactualEstimate, ...] = ()
    online_metric: str | None = None
    judgments: str = ""
    """Where relevance came from, in words (e.g. "taps and purchases in search logs")."""
    notes: tuple[str, ...] = ()
    """What could not be estimated, and why."""

    def encoder_of(self, variant: str) -> str | None:
        for v in self.variants:
            if v.name == variant:
                return v.encoder
        return None

    def counterfactual_for(self, encoder: str | None) -> CounterfactualEstimate | None:
        for estimate in self.counterfactual:
            if estimate.policy == encoder:
                return estimate
        return None

    def comparison_for(self, encoder: str | None) -> EncoderComparison | None:
        for comparison in self.comparisons:
            if comparison.encoder_b == encoder:
                return comparison
        return None


@dataclass(frozen=True)
class ReportInputs:
    """Everything one lift report shows."""

    result: AnalysisResult
    spec_text: str
    """The experiment YAML as written (the appendix)."""
    spec_name: str = "experiment.yaml"
    variants: tuple[VariantInfo, ...] = ()
    offline: OfflineSection | None = None
    gallery: Gallery | None = None
    truth: SimulatorTruth | None = None

    def variant(self, name: str) -> VariantInfo | None:
        for v in self.variants:
            if v.name == name:
                return v
        return None

    def _repr_html_(self) -> str:
        from reports.notebook import inputs_html

        return inputs_html(self)
