"""Metric kinds: each metric type's named variables agree with its dataclass, and the
engine reads moments by those names."""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pytest

from abtest.stats import (
    KINDS,
    CupedMeanStats,
    CupedRatioStats,
    MeanStats,
    MetricType,
    MomentArrays,
    ProportionStats,
    RatioStats,
    StatsInputError,
    metric_kind,
    metric_type_of,
)

RNG = np.random.default_rng(5)
NUM, DEN = RNG.poisson(2.0, 30).astype(float), RNG.poisson(6.0, 30).astype(float) + 1
PRE_NUM, PRE_DEN = RNG.poisson(2.0, 30).astype(float), RNG.poisson(6.0, 30).astype(float)
EXAMPLES = {
    "mean": MeanStats.from_values(NUM),
    "proportion": ProportionStats.from_values(NUM > 1),
    "ratio": RatioStats.from_values(NUM, DEN),
    "cuped_mean": CupedMeanStats.from_values(NUM, PRE_NUM),
    "cuped_ratio": CupedRatioStats.from_values(NUM, DEN, PRE_NUM, PRE_DEN),
}


def test_every_metric_type_has_one_kind() -> None:
    assert set(KINDS) == set(get_args(MetricType)) == set(EXAMPLES)
    for name, kind in KINDS.items():
        assert kind.name == name
        assert len(set(kind.variables)) == len(kind.variables)
        for role in (kind.numerator, kind.denominator, kind.pre_denominator):
            assert role is None or role in kind.variables


@pytest.mark.parametrize("metric_type", list(EXAMPLES))
def test_the_dataclass_stores_the_kind_s_variables_in_order(metric_type: str) -> None:
    kind, stats = KINDS[metric_type], EXAMPLES[metric_type]
    arrays = stats.as_arrays()
    assert type(stats) is kind.stats and metric_type_of(stats) == metric_type
    assert arrays.k == len(kind.variables)
    assert kind.stats.from_arrays(arrays) == stats  # the exact inverse
    # by name: the numerator's sum is the metric's numerator, wherever it sits
    expected_num = float((NUM > 1).sum()) if metric_type == "proportion" else float(NUM.sum())
    assert float(kind.sum_of(arrays, kind.numerator)) == expected_num
    if kind.denominator is not None:
        assert float(kind.sum_of(arrays, kind.denominator)) == float(DEN.sum())
    if kind.pre_denominator is not None:
        assert float(kind.sum_of(arrays, kind.pre_denominator)) == float(PRE_DEN.sum())


@pytest.mark.parametrize("metric_type", list(EXAMPLES))
def test_the_unadjusted_mean_is_the_dataclass_mean(metric_type: str) -> None:
    kind, stats = KINDS[metric_type], EXAMPLES[metric_type]
    assert float(kind.unadjusted_mean(stats.as_arrays())) == stats.mean
    empty = kind.stats.from_arrays(
        MomentArrays(
            np.asarray(0.0), np.zeros(len(kind.variables)), np.zeros((len(kind.variables),) * 2)
        )
    )
    assert math.isnan(float(kind.unadjusted_mean(empty.as_arrays()))) and math.isnan(empty.mean)


def test_the_unadjusted_mean_is_batched_and_nan_where_undefined() -> None:
    kind = KINDS["ratio"]
    moments = MomentArrays.from_values(np.array([[[1.0, 2.0]], [[1.0, 0.0]]]))
    np.testing.assert_array_equal(kind.unadjusted_mean(moments), [0.5, np.nan])


def test_unknown_metric_types_and_shapes_are_refused() -> None:
    with pytest.raises(StatsInputError, match="metric_type must be one of"):
        metric_kind("quantile")
    with pytest.raises(StatsInputError, match="expected one of MeanStats"):
        metric_type_of(object())  # type: ignore[arg-type]
    batch = MomentArrays.from_values(np.ones((3, 4, 2)))
    with pytest.raises(StatsInputError, match="one variant with 2 variable"):
        RatioStats.from_arrays(batch)
    with pytest.raises(StatsInputError, match="one variant with 1 variable"):
        MeanStats.from_arrays(batch.at(0))
