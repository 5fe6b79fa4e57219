"""Per-experiment state: small tables that make a day's analysis cost a day's data.

``refresh(store, spec)`` keeps, beside the raw tables, each unit's first
exposures, per user and day the counts and sums of the metrics' events after
exposure, the CUPED pre-period's, and the module's engaged positions; it reads
only the days that changed since the last refresh (:mod:`.refreshing`). An
analysis reads a fresh state instead of the raw tables (:mod:`.reading`) and
gets the same numbers: the state is a cache with an exactness contract.
"""

from abtest.analysis.state.reading import StateUse, state_use
from abtest.analysis.state.refreshing import DEFAULT_LOOKBACK, RefreshReport, refresh
from abtest.analysis.state.tables import StateMeta, drop_state, read_meta

__all__ = [
    "DEFAULT_LOOKBACK",
    "RefreshReport",
    "StateMeta",
    "StateUse",
    "drop_state",
    "read_meta",
    "refresh",
    "state_use",
]
