"""How simulated shoppers react to a "similar looks" module.

A user views an item; the module shows a ranked list of recommended items. The
probability of a tap at each position is

    P(tap) = position_bias[position] * sigmoid(a + b * relevance + c * taste)

where ``relevance`` measures how alike the recommended item is to the viewed
one in the latent attributes shoppers care about, and ``taste`` how much the
user likes the recommended item's colour and style. After a tap, the user buys
with probability ``sigmoid(d + e * relevance + f * taste - g * price_term)``.

Both probabilities increase with relevance and decrease with position. The
model knows nothing about encoders: it only sees which items were shown where,
so any lift between variants emerges from the recommendations themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from abtest.simulate.vocab import ATTRIBUTES

ATTRIBUTE_NAMES: tuple[str, ...] = tuple(ATTRIBUTES)
"""Column order of the attribute code matrix: category, colour, pattern, style, price band."""


@dataclass(frozen=True)
class BehaviourParams:
    """The knobs of the behaviour model; stored with the world in ``truth_world``."""

    position_bias: tuple[float, ...] = (1.0, 0.80, 0.66, 0.57, 0.50, 0.45, 0.41, 0.38, 0.35, 0.33)
    relevance_weights: tuple[float, ...] = (0.40, 0.30, 0.15, 0.10, 0.05)
    tap_intercept: float = -4.4
    tap_relevance: float = 3.6
    tap_taste: float = 0.5
    purchase_intercept: float = -3.0
    purchase_relevance: float = 1.0
    purchase_taste: float = 0.5
    purchase_price: float = 0.5
    organic_purchase: float = 0.02
    """Probability that viewing an item ends in buying it directly, without the module."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> BehaviourParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("position_bias", "relevance_weights"):
            if name in known:
                known[name] = tuple(known[name])  # type: ignore[arg-type]
        return cls(**known)  # type: ignore[arg-type]


def relevance(
    source_codes: np.ndarray, rec_codes: np.ndarray, weights: tuple[float, ...]
) -> np.ndarray:
    """How alike two items are to a shopper, in [0, 1]; 0 unless the category matches.

    ``*_codes`` are integer attribute codes with the attributes in the last axis
    (order of :data:`ATTRIBUTE_NAMES`); arrays broadcast.
    """
    same = np.asarray(source_codes) == np.asarray(rec_codes)
    w = np.asarray(weights, dtype=np.float64)
    return same[..., 0] * (w[0] + (same[..., 1:] * w[1:]).sum(axis=-1))


def graded_relevance(source_codes: np.ndarray, rec_codes: np.ndarray) -> np.ndarray:
    """Relevance grades for offline ground truth: 0 other category, 1 same category,
    2 same category and colour, 3 same category, colour and pattern."""
    same = np.asarray(source_codes) == np.asarray(rec_codes)
    cat, col, pat = same[..., 0], same[..., 1], same[..., 2]
    return (cat.astype(np.int8) + (cat & col) + (cat & col & pat)).astype(np.int8)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def position_bias(params: BehaviourParams, positions: np.ndarray) -> np.ndarray:
    """Examination probability of 1-based ``positions``; beyond the table, the last value."""
    table = np.asarray(params.position_bias, dtype=np.float64)
    idx = np.clip(np.asarray(positions) - 1, 0, len(table) - 1)
    return table[idx]


def tap_probability(
    params: BehaviourParams, rel: np.ndarray, taste: np.ndarray, positions: np.ndarray
) -> np.ndarray:
    """P(tap) for a recommended item with relevance ``rel`` at 1-based ``positions``."""
    logit = params.tap_intercept + params.tap_relevance * rel + params.tap_taste * taste
    return position_bias(params, positions) * sigmoid(logit)


def purchase_probability(
    params: BehaviourParams, rel: np.ndarray, taste: np.ndarray, price_term: np.ndarray
) -> np.ndarray:
    """P(purchase | tap) for a recommended item."""
    logit = (
        params.purchase_intercept
        + params.purchase_relevance * rel
        + params.purchase_taste * taste
        - params.purchase_price * price_term
    )
    return sigmoid(logit)
