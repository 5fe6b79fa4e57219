"""Offline evaluation of similar-item encoders on historical interaction logs.

Typical use (a store with ``interactions`` and ``neighbors``)::

    judgments = load_judgments(store)                      # purchase 2, tap 1
    a = evaluate_encoder(store, "cnn-pca", judgments, ks=(1, 5, 10))
    b = evaluate_encoder(store, "siglip-ft", judgments, ks=(1, 5, 10))
    comparison = compare_encoders(a, b)                    # lifts, CIs, Holm
    estimate = counterfactual_tap_rate(store, "siglip-ft") # IPS / SNIPS

Everything also works on plain arrays (``Judgments.from_arrays``,
``Run.from_arrays``, ``evaluate``, ``ips_estimate``).
"""

from offline_eval.counterfactual import counterfactual_tap_rate, coverage_warning, ips_estimate
from offline_eval.errors import OfflineEvalError
from offline_eval.judgments import DEFAULT_GAINS, Judgments, load_judgments
from offline_eval.metrics import DEFAULT_KS, METRICS, evaluate, evaluate_encoder
from offline_eval.paired import compare_encoders
from offline_eval.results import (
    CounterfactualEstimate,
    EncoderComparison,
    PairedResult,
    RunEvaluation,
)
from offline_eval.runs import Run, catalog_size, load_run

__all__ = [
    "DEFAULT_GAINS",
    "DEFAULT_KS",
    "METRICS",
    "CounterfactualEstimate",
    "EncoderComparison",
    "Judgments",
    "OfflineEvalError",
    "PairedResult",
    "Run",
    "RunEvaluation",
    "catalog_size",
    "compare_encoders",
    "counterfactual_tap_rate",
    "coverage_warning",
    "evaluate",
    "evaluate_encoder",
    "ips_estimate",
    "load_judgments",
    "load_run",
]
