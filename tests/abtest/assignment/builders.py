"""Specs and unit ids shared by the assignment tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from abtest.assignment import REASONS, Assigner
from abtest.spec import ExperimentSpec, parse_spec


def spec_of(**fields: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "key": "exp",
        "variants": [
            {"name": "control", "weight": 0.5, "encoder": "cnn-pca", "params": {"k": 10}},
            {"name": "treatment", "weight": 0.5, "encoder": "finetuned", "params": {"k": 12}},
        ],
    }
    data.update(fields)
    return parse_spec(data)


def random_ids(n: int, seed: int) -> list[str | None]:
    """Ids of many shapes: hex, prefixed, numeric, long, non-ASCII, missing."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**62, n)
    shape = rng.integers(0, 4, n)
    out: list[str | None] = []
    for v, s in zip(values.tolist(), shape.tolist(), strict=True):
        if s == 0:
            out.append(f"{v:x}")
        elif s == 1:
            out.append(f"user_{v % 10**8}")
        elif s == 2:
            out.append(str(v % 10 ** (1 + v % 12)))
        else:
            out.append(f"{v:x}-{v:o}-session")
    specials = ["ünïcødé", "用户", "🙂🙃", None, "", "x" * 400, "0", " spaced id "]
    for i, value in enumerate(specials):
        out[i * (n // len(specials))] = value
    return out


def online_indices(assigner: Assigner, ids: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    index = np.empty(len(ids), dtype=np.int64)
    reason = np.empty(len(ids), dtype=np.int64)
    codes = {r: i for i, r in enumerate(REASONS)}
    unit = assigner.unit
    for i, uid in enumerate(ids):
        d = assigner.decide({unit: uid})
        index[i] = d.variant_index
        reason[i] = codes[d.reason]
    return index, reason
