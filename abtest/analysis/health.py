"""Can the experiment be trusted? The split, exposures over time, anomalies.

Read from the staged ``user_totals`` (users kept by the analysis) and the raw
exposures: the sample ratio mismatch test on users per variant, new and
cumulative users per day, and a warning for each anomaly (users exposed to
several variants, variants without users, exposures naming unknown variants).
"""

from __future__ import annotations

import datetime as dt

from abtest.analysis import sql
from abtest.analysis.engine import Engine, as_engine, fetch_one
from abtest.analysis.result import ExposureDay, Health
from abtest.spec import ExperimentSpec
from abtest.stats import srm_test
from abtest.store import Store


def health(
    engine: Engine | Store,
    spec: ExperimentSpec,
    window: tuple[dt.datetime, dt.datetime],
    mixed: int,
) -> Health:
    """The health of the split in ``window``; ``mixed`` users were excluded when staging."""
    engine = as_engine(engine)
    counts = {v: 0 for v in spec.variant_names}
    cumulative = dict.fromkeys(spec.variant_names, 0)
    days = []
    for day, variant, n in engine.fetch_all(
        f"SELECT exposed_day, variant, count(*) FROM {sql.USER_TOTALS} "
        "GROUP BY exposed_day, variant ORDER BY exposed_day, variant"
    ):
        counts[variant] += int(n)
        cumulative[variant] += int(n)
        days.append(ExposureDay(day, variant, int(n), cumulative[variant]))
    srm = srm_test(list(counts.values()), list(spec.weights))
    warnings = _warnings(engine, spec, window, counts, mixed)
    return Health(srm, counts, int(mixed), tuple(days), tuple(warnings))


def _warnings(
    engine: Engine,
    spec: ExperimentSpec,
    window: tuple[dt.datetime, dt.datetime],
    counts: dict[str, int],
    mixed: int,
) -> list[str]:
    """One sentence per anomaly of the split, in a fixed order."""
    warnings = []
    if mixed:
        warnings.append(f"{mixed:,} users were exposed to more than one variant and are excluded")
    empty = [v for v, n in counts.items() if n == 0]
    if empty:
        warnings.append(f"no exposed users in variant(s) {', '.join(empty)}")
    start, end = window
    (outside,) = fetch_one(
        engine,
        "SELECT count(*) FROM exposures WHERE experiment = ? AND ts >= ? AND ts < ? "
        f"AND variant NOT IN ({', '.join(sql.literal(v) for v in spec.variant_names)})",
        [spec.key, start, end],
    ) or (0,)
    if outside:
        warnings.append(f"{outside:,} exposures name a variant that is not in the spec; ignored")
    return warnings
