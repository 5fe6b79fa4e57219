"""The fingerprint of what an experiment's state depends on.

The state holds per-user aggregates of events, so it depends on the spec only
through the aggregates its metrics read (event types, filters, windows, ranking
gains and cutoffs: :mod:`abtest.analysis.aggregates`), the variants (their
names and order, which the units' columns follow), the experiment key and the
window's start and pre-period (the schedule, the CUPED days). Changing any of
these changes the fingerprint, and a state with another fingerprint is rebuilt,
never reused. What the state does not hold is applied by every analysis from
the spec as it is: metric kinds, winsorization, alpha, corrections, the weights
of the sample ratio test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from abtest.analysis.aggregates import metric_aggregates
from abtest.analysis.state.tables import STATE_VERSION
from abtest.spec import ExperimentSpec


def depends_on(
    spec: ExperimentSpec, start: dt.datetime, pre_start: dt.datetime | None
) -> dict[str, Any]:
    """The spec parts and window the state depends on, as plain JSON-able data."""
    aggregates = metric_aggregates(spec, pre_start is not None)
    return {
        "version": STATE_VERSION,
        "experiment": spec.key,
        "variants": list(spec.variant_names),
        "aggregates": sorted(a.column for a in aggregates),
        "start": start.isoformat(),
        "pre_start": None if pre_start is None else pre_start.isoformat(),
    }


def fingerprint(parts: dict[str, Any]) -> str:
    """A short hex digest of :func:`depends_on`'s parts."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_WHAT = {
    "version": "the state's format (looklift was upgraded)",
    "experiment": "the experiment key",
    "variants": "the variants",
    "aggregates": "the metrics' events (event types, filters, windows, ranking gains)",
    "start": "the start of the analysis window",
    "pre_start": "the CUPED pre-period",
}


def what_changed(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """``None`` when the parts agree, else the parts that changed, in words."""
    changed = [_WHAT[k] for k in _WHAT if old.get(k) != new.get(k)]
    return None if not changed else ", ".join(changed) + " changed since the state was built"
