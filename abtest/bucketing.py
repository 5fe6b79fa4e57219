"""GrowthBook-compatible bucketing: from a hash in [0, 1) to a variant.

Variants own consecutive slices of [0, 1) in proportion to their weights; with
a coverage below 1 each variant keeps only the first ``coverage`` share of its
slice, so lowering coverage drops users but never moves one to another
variant. A unit whose hash falls in no slice is not in the experiment.

Namespaces make experiments mutually exclusive: every experiment in a
namespace owns a range of a separate hash (seeded with ``"__" + name``, hash
version 1, as GrowthBook does), and non-overlapping ranges never share a unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from abtest.hashing import UnitIds, gb_hash, gb_hash_batch_int

BucketRange = tuple[float, float]

WEIGHT_SUM_MIN = 0.99
WEIGHT_SUM_MAX = 1.01
"""GrowthBook replaces weight vectors summing outside this band with equal weights."""


def get_equal_weights(n: int) -> list[float]:
    """``n`` equal weights summing to 1 (empty for ``n < 1``)."""
    return [1 / n] * n if n >= 1 else []


def _usable_weights(weights: Any, n: int) -> bool:
    if not isinstance(weights, Sequence) or isinstance(weights, str) or len(weights) != n:
        return False
    if not all(
        isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
        for w in weights
    ):
        return False
    return WEIGHT_SUM_MIN <= sum(weights) <= WEIGHT_SUM_MAX


def get_bucket_ranges(
    n_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[BucketRange]:
    """GrowthBook's ``getBucketRanges``: one ``[start, end)`` per variation.

    Coverage is clamped to [0, 1]; weights that are missing, of the wrong
    length, negative or not summing to about 1 fall back to equal weights
    (looklift's spec validation rejects such weights before they get here).
    """
    coverage = min(max(coverage, 0.0), 1.0)
    w = (
        list(weights)
        if weights is not None and _usable_weights(weights, n_variations)
        else (get_equal_weights(n_variations))
    )
    ranges: list[BucketRange] = []
    cumulative = 0.0
    for weight in w:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def in_range(n: float, r: BucketRange) -> bool:
    return r[0] <= n < r[1]


def choose_variation(n: float, ranges: Sequence[BucketRange]) -> int:
    """Index of the first range holding ``n``, or -1 (not in the experiment)."""
    for i, r in enumerate(ranges):
        if r[0] <= n < r[1]:
            return i
    return -1


def choose_variation_batch(n: np.ndarray, ranges: Sequence[BucketRange]) -> np.ndarray:
    """:func:`choose_variation` for an array of hashes (NaN gives -1), as int16."""
    out = np.full(len(n), -1, dtype=np.int16)
    # Last range first, so that the first matching range wins, as in the scalar path.
    for i in range(len(ranges) - 1, -1, -1):
        lo, hi = ranges[i]
        out[(n >= lo) & (n < hi)] = i
    return out


def variation_table(ranges: Sequence[BucketRange], denominator: int) -> np.ndarray:
    """The variation of every integer bucket ``k`` of a hash version (hash ``k / denominator``).

    Hashes take only ``denominator`` values (1000 for version 1, 10000 for
    version 2), so the batch path looks variations up in this table; it is
    built with :func:`choose_variation` itself, so both paths agree exactly.
    """
    return np.array(
        [choose_variation(k / denominator, ranges) for k in range(denominator)], dtype=np.int16
    )


def range_table(start: float, end: float, denominator: int) -> np.ndarray:
    """Whether hash ``k / denominator`` lies in ``[start, end)``, for every bucket ``k``."""
    return np.array([start <= k / denominator < end for k in range(denominator)], dtype=bool)


def namespace_seed(name: str) -> str:
    return "__" + name


def in_namespace(unit: str, namespace: tuple[str, float, float]) -> bool:
    """GrowthBook's ``inNamespace``: is the unit's namespace hash in [start, end)?"""
    name, start, end = namespace
    n = gb_hash(namespace_seed(name), unit, 1)
    return n is not None and start <= n < end


def in_namespace_batch(ids: UnitIds, namespace: tuple[str, float, float]) -> np.ndarray:
    """:func:`in_namespace` for every row (False where the id is missing)."""
    name, start, end = namespace
    buckets = gb_hash_batch_int(namespace_seed(name), ids, 1)
    return range_table(start, end, 1000)[buckets] & ids.valid
