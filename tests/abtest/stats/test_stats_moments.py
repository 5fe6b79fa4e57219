"""Inputs: what a GROUP BY returns is accepted, what no data could produce is refused."""

from __future__ import annotations

import numpy as np
import pytest

from abtest.stats import (
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    MomentArrays,
    ProportionStats,
    RatioStats,
    StatsInputError,
    compare,
)


def test_from_values_gives_the_group_by_sums() -> None:
    stats = MeanStats.from_values([1.0, 2.0, 4.0])
    assert stats == MeanStats(3, 7.0, 21.0)
    assert stats.mean == pytest.approx(7 / 3)
    assert ProportionStats.from_values([True, False, True]) == ProportionStats(3, 2)
    assert RatioStats.from_values([1, 2], [3, 5]) == RatioStats(2, 3, 5, 8, 34, 13)
    cuped = CupedMeanStats.from_values([1, 2], [3, 4])
    assert cuped.post_pre_sum_products == 11 and cuped.n == 2


def test_from_summary_round_trips_mean_and_sd() -> None:
    values = np.random.default_rng(0).normal(3, 2, 500)
    stats = MeanStats.from_values(values)
    again = MeanStats.from_summary(500, values.mean(), values.std(ddof=1))
    assert again.sum == pytest.approx(stats.sum) and again.sum_squares == pytest.approx(
        stats.sum_squares
    )


def test_counts_accept_integral_numpy_and_float_values() -> None:
    assert MeanStats(np.int64(3), 3, 5).n == 3
    assert ProportionStats(10.0, np.float64(4)).successes == 4
    assert isinstance(MeanStats(np.int64(3), 3, 5).n, int)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: MeanStats(-1, 0, 0), "non-negative integer"),
        (lambda: MeanStats(2.5, 1, 1), "non-negative integer"),
        (lambda: MeanStats("ten", 1, 1), "must be a number"),
        (lambda: MeanStats(3, float("nan"), 1), "finite"),
        (lambda: MeanStats(3, 3.0, 2.0), "negative variance"),  # sum_squares < sum**2 / n
        (lambda: MeanStats(0, 1.0, 1.0), "n is 0"),
        (lambda: MeanStats(1, 2.0, 5.0), "single user"),
        (lambda: ProportionStats(10, 11), "cannot exceed n"),
        (lambda: ProportionStats(10, -1), "non-negative integer"),
        (lambda: ProportionStats(10, 2.5), "non-negative integer"),
        (lambda: ProportionStats.from_values([0, 1, 2]), "0/1"),
        # |correlation| > 1 between numerator and denominator
        (lambda: RatioStats(3, 3, 5, 3, 5, 100), "negative variance"),
        (
            lambda: CupedMeanStats(MeanStats(3, 3, 5), MeanStats(4, 4, 6), 4),
            "same users",
        ),
        (lambda: CupedMeanStats(MeanStats(3, 3, 5), MeanStats(3, 3, 5), 40), "negative variance"),
        (lambda: CupedMeanStats(MeanStats(3, 3, 5), RatioStats(3, 3, 5, 3, 5, 5), 4), "MeanStats"),
        (lambda: MomentArrays(np.ones(3), np.ones((3, 2)), np.ones((3, 2))), "shapes"),
    ],
)
def test_impossible_inputs_raise_stats_input_error(make, fragment: str) -> None:
    with pytest.raises(StatsInputError, match=fragment):
        make()


def test_cuped_ratio_cross_products_are_checked() -> None:
    post = RatioStats.from_values([1, 2, 3], [2, 3, 5])
    pre = RatioStats.from_values([1, 1, 2], [2, 2, 3])
    good = CupedRatioStats.from_values([1, 2, 3], [2, 3, 5], [1, 1, 2], [2, 2, 3])
    assert good.post == post and good.pre == pre
    with pytest.raises(StatsInputError, match="negative variance"):
        CupedRatioStats(post, pre, 1000.0, 11.0, 23.0, 25.0)


def test_stats_input_error_is_a_value_error() -> None:
    assert issubclass(StatsInputError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": "0.05x"}, "numbers"),
        ({"test": "bayes"}, "test must be one of"),
        ({"test": "sequential", "sequential_tuning": 0}, "sequential_tuning"),
    ],
)
def test_invalid_settings_raise(kwargs: dict, fragment: str) -> None:
    with pytest.raises(StatsInputError, match=fragment):
        compare(MeanStats(3, 3, 5), MeanStats(3, 3, 5), **kwargs)


def test_mismatched_metric_types_raise() -> None:
    with pytest.raises(StatsInputError, match="same kind"):
        compare(MeanStats(3, 3, 5), ProportionStats(3, 1))
    with pytest.raises(StatsInputError, match="expected one of"):
        compare((3, 3, 5), (3, 3, 5))  # type: ignore[arg-type]


def test_moment_arrays_add_users_and_clean_cancellation() -> None:
    a = MomentArrays.from_values(np.full((4, 1), 0.1))
    b = MomentArrays.from_values(np.full((6, 1), 0.1))
    both = a + b
    assert both.n == 10 and both.sums[0] == pytest.approx(1.0)
    assert both.covariance()[0, 0] == 0.0  # not a few ulps
    masked = MomentArrays.from_values([[1.0], [2.0], [3.0]], mask=[True, False, True])
    assert masked.n == 2 and masked.sums[0] == 4.0 and masked.cross[0, 0] == 10.0


def test_at_picks_one_entry_of_a_batch() -> None:
    values = np.arange(24, dtype=float).reshape(2, 3, 4, 1)
    batch = MomentArrays.from_values(values)
    one = batch.at((1, 2))
    again = MomentArrays.from_values(values[1, 2])
    assert one.n.shape == () and one.k == 1
    np.testing.assert_array_equal(one.sums, again.sums)
    np.testing.assert_array_equal(one.cross, again.cross)
    assert MeanStats.from_arrays(one) == MeanStats.from_values(values[1, 2, :, 0])
