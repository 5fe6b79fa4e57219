"""GrowthBook-compatible hashing: FNV-1a 32-bit and hash versions 1 and 2.

A unit (a user id) is hashed with the experiment's seed into a number in
[0, 1) that decides its variant. The formulas are GrowthBook's, so that a
mobile app running a GrowthBook SDK and looklift put the same user in the same
variant:

- version 1: ``(fnv1a32(value + seed) % 1000) / 1000``
- version 2: ``(fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000``

FNV-1a runs over UTF-16 code units, as JavaScript's ``charCodeAt`` does, so
non-ASCII ids hash as they do in the JS SDK.

Two paths give identical answers:

- scalar functions (:func:`fnv1a32`, :func:`gb_hash`) for one unit at a time;
- batch functions over :class:`UnitIds`, a packed array of ids (UTF-8 bytes
  and offsets). Its bytes are laid out once as a padded, column-major byte
  matrix; FNV-1a then runs one character position at a time over blocks of
  rows, with uint32 arithmetic in numpy (one xor and one multiply per
  position). The second round of version 2 hashes the decimal text of a
  uint32 with two small lookup tables. Rows with non-ASCII characters or
  longer than 256 bytes (rare) are hashed by the scalar path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF
_U32_PRIME = np.uint32(FNV_PRIME)

HASH_VERSIONS = (1, 2)


# --------------------------------------------------------------------------- scalar
def fnv1a32(text: str, state: int = FNV_OFFSET) -> int:
    """FNV-1a 32-bit of ``text`` over UTF-16 code units, starting from ``state``.

    ``state`` lets a caller continue a hash: ``fnv1a32(b, fnv1a32(a)) ==
    fnv1a32(a + b)``.
    """
    h = state
    if text.isascii():
        for b in text.encode("ascii"):
            h = ((h ^ b) * FNV_PRIME) & _MASK32
    else:
        data = text.encode("utf-16-le", "surrogatepass")
        for i in range(0, len(data), 2):
            h = ((h ^ (data[i] | (data[i + 1] << 8))) * FNV_PRIME) & _MASK32
    return h


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's hash of ``value`` with ``seed``: a number in [0, 1), or None
    for an unknown hash version (GrowthBook then skips the experiment)."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def js_number_string(x: float) -> str:
    """A finite number formatted like JavaScript's ``String(x)``.

    Both Python's ``repr`` and JavaScript print the shortest digits that
    round-trip; only the layout differs (JS uses plain notation for decimal
    exponents from -6 to 21, and ``1e+21`` / ``1.5e-7`` otherwise).
    """
    if x < 0:
        return "-" + js_number_string(-x)
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + int(exp or 0)  # decimal point position within digits
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    return digits[0] + ("." + digits[1:] if k > 1 else "") + f"e{'+' if e >= 0 else '-'}{abs(e)}"


def unit_string(value: Any) -> str | None:
    """The string a unit attribute is hashed as, or None if it cannot identify a unit.

    GrowthBook's rule: non-empty strings as they are; finite non-zero numbers
    formatted as JavaScript does (``5`` and ``5.0`` both hash as ``"5"``);
    anything else (None, ``""``, ``0``, booleans, lists) counts as missing.
    """
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | np.integer):
        return str(int(value)) if value != 0 else None
    if isinstance(value, float | np.floating):
        v = float(value)
        if v == 0 or not math.isfinite(v):
            return None
        return js_number_string(v)
    return None


# --------------------------------------------------------------------------- batch
BLOCK_ROWS = 65536
"""Rows hashed together: a block's state and characters stay in the CPU cache."""
MAX_VECTOR_LENGTH = 256
"""Ids longer than this (in bytes) are hashed one by one, like non-ASCII ids."""


@dataclass(frozen=True)
class _Layout:
    """The ids' bytes as a column-major matrix: ``columns[j, i]`` is byte ``j`` of row ``i``.

    Rows are left-aligned and padded; ``lengths`` says how many bytes of each
    row are real (0 for rows hashed by the scalar path).
    """

    columns: np.ndarray  # uint8, shape (max_len, n), C-contiguous
    lengths: np.ndarray  # int64
    min_len: int


