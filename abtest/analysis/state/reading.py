"""Whether an analysis may read an experiment's state, and the note that says so.

The state is used when it is fresh: built for this spec's metrics, variants and
window (the fingerprint agrees), covering the analysis' end, and with no rows
written to ``events`` or to the experiment's ``exposures`` since the refresh
(their row counts are those the refresh read). Otherwise the analysis reads the
raw tables, as without state, and the note says why.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

from abtest.analysis.state.changes import total_rows
from abtest.analysis.state.fingerprint import depends_on, what_changed
from abtest.analysis.state.tables import StateMeta, read_meta
from abtest.spec import ExperimentSpec
from abtest.store import Store


class StateUse(NamedTuple):
    """The state an analysis reads (``None``: the raw tables) and what to tell the reader."""

    meta: StateMeta | None
    note: str | None
    """``from state up to ...``, or why an existing state was not used; ``None`` when
    there is no state at all."""


def state_use(
    store: Store,
    spec: ExperimentSpec,
    window: tuple[dt.datetime, dt.datetime],
    pre_start: dt.datetime | None,
) -> StateUse:
    """The state to analyze ``window`` from, if it is fresh."""
    from abtest.analysis.state.sql import Columns

    meta = read_meta(store, spec.key)
    if meta is None:
        return StateUse(None, None)
    start, end = window
    parts = depends_on(spec, start, Columns(spec, pre_start).pre_start)
    changed = what_changed(json.loads(meta.depends_on), parts)
    if changed is not None:
        return StateUse(None, f"state not used: {changed}; run 'looklift refresh'")
    events = total_rows(store, "events", spec.key) - meta.events_rows
    exposures = total_rows(store, "exposures", spec.key) - meta.exposures_rows
    if events or exposures:
        when = f"{meta.refreshed_at:%Y-%m-%d %H:%M} UTC"
        return StateUse(
            None,
            f"state not used: the tables changed since the refresh at {when} "
            f"({events:+,} events, {exposures:+,} exposures); run 'looklift refresh'",
        )
    if end > meta.end:
        return StateUse(None, f"state not used: it ends at {meta.end}, before {end}")
    upto = "no rows" if meta.watermark is None else f"{meta.watermark:%Y-%m-%d %H:%M:%S}"
    return StateUse(
        meta, f"from state up to {upto} (refreshed {meta.refreshed_at:%Y-%m-%d %H:%M} UTC)"
    )
