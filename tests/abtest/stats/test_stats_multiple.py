"""Multiple testing: Holm and Benjamini-Hochberg, p-values and matching intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from abtest.stats import (
    MeanStats,
    ProportionStats,
    StatsInputError,
    adjust_comparisons,
    adjust_pvalues,
    compare,
)

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04,
    # then running maximum -> 0.02, 0.03, 0.06, 0.06
    result = adjust_pvalues(P, method="holm")
    assert result.adjusted_p_values == pytest.approx((0.03, 0.06, 0.06, 0.02))
    assert result.reject == (True, False, False, True)
    assert result.ci_alpha == pytest.approx(0.05 / 4)


def test_benjamini_hochberg_by_hand() -> None:
    # sorted p * m / rank: 0.02, 0.02, 0.04, 0.04; running minimum from the top keeps them
    result = adjust_pvalues(P, method="bh")
    assert result.adjusted_p_values == pytest.approx((0.02, 0.04, 0.04, 0.02))
    assert result.reject == (True, True, True, True)
    assert result.ci_alpha == pytest.approx(0.05 * 4 / 4)  # FCR: alpha * R / m
    assert adjust_pvalues(P, method="bh", alpha=0.03).ci_alpha == pytest.approx(0.03 * 2 / 4)


@pytest.mark.parametrize(
    ("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh"), ("bonferroni", "bonferroni")]
)
def test_matches_statsmodels(ours: str, theirs: str) -> None:
    p = np.random.default_rng(0).uniform(0, 0.2, 40)
    reject, adjusted, _, _ = multipletests(p, alpha=0.05, method=theirs)
    result = adjust_pvalues(p, method=ours)  # type: ignore[arg-type]
    np.testing.assert_allclose(result.adjusted_p_values, adjusted)
    assert result.reject == tuple(reject)


def test_untestable_comparisons_stay_out_of_the_family() -> None:
    result = adjust_pvalues([0.01, math.nan, 0.04], method="holm")
    assert math.isnan(result.adjusted_p_values[1]) and not result.reject[1]
    assert result.adjusted_p_values[0] == pytest.approx(0.02)  # m = 2
    assert result.ci_alpha == pytest.approx(0.025)


INPUTS = [
    (MeanStats.from_summary(1000, 10, 3), MeanStats.from_summary(1000, 10.4, 3)),
    (ProportionStats(5000, 200), ProportionStats(5000, 260)),
    (MeanStats.from_summary(800, 5, 2), MeanStats.from_summary(800, 5.05, 2)),
    (ProportionStats(0, 0), ProportionStats(10, 1)),  # untestable: no users in control
]


def comparisons() -> list:
    return [compare(control, treatment) for control, treatment in INPUTS]


def test_holm_comparisons_get_bonferroni_intervals() -> None:
    raw = comparisons()
    adjusted = adjust_comparisons(raw, method="holm")
    m = 3  # the untestable comparison does not count
    for before, after, inputs in zip(raw[:m], adjusted[:m], INPUTS, strict=False):
        assert after.correction == "holm" and after.alpha == 0.05
        assert after.absolute.ci_level_adjusted == pytest.approx(1 - 0.05 / m)
        bonferroni = compare(*inputs, alpha=0.05 / m)
        assert after.absolute.ci_adjusted == pytest.approx(bonferroni.absolute.ci)
        assert after.relative.ci_adjusted == pytest.approx(bonferroni.relative.ci)
        assert after.absolute.p_value_adjusted >= before.absolute.p_value
    expected = multipletests([c.absolute.p_value for c in raw[:m]], method="holm")[1]
    np.testing.assert_allclose([c.absolute.p_value_adjusted for c in adjusted[:m]], expected)
    # the untestable comparison keeps its NaN and message, at the family's level
    assert adjusted[3].absolute.message == raw[3].absolute.message
    assert math.isnan(adjusted[3].absolute.p_value_adjusted)
    assert adjusted[3].absolute.ci_level_adjusted == pytest.approx(1 - 0.05 / m)


def test_correction_keeps_the_raw_p_values_and_nominal_intervals() -> None:
    """The raw p and the 95% interval survive the correction, beside the adjusted ones.

    Overwriting them made the "p" and "adjusted p" columns of every report equal.
    """
    raw = comparisons()
    for method in ("holm", "bh", "bonferroni"):
        adjusted = adjust_comparisons(raw, method=method)  # type: ignore[arg-type]
        for before, after in zip(raw[:3], adjusted[:3], strict=True):
            for family in ("absolute", "relative"):
                b, a = getattr(before, family), getattr(after, family)
                assert (a.p_value, a.ci, a.ci_level) == (b.p_value, b.ci, b.ci_level)
                assert a.ci_level == pytest.approx(0.95)
                assert a.adjusted and a.p_value_adjusted >= a.p_value
        holm = adjust_pvalues([c.relative.p_value for c in raw[:3]], method="holm")
        if method == "holm":
            assert [c.relative.p_value_adjusted for c in adjusted[:3]] == pytest.approx(
                holm.adjusted_p_values
            )
            assert [c.relative.p_value for c in adjusted[:3]] == pytest.approx(holm.p_values)
    assert not raw[0].absolute.adjusted and raw[0].absolute.ci_adjusted is None


def test_bh_comparisons_get_false_coverage_rate_intervals() -> None:
    raw = comparisons()
    adjusted = adjust_comparisons(raw, method="bh")
    p = [c.absolute.p_value for c in raw[:3]]
    rejections = int(multipletests(p, method="fdr_bh")[0].sum())
    for after in adjusted[:3]:
        assert after.absolute.ci_level_adjusted == pytest.approx(1 - 0.05 * max(rejections, 1) / 3)


def test_sequential_comparisons_are_re_widened_sequentially() -> None:
    c, t = MeanStats.from_summary(3000, 10, 3), MeanStats.from_summary(3000, 10.3, 3)
    raw = [compare(c, t, test="sequential"), compare(c, t, test="sequential")]
    adjusted = adjust_comparisons(raw, method="bonferroni")
    assert adjusted[0].absolute.ci_adjusted == pytest.approx(
        compare(c, t, test="sequential", alpha=0.025).absolute.ci
    )
    assert adjusted[0].absolute.ci == raw[0].absolute.ci


def test_misuse_raises() -> None:
    raw = comparisons()
    with pytest.raises(StatsInputError, match="already corrected"):
        adjust_comparisons(adjust_comparisons(raw))
    mixed = [raw[0], compare(ProportionStats(50, 2), ProportionStats(50, 3), alpha=0.1)]
    with pytest.raises(StatsInputError, match="different alphas"):
        adjust_comparisons(mixed)
    assert adjust_comparisons(mixed, alpha=0.05)[1].alpha == 0.05
    with pytest.raises(StatsInputError, match="method"):
        adjust_pvalues([0.1], method="hochberg")  # type: ignore[arg-type]
    with pytest.raises(StatsInputError, match=r"\[0, 1\]"):
        adjust_pvalues([1.5])
    assert adjust_comparisons([]) == ()