@dataclass(frozen=True)
class UnitIds:
    """Unit ids packed for vectorised hashing.

    ``data`` holds the UTF-8 bytes of every id back to back, row ``i`` being
    ``data[offsets[i]:offsets[i + 1]]``. ``valid`` is False where the id is
    missing (null, empty, or a zero integer, as GrowthBook treats them).
    ``special`` lists the rows hashed by the scalar path (non-ASCII text, whose
    UTF-16 code units differ from its bytes, or very long ids), with their text.
    Build it once with :meth:`from_any` and pass it to every hash of the same ids.
    """

    data: np.ndarray  # uint8
    offsets: np.ndarray  # int64, length n + 1
    valid: np.ndarray  # bool
    special: tuple[tuple[int, str], ...]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.valid)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def from_any(cls, ids: Any) -> UnitIds:
        """Pack ids from a numpy array (str, object or integer), a list, a polars
        Series or a pyarrow array. Integer ids hash as their decimal text."""
        if isinstance(ids, UnitIds):
            return ids
        arr = _to_arrow_strings(ids)
        n = len(arr)
        if n == 0:
            return cls(np.zeros(0, np.uint8), np.zeros(1, np.int64), np.zeros(0, bool), ())
        if arr.type != pa.large_string():
            arr = arr.cast(pa.large_string())
        if arr.null_count:
            valid = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
            arr = pc.fill_null(arr, "")
        else:
            valid = np.ones(n, dtype=bool)
        bufs = arr.buffers()
        offsets = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
        data_buf = bufs[2]
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)
            if data_buf is not None and data_buf.size
            else np.zeros(0, np.uint8)
        )
        data = data[offsets[0] : offsets[-1]]
        offsets = offsets - offsets[0]
        lengths = np.diff(offsets)
        valid &= lengths > 0
        rows: set[int] = set()
        if data.size and data.max() >= 0x80:
            high = np.flatnonzero(data >= 0x80)
            rows.update(np.unique(np.searchsorted(offsets, high, side="right") - 1).tolist())
        if lengths.size and lengths.max() > MAX_VECTOR_LENGTH:
            rows.update(np.flatnonzero(lengths > MAX_VECTOR_LENGTH).tolist())
        special = tuple(
            (r, bytes(data[offsets[r] : offsets[r + 1]]).decode("utf-8")) for r in sorted(rows)
        )
        return cls(data, np.ascontiguousarray(offsets), valid, special)

    def text(self, i: int) -> str | None:
        """Row ``i`` as a string (None if missing); for checks and small lookups."""
        if not self.valid[i]:
            return None
        return bytes(self.data[self.offsets[i] : self.offsets[i + 1]]).decode("utf-8")

    def to_list(self) -> list[str | None]:
        return [self.text(i) for i in range(len(self))]

    def to_arrow(self) -> pa.Array:
        """The ids as an arrow large_string array (null where missing)."""
        arr = pa.LargeStringArray.from_buffers(
            len(self), pa.py_buffer(self.offsets), pa.py_buffer(self.data)
        )
        if not self.valid.all():
            arr = pc.if_else(pa.array(self.valid), arr, pa.scalar(None, pa.large_string()))
        return arr

    @property
    def layout(self) -> _Layout:
        """The column-major byte matrix, built on first use and kept."""
        if "layout" not in self._cache:
            self._cache["layout"] = _build_layout(self)
        return self._cache["layout"]


def _build_layout(ids: UnitIds) -> _Layout:
    n = len(ids)
    lengths = ids.lengths.copy()
    special = [r for r, _ in ids.special]
    if special:
        lengths[special] = 0
    max_len = int(lengths.max()) if n else 0
    if n == 0 or max_len == 0:
        return _Layout(np.zeros((0, n), np.uint8), lengths, 0)
    if not special and int(lengths.min()) == max_len:
        rows = ids.data.reshape(n, max_len)
    else:
        arr = ids.to_arrow()
        keep = lengths > 0
        if not keep.all():
            arr = pc.if_else(pa.array(keep), arr, pa.scalar("", pa.large_string()))
        padded = pc.utf8_rpad(pc.fill_null(arr, ""), width=max_len, padding=" ")
        if isinstance(padded, pa.ChunkedArray):
            padded = padded.combine_chunks()
        bufs = padded.buffers()
        offs = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1, offset=padded.offset * 8)
        if offs[-1] - offs[0] != n * max_len:  # cannot happen for ASCII rows; be safe
            raise AssertionError("padding did not give equal lengths")
        rows = np.frombuffer(bufs[2], dtype=np.uint8)[offs[0] : offs[-1]].reshape(n, max_len)
    columns = np.empty((max_len, n), dtype=np.uint8)
    for lo in range(0, n, BLOCK_ROWS):  # a blocked transpose stays in cache
        columns[:, lo : lo + BLOCK_ROWS] = rows[lo : lo + BLOCK_ROWS].T
    return _Layout(columns, lengths, int(lengths.min()))


