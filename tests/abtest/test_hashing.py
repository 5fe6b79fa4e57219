"""FNV-1a and GrowthBook's hash versions: scalar and vectorised paths agree everywhere."""

from __future__ import annotations

import math
import tracemalloc

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


def _utf16(text: str) -> list[int]:
    raw = text.encode("utf-16-le", "surrogatepass")
    return [raw[i] | (raw[i + 1] << 8) for i in range(0, len(raw), 2)]


_ALPHABETS = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@ "),
    list("éñüßøçÅ"),  # Latin-1: one UTF-16 unit, two UTF-8 bytes
    list("日本語用户ユーザー€"),  # rest of the BMP: one unit, three bytes
    ["😀", "🙃", "👍🏽", "🇯🇵", "𝔘"],  # astral: a surrogate pair, four bytes
)


def _mixed_ids(rng: np.random.Generator, n: int, max_len: int) -> list[str | None]:
    """Ids of every length from 0 to ``max_len`` characters (most short, some very
    long), ASCII or mixing Latin-1, CJK and emoji, with a few nulls."""
    scale = rng.choice([8, 40, 300, max_len], n, p=[0.35, 0.35, 0.2, 0.1])
    lengths = rng.integers(0, scale + 1)
    ids: list[str | None] = []
    for length in lengths.tolist():
        kind = int(rng.integers(0, 3))
        if kind == 2:  # every character from any alphabet
            groups = rng.integers(0, len(_ALPHABETS), length).tolist()
            chars = [str(rng.choice(_ALPHABETS[g])) for g in groups]
        else:  # ASCII, or ASCII with one emoji somewhere
            chars = [str(c) for c in rng.choice(_ALPHABETS[0], length)]
            if kind == 1 and chars:
                chars[int(rng.integers(0, length))] = str(rng.choice(_ALPHABETS[3]))
        ids.append("".join(chars))
    for i in rng.choice(n, 5, replace=False).tolist():
        ids[i] = None
    return ids


def test_batch_equals_scalar_on_random_ids_of_any_length() -> None:
    # Property: for ids of mixed lengths 0..2000 characters, ASCII or not (emoji
    # included), every vectorised hash equals the scalar one and FNV-1a's
    # definition over UTF-16 code units.
    ids = _mixed_ids(np.random.default_rng(11), 2500, max_len=2000)
    lengths = [len(x) for x in ids if x is not None]
    assert max(lengths) > 1500 and min(lengths) == 0 and sum(x > 256 for x in lengths) > 50
    assert any(x and not x.isascii() and len(x) > 300 for x in ids)
    packed = UnitIds.from_any(ids)
    texts = [x or "" for x in ids]
    got = fnv1a32_batch(packed, prefix="p\u00e9-", suffix="-s😀")
    for text, valid, h in zip(texts, packed.valid.tolist(), got.tolist(), strict=True):
        expected = fnv1a32(f"p\u00e9-{text}-s😀") if valid else fnv1a32("p\u00e9--s😀")
        assert h == expected == _reference_fnv(_utf16(f"p\u00e9-{text if valid else ''}-s😀"))
    for version, den in ((1, 1000), (2, 10000)):
        buckets = gb_hash_batch_int("exp-é", packed, version)
        for text, valid, b in zip(texts, packed.valid.tolist(), buckets.tolist(), strict=True):
            if valid:
                assert b / den == gb_hash("exp-é", text, version), (version, text)


def test_batch_equals_scalar_across_blocks_with_a_few_long_ids() -> None:
    # More rows than a block: runs of equal-length uuids, then sparse long and
    # non-ASCII ids (laid out apart, sorted by length) and ids that end in tails.
    rng = np.random.default_rng(12)
    n = 70_000
    ids: list[str | None] = [f"{v:032x}" for v in rng.integers(0, 2**62, n).tolist()]
    for i in rng.choice(n, 900, replace=False).tolist():
        ids[i] = "".join(rng.choice(_ALPHABETS[0], int(rng.integers(65, 1200))))
    for i in rng.choice(n, 300, replace=False).tolist():
        ids[i] = "é" * int(rng.integers(1, 400)) + "😀"
    ids[5] = "x" * 5000
    ids[7] = None
    packed = UnitIds.from_any(ids)
    got = gb_hash_batch_int("seed", packed, 1)
    for text, b in zip(ids, got.tolist(), strict=True):
        if text:
            assert b == fnv1a32(text + "seed") % 1000, text


def test_short_ids_at_the_end_of_the_buffer() -> None:
    # Characters are copied a chunk of positions at a time; a short id lying at
    # the very end of the ids' buffer must not read past it (nor be shifted).
    ids = [f"{i:050d}" for i in range(99)] + ["abc"]
    for packed in (UnitIds.from_any(ids), UnitIds.from_any([*ids[:-1], "é😀c"])):
        assert fnv1a32_batch(packed).tolist() == [fnv1a32(x) for x in packed.to_list()]


def test_long_ids_are_hashed_in_vector_passes_without_padding() -> None:
    # Ids over 256 bytes used to go one by one in Python, and every row was padded
    # to the longest id. Now every character is hashed in a vector pass but the
    # last ones of the block's few longest ids, and storage stays near the ids'
    # total length (padding only within a chunk of positions, for rows ending there).
    rng = np.random.default_rng(13)
    ids = ["".join(rng.choice(_ALPHABETS[0], int(k))) for k in rng.integers(257, 2000, 3000)]
    ids += [f"{v:036x}" for v in rng.integers(0, 2**62, 3000).tolist()]
    packed = UnitIds.from_any(ids)
    (layout,) = packed.layout
    total = int(packed.lengths.sum())
    in_tails = sum(hi - lo for block in layout.blocks for _, lo, hi in block.tails)
    in_steps = sum(k for block in layout.blocks for _, k in block.steps)
    assert in_steps + in_tails == total
    assert in_tails < 0.01 * total
    assert sum(block.columns.size for block in layout.blocks) < 1.1 * total
    assert gb_hash_batch_int("s", packed, 2).tolist() == [
        int(gb_hash("s", x, 2) * 10000 + 0.5) for x in ids
    ]


def test_one_long_id_does_not_pad_every_row() -> None:
    # 20,000 uuids and one 250-character id: memory stays proportional to the
    # ids' total length (it was the rows times the longest id).
    rng = np.random.default_rng(14)
    ids = [f"{a:016x}-{b:019x}" for a, b in rng.integers(0, 2**62, (20_000, 2)).tolist()]
    packed = UnitIds.from_any([*ids, "y" * 250])
    gb_hash_batch_int("warm", UnitIds.from_any(["a"]), 2)  # lookup tables, built once
    tracemalloc.start()
    try:
        fnv1a32_batch(packed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * packed.data.size, peak / packed.data.size


def test_missing_ids_keep_their_value_as_given() -> None:
    # GrowthBook skips a unit whose id is null, empty or a zero number; the batch
    # output still shows the id as it was given.
    packed = UnitIds.from_any(["a", None, "", "b"])
    assert packed.to_arrow().to_pylist() == ["a", None, "", "b"]
    assert packed.to_list() == ["a", None, None, "b"]
    numbers = UnitIds.from_any(np.array([7, 0, -1], dtype=np.int64))
    assert numbers.to_arrow().to_pylist() == ["7", "0", "-1"]
    assert numbers.valid.tolist() == [True, False, True]
    assert UnitIds.from_any([7, 0]).valid.tolist() == [True, False]


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
