"""Which exceptions are user mistakes: the CLI prints them as one line, exit code 2.

Each room raises its own error types; they are collected here, in the
composition root, so that no room has to know about the CLI.
"""

from __future__ import annotations

import importlib

# "module:ClassName" of every error that means "the input was wrong, here is what
# to fix" rather than "looklift has a bug". Imported lazily so that the CLI starts
# fast and a room that is not installed yet does not break the others.
_USER_ERROR_NAMES = (
    "abtest.store:StoreError",
    "abtest.export:ExportError",
    "abtest.simulate.world:WorldError",
    "abtest.spec:SpecError",
    "abtest.assignment:AssignmentError",
    "abtest.simulate.traffic:SimulationError",
    "abtest.analysis:AnalysisError",
    "abtest.analysis.spark:SparkError",
    "abtest.stats:StatsInputError",
    "encoders.errors:EncoderError",
    "offline_eval.errors:OfflineEvalError",
    "reports.errors:ReportError",
    "looklift.errors:UsageProblem",
)


class UsageProblem(Exception):
    """A problem with how a command was called, found by the command itself."""


def user_error_types() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for spec in _USER_ERROR_NAMES:
        module_name, _, cls_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, cls_name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)