def _to_arrow_strings(ids: Any) -> pa.Array:
    """Ids as an arrow string array; integer ids become decimal text, zeros null."""
    if hasattr(ids, "to_arrow") and not isinstance(ids, pa.Array | pa.ChunkedArray):
        ids = ids.to_arrow()  # polars Series
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if isinstance(ids, list | tuple):
        try:
            return pa.array(ids, type=pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([unit_string(v) for v in ids], type=pa.large_string())
    if not isinstance(ids, pa.Array):
        np_ids = np.asarray(ids) if not isinstance(ids, np.ndarray) else ids
        if np_ids.size == 0:
            return pa.array([], type=pa.large_string())
        if np_ids.dtype.kind in "iu":
            ids = pa.array(np_ids)
        elif np_ids.dtype.kind == "U":
            ids = pa.array(np_ids, type=pa.large_string())
        elif np_ids.dtype.kind == "S":
            ids = pa.array(np.char.decode(np_ids, "utf-8"), type=pa.large_string())
        elif np_ids.dtype.kind == "O":
            try:
                ids = pa.array(np_ids, type=pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                ids = pa.array([unit_string(v) for v in np_ids], type=pa.large_string())
        else:
            raise TypeError(f"unit ids must be strings or integers, got an array of {np_ids.dtype}")
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    if pa.types.is_integer(ids.type):
        ids = pc.if_else(pc.equal(ids, 0), pa.scalar(None, ids.type), ids)
        return pc.cast(ids, pa.large_string())
    if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
        return ids
    if pa.types.is_string_view(ids.type):
        return ids.cast(pa.large_string())
    raise TypeError(f"unit ids must be strings or integers, got {ids.type}")


def _code_units(text: str) -> list[np.uint32]:
    """UTF-16 code units of ``text`` (bytes for ASCII), as JavaScript sees it."""
    if text.isascii():
        return [np.uint32(b) for b in text.encode("ascii")]
    raw = text.encode("utf-16-le", "surrogatepass")
    return [np.uint32(raw[i] | (raw[i + 1] << 8)) for i in range(0, len(raw), 2)]


def _fnv_block(
    layout: _Layout, lo: int, hi: int, state: int, suffix: list[np.uint32], scratch: np.ndarray
) -> np.ndarray:
    """FNV-1a of rows ``lo:hi`` from ``state`` over their bytes, then over ``suffix``."""
    h = np.full(hi - lo, state, dtype=np.uint32)
    step = scratch[: hi - lo]
    lengths = layout.lengths[lo:hi]
    for j in range(layout.columns.shape[0]):
        chars = layout.columns[j, lo:hi]
        if j < layout.min_len:  # every row of the block has a byte here
            np.bitwise_xor(h, chars, out=h)
            np.multiply(h, _U32_PRIME, out=h)
        else:  # only rows longer than j move on
            np.bitwise_xor(h, chars, out=step)
            np.multiply(step, _U32_PRIME, out=step)
            np.copyto(h, step, where=lengths > j)
    for c in suffix:
        np.bitwise_xor(h, c, out=h)
        np.multiply(h, _U32_PRIME, out=h)
    return h


def fnv1a32_batch(ids: UnitIds, prefix: str = "", suffix: str = "") -> np.ndarray:
    """``fnv1a32(prefix + id + suffix)`` for every row, as uint32.

    The bytes are laid out column by column (see :attr:`UnitIds.layout`) and
    hashed a block of rows at a time: one xor and one multiply per character
    position for the whole block. Missing rows hash as the empty id; callers
    mask them with ``ids.valid``.
    """
    n = len(ids)
    out = np.empty(n, dtype=np.uint32)
    layout = ids.layout
    state = fnv1a32(prefix)
    tail = _code_units(suffix)
    scratch = np.empty(min(n, BLOCK_ROWS), dtype=np.uint32)
    for lo in range(0, n, BLOCK_ROWS):
        hi = min(n, lo + BLOCK_ROWS)
        out[lo:hi] = _fnv_block(layout, lo, hi, state, tail, scratch)
    for row, text in ids.special:
        out[row] = fnv1a32(prefix + text + suffix)
    return out


@lru_cache(maxsize=1)
def _decimal_tables() -> tuple[np.ndarray, np.ndarray]:
    """Tables for hashing the decimal text of a uint32 in a few vector steps.

    ``high[q]`` is ``fnv1a32(str(q))`` for the leading part ``q = h // 100000``
    (at most 42949; ``high[0]`` is unused), and ``low_digits[k, r]`` is the
    ASCII code of digit ``k`` of ``r = h % 100000`` written with five digits.
    """
    q = np.arange(1, (2**32 - 1) // 100000 + 1, dtype=np.int64)
    high = np.zeros(len(q) + 1, dtype=np.uint32)
    high[1:] = fnv1a32_batch(UnitIds.from_any(q))
    r = np.arange(100000, dtype=np.uint32)
    low_digits = np.empty((5, 100000), dtype=np.uint8)
    for k in range(5):
        low_digits[k] = (r // np.uint32(10 ** (4 - k))) % np.uint32(10) + np.uint32(48)
    return high, low_digits


def fnv1a32_of_decimal(h: np.ndarray) -> np.ndarray:
    """``fnv1a32(str(h))`` for every uint32 ``h`` (the second round of hash v2).

    ``str(h)`` is the decimal text of the leading part ``h // 100000``
    (looked up: its hash is tabulated) followed by the five zero-padded digits
    of ``h % 100000`` (five FNV steps). Values below 100000 have no leading
    part; they are rare (about 1 in 43,000) and hashed one by one.
    """
    high, low_digits = _decimal_tables()
    h = np.asarray(h, dtype=np.uint32)
    q = h // np.uint32(100000)
    out = np.take(high, q.astype(np.intp))
    r = (h - q * np.uint32(100000)).astype(np.intp)  # index once, gather five times
    digit = np.empty(len(h), dtype=np.uint8)
    for k in range(5):
        np.take(low_digits[k], r, out=digit)
        np.bitwise_xor(out, digit, out=out)
        np.multiply(out, _U32_PRIME, out=out)
    for i in np.flatnonzero(q == 0):
        out[i] = fnv1a32(str(int(h[i])))
    return out


def gb_hash_batch_int(seed: str, ids: UnitIds, version: int) -> np.ndarray:
    """The integer bucket behind :func:`gb_hash` for every row, as uint32:
    ``fnv % 1000`` for version 1, ``fnv(str(fnv)) % 10000`` for version 2.

    Divide by :func:`hash_denominator` for the hash in [0, 1). Missing rows
    get a bucket too; mask them with ``ids.valid``.
    """
    if version not in HASH_VERSIONS:
        raise ValueError(f"unknown hash version {version!r}; use one of {HASH_VERSIONS}")
    n = len(ids)
    out = np.empty(n, dtype=np.uint32)
    layout = ids.layout
    scratch = np.empty(min(n, BLOCK_ROWS), dtype=np.uint32)
    if version == 2:
        state, tail, modulus = fnv1a32(seed), [], np.uint32(10000)
    else:
        state, tail, modulus = FNV_OFFSET, _code_units(seed), np.uint32(1000)
    for lo in range(0, n, BLOCK_ROWS):
        hi = min(n, lo + BLOCK_ROWS)
        h = _fnv_block(layout, lo, hi, state, tail, scratch)
        if version == 2:
            h = fnv1a32_of_decimal(h)
        np.remainder(h, modulus, out=out[lo:hi])
    for row, text in ids.special:
        raw = fnv1a32(str(fnv1a32(seed + text))) if version == 2 else fnv1a32(text + seed)
        out[row] = raw % int(modulus)
    return out


def hash_denominator(version: int) -> int:
    return 10000 if version == 2 else 1000


def gb_hash_batch(seed: str, ids: UnitIds, version: int) -> np.ndarray:
    """:func:`gb_hash` for every row: float64 in [0, 1), NaN where the id is missing."""
    n = gb_hash_batch_int(seed, ids, version).astype(np.float64) / hash_denominator(version)
    n[~ids.valid] = np.nan
    return n


def gb_hash_many(seed: str, values: Sequence[str], version: int) -> np.ndarray:
    """Convenience: :func:`gb_hash_batch` over a list of strings."""
    return gb_hash_batch(seed, UnitIds.from_any(np.asarray(values, dtype=object)), version)
