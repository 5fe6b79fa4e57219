"""Sample ratio mismatch (SRM): is the observed traffic split the configured one?

If a 50/50 experiment has 50,000 users in control and 48,500 in treatment, some
users went missing on one side (a crash, a redirect, a logging bug) and they are
rarely missing at random; every metric of that experiment is then suspect. The
check is Pearson's chi-square goodness-of-fit test of the user counts against the
configured weights (``scipy.stats.chisquare``), flagged at ``p < 0.001``: with many
experiments running, a stricter threshold than 0.05 keeps false alarms rare while
real mismatches, usually large, still give p-values far below it. GrowthBook
(``check_srm``) and Optimizely use the same test and threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as st

from abtest.stats.errors import StatsInputError
from abtest.stats.results import SrmResult

DEFAULT_THRESHOLD = 0.001


def srm_test(
    counts: Sequence[int],
    weights: Sequence[float] | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> SrmResult:
    """Chi-square test of observed users per variant against configured weights.

    ``counts`` are users per variant; ``weights`` the configured traffic split in
    the same order (any positive scale, e.g. ``[50, 50]`` or ``[0.2, 0.8]``;
    equal weights when omitted). A variant with weight 0 must have no users; one
    that has some is flagged outright (p = 0).
    """
    observed = np.asarray(counts, dtype=float)
    w = np.ones_like(observed) if weights is None else np.asarray(weights, dtype=float)
    if observed.ndim != 1 or observed.size < 2:
        raise StatsInputError("counts must list the users of at least two variants")
    if w.shape != observed.shape:
        raise StatsInputError(
            f"weights ({w.size}) and counts ({observed.size}) must have the same length"
        )
    if np.any(~np.isfinite(observed)) or np.any(observed < 0) or np.any(observed % 1 != 0):
        raise StatsInputError(f"counts must be non-negative integers, got {list(counts)}")
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise StatsInputError(f"weights must be non-negative with a positive sum, got {list(w)}")
    if not 0.0 < threshold < 1.0:
        raise StatsInputError(f"threshold must be in (0, 1), got {threshold!r}")

    total = observed.sum()
    share = w / w.sum()
    expected = share * total
    active = w > 0

    def result(chi2: float, df: int, p: float, message: str | None) -> SrmResult:
        return SrmResult(
            counts=tuple(int(c) for c in observed),
            weights=tuple(float(x) for x in share),
            expected=tuple(float(e) for e in expected),
            chi2=chi2,
            df=df,
            p_value=p,
            threshold=threshold,
            flagged=p < threshold,
            message=message,
        )

    stray = [i for i in range(observed.size) if not active[i] and observed[i] > 0]
    if stray:
        names = ", ".join(f"variant {i} ({int(observed[i])} users)" for i in stray)
        return result(
            math.inf, int(active.sum()) - 1, 0.0, f"users in a variant of weight 0: {names}"
        )
    if total == 0:
        return result(math.nan, int(active.sum()) - 1, math.nan, "no users yet: nothing to check")
    if active.sum() < 2:
        return result(
            math.nan, 0, math.nan, "only one variant has a positive weight: nothing to check"
        )
    chi2, p = st.chisquare(observed[active], expected[active])
    message = None
    if np.min(expected[active]) < 5:
        message = "fewer than 5 users expected in a variant: the chi-square p-value is rough"
    return result(float(chi2), int(active.sum()) - 1, float(p), message)
