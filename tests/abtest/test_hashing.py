"""FNV-1a and GrowthBook's hash versions: scalar and vectorised paths agree everywhere."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from abtest.hashing import (
    FNV_OFFSET,
    UnitIds,
    fnv1a32,
    fnv1a32_batch,
    fnv1a32_of_decimal,
    gb_hash,
    gb_hash_batch,
    gb_hash_batch_int,
    js_number_string,
    unit_string,
)


def _reference_fnv(units: list[int]) -> int:
    """FNV-1a 32 written out from its definition."""
    h = 0x811C9DC5
    for u in units:
        h ^= u
        h = (h * 16777619) % 2**32
    return h


def test_fnv1a32_published_vectors() -> None:
    # From the FNV reference test suite (draft-eastlake-fnv).
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_fnv1a32_continues_a_hash() -> None:
    assert fnv1a32("bar", fnv1a32("foo")) == fnv1a32("foobar")
    assert fnv1a32("", 12345) == 12345


def test_non_ascii_hashes_utf16_code_units_like_javascript() -> None:
    # "é" is one UTF-16 code unit (0xE9), two UTF-8 bytes; "😀" is a surrogate pair.
    assert fnv1a32("é") == _reference_fnv([0xE9])
    assert fnv1a32("é") != _reference_fnv(list("é".encode()))
    assert fnv1a32("😀") == _reference_fnv([0xD83D, 0xDE00])


def test_hash_versions_follow_their_formulas() -> None:
    assert gb_hash("seed", "user", 1) == (fnv1a32("userseed") % 1000) / 1000
    assert gb_hash("seed", "user", 2) == (fnv1a32(str(fnv1a32("seeduser"))) % 10000) / 10000
    assert gb_hash("seed", "user", 3) is None


def _random_ids(rng: np.random.Generator, n: int) -> list[str | None]:
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABC0123456789-_.:@"))
    lengths = rng.integers(1, 40, n)
    ids: list[str | None] = ["".join(rng.choice(alphabet, k)) for k in lengths]
    ids[:8] = ["héllo", "日本語", "a😀b", None, "", "x" * 300, "0", "ü" * 3]
    return ids


@pytest.mark.parametrize("version", [1, 2])
def test_batch_hash_equals_scalar_hash(version: int) -> None:
    rng = np.random.default_rng(1)
    ids = _random_ids(rng, 5000)
    got = gb_hash_batch("exp-seed", UnitIds.from_any(np.array(ids, dtype=object)), version)
    for value, h in zip(ids, got, strict=True):
        if not value:
            assert math.isnan(h)
        else:
            assert h == gb_hash("exp-seed", value, version), value


def test_batch_fnv_with_prefix_and_suffix() -> None:
    ids = ["a", "bb", "", "ccc", "ü", "dddd"]
    packed = UnitIds.from_any(ids)
    got = fnv1a32_batch(packed, prefix="p-", suffix="-s")
    assert got.tolist() == [fnv1a32(f"p-{x}-s") for x in ids]


def test_equal_length_ids_take_the_fast_path_and_agree() -> None:
    ids = [f"user_{i:07d}" for i in range(3000)]
    packed = UnitIds.from_any(ids)
    assert len(set(packed.lengths.tolist())) == 1
    assert gb_hash_batch("s", packed, 2).tolist() == [gb_hash("s", x, 2) for x in ids]


def test_second_round_of_v2_on_edge_values() -> None:
    values = np.array(
        [0, 1, 9, 10, 99_999, 100_000, 100_001, 4_294_967_295, 1_000_000_000], dtype=np.uint32
    )
    values = np.concatenate(
        [
            values,
            np.random.default_rng(2).integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32),
        ]
    )
    assert fnv1a32_of_decimal(values).tolist() == [fnv1a32(str(int(v))) for v in values]


def test_integer_buckets_match_the_float_hash() -> None:
    ids = UnitIds.from_any([f"u{i}" for i in range(500)])
    for version, den in ((1, 1000), (2, 10000)):
        ints = gb_hash_batch_int("k", ids, version)
        assert (ints < den).all()
        assert (ints / den).tolist() == gb_hash_batch("k", ids, version).tolist()


@pytest.mark.parametrize(
    "source",
    [
        lambda ids: np.array(ids, dtype=object),
        lambda ids: np.array(ids, dtype=str),
        lambda ids: ids,
        lambda ids: pl.Series(ids),
        lambda ids: pa.array(ids),
        lambda ids: pa.chunked_array([pa.array(ids[:2]), pa.array(ids[2:])]),
        lambda ids: pl.Series(ids).cast(pl.Categorical),
    ],
    ids=["object", "unicode", "list", "polars", "arrow", "chunked", "categorical"],
)
def test_unit_ids_from_many_containers(source) -> None:  # type: ignore[no-untyped-def]
    ids = ["u1", "u22", "user-333", "é"]
    packed = UnitIds.from_any(source(ids))
    assert packed.to_list() == ids
    assert gb_hash_batch("s", packed, 2).tolist() == [gb_hash("s", x, 2) for x in ids]


def test_integer_ids_hash_as_their_decimal_text_and_zero_is_missing() -> None:
    packed = UnitIds.from_any(np.array([5, 0, 123456789012, -3], dtype=np.int64))
    assert packed.to_list() == ["5", None, "123456789012", "-3"]
    assert packed.valid.tolist() == [True, False, True, True]


def test_float_ids_are_refused() -> None:
    with pytest.raises(TypeError, match="strings or integers"):
        UnitIds.from_any(np.array([1.5, 2.0]))


def test_missing_ids_are_marked_invalid() -> None:
    packed = UnitIds.from_any(["a", None, "", "b"])
    assert packed.valid.tolist() == [True, False, False, True]
    got = gb_hash_batch("s", packed, 1)
    assert math.isnan(got[1]) and math.isnan(got[2])
    assert UnitIds.from_any([]).valid.size == 0
    assert gb_hash_batch("s", UnitIds.from_any([]), 2).size == 0


def test_long_and_non_ascii_ids_are_hashed_one_by_one() -> None:
    ids = ["plain", "x" * 1000, "ñ"]
    packed = UnitIds.from_any(ids)
    assert [r for r, _ in packed.special] == [1, 2]
    assert fnv1a32_batch(packed).tolist() == [fnv1a32(x) for x in ids]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("abc", "abc"),
        ("", None),
        (None, None),
        (True, None),
        (0, None),
        (0.0, None),
        (5, "5"),
        (5.0, "5"),
        (-2, "-2"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (123456.789, "123456.789"),
        (float("nan"), None),
        (float("inf"), None),
        ([1], None),
    ],
)
def test_unit_string_follows_javascript(value: object, expected: str | None) -> None:
    assert unit_string(value) == expected


def test_js_number_formatting_against_the_sdk() -> None:
    core = pytest.importorskip("growthbook.core")
    rng = np.random.default_rng(3)
    values = rng.uniform(-1, 1, 3000) * 10.0 ** rng.integers(-12, 25, 3000)
    for x in [*values.tolist(), 1e21, 1e-7, 123.0, 0.1, 2.0**60]:
        assert js_number_string(x) == core._js_number_to_string(x)


def test_fnv_offset_is_the_empty_hash() -> None:
    assert fnv1a32_batch(UnitIds.from_any([None])).tolist() == [FNV_OFFSET]
