"""What each variant would have earned, in expectation: the truth the simulator writes.

While the day loop serves views, every exposed user's views are also scored
under every variant of their experiment (:class:`TruthAccumulator`), from the
behaviour model's probabilities, never from the drawn events. At the end each
variant's sums become a :class:`VariantTruth`: expected taps per impression,
taps, purchases and revenue per user, and the probability of buying at least
once. Its rate fields are the columns of ``truth_experiments`` that
:mod:`abtest.simulate.truth` reads back (:data:`~abtest.simulate.truth.TRUTH_COLUMNS`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl


@dataclass(frozen=True)
class VariantTruth:
    """What a variant earns in expectation if every exposed user gets it."""

    variant: str
    encoder: str
    exposed_users: int
    tap_rate: float
    taps_per_user: float
    purchases_per_user: float
    revenue_per_user: float
    purchase_conversion: float


@dataclass
class TruthAccumulator:
    """Per-user expected outcomes under one variant, summed over the user's views."""

    n_users: int
    taps: np.ndarray = field(init=False)
    impressions: np.ndarray = field(init=False)
    purchases: np.ndarray = field(init=False)
    revenue: np.ndarray = field(init=False)
    log_no_purchase: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for name in ("taps", "impressions", "purchases", "revenue", "log_no_purchase"):
            setattr(self, name, np.zeros(self.n_users))

    def add(
        self,
        users: np.ndarray,
        p_tap: np.ndarray,
        p_buy: np.ndarray,
        price: np.ndarray,
        shown: np.ndarray,
        organic: float,
        source_price: np.ndarray,
    ) -> None:
        """Add the expected outcomes of views (one row per view of ``users``) under this
        variant: tap and buy probabilities and prices per slot, which slots were shown,
        and the organic purchase of the viewed item itself."""
        p_purchase = p_tap * p_buy
        n = self.n_users
        self.taps += np.bincount(users, p_tap.sum(axis=1), n)
        self.impressions += np.bincount(users, shown.sum(axis=1), n)
        self.purchases += np.bincount(users, p_purchase.sum(axis=1) + organic, n)
        self.revenue += np.bincount(
            users, (p_purchase * price).sum(axis=1) + organic * source_price, n
        )
        log_none = np.log1p(-np.minimum(p_purchase, 1 - 1e-12)).sum(axis=1) + math.log1p(-organic)
        self.log_no_purchase += np.bincount(users, log_none, n)

    def summarise(self, variant: str, encoder: str, exposed: np.ndarray) -> VariantTruth:
        """The variant's truth over the ``exposed`` users (NaN rates when there are none)."""
        n = int(exposed.sum())
        if n == 0:
            return VariantTruth(variant, encoder, 0, *(math.nan,) * 5)
        imps = self.impressions[exposed].sum()
        return VariantTruth(
            variant=variant,
            encoder=encoder,
            exposed_users=n,
            tap_rate=float(self.taps[exposed].sum() / imps) if imps else math.nan,
            taps_per_user=float(self.taps[exposed].mean()),
            purchases_per_user=float(self.purchases[exposed].mean()),
            revenue_per_user=float(self.revenue[exposed].mean()),
            purchase_conversion=float((1 - np.exp(self.log_no_purchase[exposed])).mean()),
        )


def truth_frame(truths: Mapping[str, tuple[VariantTruth, ...]]) -> pl.DataFrame:
    """The rows of ``truth_experiments``: each experiment's variants, keyed by experiment."""
    return pl.DataFrame(
        [{**dataclasses.asdict(t), "experiment": key} for key, rows in truths.items() for t in rows]
    )
