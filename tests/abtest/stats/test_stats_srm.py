"""Sample ratio mismatch: chi-square goodness of fit, flagged at p < 0.001."""

from __future__ import annotations

import math

import pytest
from scipy import stats as st

from abtest.stats import StatsInputError, srm_test


def test_a_balanced_split_is_not_flagged() -> None:
    result = srm_test([500, 500])
    assert result.chi2 == 0.0 and result.p_value == 1.0 and not result.flagged
    assert result.expected == (500.0, 500.0) and result.message is None


def test_by_hand() -> None:
    # 5000 vs 5200 for 50/50: expected 5100 each, chi2 = 2 * 100^2 / 5100
    result = srm_test([5000, 5200], [50, 50])
    assert result.chi2 == pytest.approx(20000 / 5100)
    assert result.df == 1
    assert result.p_value == pytest.approx(st.chi2.sf(20000 / 5100, 1))
    assert not result.flagged  # p = 0.048: a nudge, not an alarm


def test_unequal_weights_any_scale_and_scipy_parity() -> None:
    counts = [2150, 3030, 4820]
    by_share, by_percent = srm_test(counts, [0.2, 0.3, 0.5]), srm_test(counts, [20, 30, 50])
    assert by_share == by_percent or by_share.p_value == pytest.approx(by_percent.p_value)
    reference = st.chisquare(counts, [2000, 3000, 5000])
    assert by_share.p_value == pytest.approx(reference.pvalue)
    assert by_share.flagged and by_share.p_value < 0.001


def test_threshold_is_configurable() -> None:
    assert srm_test([5000, 5200], threshold=0.05).flagged


def test_a_variant_switched_off_must_stay_empty() -> None:
    quiet = srm_test([1000, 0, 1010], [1, 0, 1])
    assert quiet.df == 1 and not quiet.flagged
    leaking = srm_test([1000, 3, 1010], [1, 0, 1])
    assert leaking.flagged and leaking.p_value == 0.0
    assert "weight 0" in leaking.message


def test_no_users_and_tiny_samples_are_explained() -> None:
    empty = srm_test([0, 0])
    assert math.isnan(empty.p_value) and not empty.flagged and "no users" in empty.message
    tiny = srm_test([3, 1])
    assert math.isfinite(tiny.p_value) and "rough" in tiny.message


@pytest.mark.parametrize(
    ("counts", "weights"),
    [([10], None), ([10, -1], None), ([10, 2.5], None), ([10, 10], [1]), ([10, 10], [0, 0]),
     ([10, 10], [1, -1])],
)  # fmt: skip
def test_invalid_inputs_raise(counts, weights) -> None:
    with pytest.raises(StatsInputError):
        srm_test(counts, weights)
