"""Bucket ranges, variation choice and namespaces: balance, stability and exclusivity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from abtest.bucketing import (
    choose_variation,
    choose_variation_batch,
    get_bucket_ranges,
    in_namespace,
    in_namespace_batch,
    range_table,
    variation_table,
)
from abtest.hashing import UnitIds, gb_hash, gb_hash_batch

N = 200_000


@pytest.fixture(scope="module")
def ids() -> UnitIds:
    rng = np.random.default_rng(20260302)
    return UnitIds.from_any([f"u{x}" for x in rng.choice(10**12, N, replace=False)])


def test_ranges_follow_weights_and_coverage() -> None:
    got = get_bucket_ranges(3, 0.5, [0.2, 0.3, 0.5])
    assert np.allclose(got, [(0, 0.1), (0.2, 0.35), (0.5, 0.75)], atol=1e-12)
    assert get_bucket_ranges(2, 2.0) == [(0, 0.5), (0.5, 1.0)]  # coverage clamped
    assert get_bucket_ranges(2, 1.0, [-0.5, 1.5]) == [(0, 0.5), (0.5, 1.0)]  # unusable weights


def test_batch_choice_equals_scalar_choice_including_edges() -> None:
    ranges = get_bucket_ranges(3, 0.8, [0.25, 0.25, 0.5])
    n = np.concatenate(
        [np.linspace(0, 1, 2001)[:-1], [np.nan], [r[0] for r in ranges], [r[1] for r in ranges]]
    )
    got = choose_variation_batch(n, ranges)
    assert got.tolist() == [choose_variation(x, ranges) if x == x else -1 for x in n]


@pytest.mark.parametrize("denominator", [1000, 10000])
def test_tables_equal_the_scalar_comparisons(denominator: int) -> None:
    ranges = get_bucket_ranges(3, 0.37, [0.1, 0.6, 0.3])
    table = variation_table(ranges, denominator)
    assert table.tolist() == [choose_variation(k / denominator, ranges) for k in range(denominator)]
    inside = range_table(0.123, 0.7, denominator)
    assert inside.sum() == sum(0.123 <= k / denominator < 0.7 for k in range(denominator))


@pytest.mark.parametrize("version", [1, 2])
def test_split_proportions_within_binomial_tolerance(ids: UnitIds, version: int) -> None:
    weights = [0.2, 0.3, 0.5]
    ranges = get_bucket_ranges(3, 1.0, weights)
    counts = np.bincount(
        choose_variation_batch(gb_hash_batch("split", ids, version), ranges), minlength=3
    )
    assert counts.sum() == N
    for c, w in zip(counts, weights, strict=True):
        sd = np.sqrt(N * w * (1 - w))
        assert abs(c - N * w) < 4.5 * sd, (counts, weights)
    # and jointly: a chi-square goodness-of-fit test does not reject
    assert stats.chisquare(counts, np.array(weights) * N).pvalue > 1e-4


def test_hash_v2_buckets_are_uniform(ids: UnitIds) -> None:
    h = gb_hash_batch("uniform", ids, 2)
    counts = np.histogram(h, bins=20, range=(0, 1))[0]
    assert stats.chisquare(counts).pvalue > 1e-4


def test_same_unit_and_seed_always_give_the_same_variant(ids: UnitIds) -> None:
    ranges = get_bucket_ranges(2, 1.0)
    first = choose_variation_batch(gb_hash_batch("stable", ids, 2), ranges)
    again = choose_variation_batch(
        gb_hash_batch("stable", UnitIds.from_any(ids.to_list()), 2), ranges
    )
    assert np.array_equal(first, again)
    # Golden values (the growthbook SDK gives the same): a change in hashing would move users.
    assert gb_hash("stable", "u1", 2) == 0.3757
    assert gb_hash("stable", "u1", 1) == 0.308


def test_another_seed_reshuffles_independently(ids: UnitIds) -> None:
    ranges = get_bucket_ranges(2, 1.0)
    a = choose_variation_batch(gb_hash_batch("seed-a", ids, 2), ranges)
    b = choose_variation_batch(gb_hash_batch("seed-b", ids, 2), ranges)
    table = np.histogram2d(a, b, bins=2)[0]
    assert stats.chi2_contingency(table).pvalue > 1e-4


@pytest.mark.parametrize("version", [1, 2])
def test_lowering_coverage_only_drops_units(ids: UnitIds, version: int) -> None:
    h = gb_hash_batch("coverage", ids, version)
    weights = [0.3, 0.3, 0.4]
    previous = choose_variation_batch(h, get_bucket_ranges(3, 1.0, weights))
    assert (previous >= 0).all()
    for coverage in (0.8, 0.5, 0.2, 0.05, 0.0):
        current = choose_variation_batch(h, get_bucket_ranges(3, coverage, weights))
        kept = current >= 0
        # nobody enters when coverage drops, and nobody changes variant
        assert not (kept & (previous < 0)).any()
        assert np.array_equal(current[kept], previous[kept])
        assert abs(kept.mean() - coverage) < 0.01
        previous = current


def test_namespaces_with_disjoint_ranges_never_share_a_unit(ids: UnitIds) -> None:
    a = in_namespace_batch(ids, ("module", 0.0, 0.4))
    b = in_namespace_batch(ids, ("module", 0.4, 0.7))
    c = in_namespace_batch(ids, ("module", 0.7, 1.0))
    assert not (a & b).any() and not (b & c).any() and not (a & c).any()
    assert (a | b | c).all()  # together they cover everyone
    assert abs(a.mean() - 0.4) < 0.01
    overlapping = in_namespace_batch(ids, ("module", 0.3, 0.5))
    assert (a & overlapping).any()


def test_namespace_hash_is_independent_of_the_experiment_hash(ids: UnitIds) -> None:
    # Namespaces use hash v1 with seed "__" + name (as GrowthBook); the experiment
    # hash (v2 here) must not depend on it, or a namespace range would skew the split.
    inside = in_namespace_batch(ids, ("module", 0.0, 0.5))
    variant = choose_variation_batch(gb_hash_batch("exp", ids, 2), get_bucket_ranges(2))
    table = np.array(
        [[np.sum(inside & (variant == v)), np.sum(~inside & (variant == v))] for v in (0, 1)]
    )
    assert stats.chi2_contingency(table).pvalue > 1e-4


def test_namespace_batch_equals_scalar(ids: UnitIds) -> None:
    sample = [*ids.to_list()[:3000], "", None]
    packed = UnitIds.from_any(sample)
    got = in_namespace_batch(packed, ("ns", 0.25, 0.6))
    assert got.tolist() == [bool(u) and in_namespace(u, ("ns", 0.25, 0.6)) for u in sample]
