"""Experiment specs: YAML files parsed into frozen pydantic models and checked.

An experimenter describes an experiment in one YAML file (see
``examples/similar-looks.yaml``, the commented reference): its key and unit,
how units are hashed, which variants exist and what each serves (an encoder
and its parameters), who is targeted, which metrics decide it and how it is
analysed, and when it runs.

Every mistake is reported at once as a :class:`SpecError` whose problems name
the file, the line, the field path and what is wrong, for instance::

    similar-looks.yaml:31: variants: weights sum to 0.9, they must sum to 1

Names that later appear in SQL (variants, metrics, event types) must be plain
lowercase identifiers, matched in full (``"treatment\\n"`` is not one), so that
they can never be code; every problem prints on one line, with the names it
quotes escaped. A hostile file is refused before it can exhaust memory or the
stack (alias expansion, nesting, size and integer limits: see
:mod:`~abtest.spec.loading`), and numbers and dates are bounded (``k`` at most
:data:`~abtest.spec.models.MAX_K`, schedules within 2000-2099).

Metrics may count only some events (``filter``, a condition on the events'
columns: :mod:`~abtest.spec.filters`), only those in a window after each unit's
first exposure (``window: {delay: 0h, within: 24h}``), judge the module's
showings as ranked lists (``kind: ndcg``, ``mrr``, ``tap_position``) or take a
quantile (``kind: quantile``); ``analysis.engine: bayesian`` reads lifts as
posteriors.

Modules: :mod:`~abtest.spec.models` (the pydantic models),
:mod:`~abtest.spec.filters` (filters on events),
:mod:`~abtest.spec.checks` (rules across fields and files),
:mod:`~abtest.spec.loading` (YAML to a spec), :mod:`~abtest.spec.errors`.
"""

from __future__ import annotations

from abtest.spec.checks import cross_spec_problems, encoder_problems
from abtest.spec.errors import SpecError, SpecProblem
from abtest.spec.loading import load_spec, load_specs, parse_spec
from abtest.spec.models import (
    IDENTIFIER_RE,
    AnalysisSettings,
    EventValue,
    ExperimentSpec,
    Holdout,
    MetricDefinition,
    MetricGroups,
    Namespace,
    Prior,
    Ranking,
    Schedule,
    Variant,
    Window,
    Winsorization,
)

__all__ = [
    "IDENTIFIER_RE",
    "AnalysisSettings",
    "EventValue",
    "ExperimentSpec",
    "Holdout",
    "MetricDefinition",
    "MetricGroups",
    "Namespace",
    "Prior",
    "Ranking",
    "Schedule",
    "SpecError",
    "SpecProblem",
    "Variant",
    "Window",
    "Winsorization",
    "cross_spec_problems",
    "encoder_problems",
    "load_spec",
    "load_specs",
    "parse_spec",
]
