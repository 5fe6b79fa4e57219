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
  and offsets, as Arrow holds strings). The ids are laid out once, without
  padding: in blocks of rows sorted by length, character position by
  position, so that FNV-1a runs one position at a time over all the rows of
  a block still going, with uint32 arithmetic in numpy (one xor and one
  multiply per position). The work is proportional to the ids' total length,
  whatever the longest id. ASCII ids are hashed over their bytes; the others
  over their UTF-16 code units, converted for all of them at once. Long ids
  (over :data:`LONG_ID_UNITS` units) are grouped across the input, and the
  last characters of the few longest ids of a block are hashed one by one
  (see :data:`MIN_VECTOR_ROWS`). The second round of version 2 hashes the
  decimal text of a uint32 with two small lookup tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

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
LONG_ID_UNITS = 64
"""Ids longer than this (in code units) are laid out apart from the others, sorted by
length over the whole input, when they are few (at most one row in 16): a few long
ids scattered among many short ones then share blocks and are hashed in vector
passes, instead of being the last few rows of every block."""
MIN_VECTOR_ROWS = 64
"""When fewer rows than this still have characters left at a position, their
remaining characters are hashed one by one (and so are all the rows of a block
smaller than this): a numpy call costs about as much as hashing that many
characters in Python, so a lone long id never pays a vector pass per character."""
CHUNK_POSITIONS = 64
GATHER_ROWS = 4096
"""Ids are regrouped by position ``CHUNK_POSITIONS`` characters at a time, for
``GATHER_ROWS`` rows at a time: each row's characters are read together (one
cache line), then transposed; the index and the chunk stay small."""


class _Block(NamedTuple):
    """Rows hashed together, longest first, and where their characters lie.

    ``steps[j] = (at, k)``: at character position ``j`` the first ``k`` rows
    (those longer than ``j``) take one FNV step with ``columns[at : at + k]``.
    A row listed in ``tails`` as ``(i, lo, hi)`` goes on, one character at a
    time, with the layout's ``units[lo:hi]``. ``rows`` says where the block's
    rows are in the input (a slice when they are consecutive and in order).
    """

    rows: slice | np.ndarray
    size: int
    columns: np.ndarray
    steps: tuple[tuple[int, int], ...]
    tails: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class _Layout:
    """The ids of one encoding laid out for hashing.

    ``units`` holds the code units the hash runs over: the bytes of ASCII ids
    (uint8, the ids' own buffer, not copied) or the UTF-16 code units of the
    other ids (uint16), as JavaScript's ``charCodeAt`` gives them. Each block
    holds its rows' units regrouped position by position; the only padding is
    within a chunk of :data:`CHUNK_POSITIONS` positions, for rows ending in it.
    """

    units: np.ndarray
    blocks: tuple[_Block, ...]


@dataclass(frozen=True)
class UnitIds:
    """Unit ids packed for vectorised hashing.

    ``data`` holds the UTF-8 bytes of every id back to back, row ``i`` being
    ``data[offsets[i]:offsets[i + 1]]``, as given (integer ids as their
    decimal text). ``present`` is False only where the id is null. ``valid``
    is False where GrowthBook treats the id as missing: null, the empty string
    or a zero integer; such rows are not hashed (they are not in any
    experiment) but keep their value in :meth:`to_arrow`.
    Build it once with :meth:`from_any` and pass it to every hash of the same ids.
    """

    data: np.ndarray  # uint8
    offsets: np.ndarray  # int64, length n + 1
    valid: np.ndarray  # bool
    present: np.ndarray  # bool
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.valid)

    @property
    def lengths(self) -> np.ndarray:
        """Each id's length in UTF-8 bytes."""
        return np.diff(self.offsets)

    @classmethod
    def from_any(cls, ids: Any) -> UnitIds:
        """Pack ids from a numpy array (str, object or integer), a list, a polars
        Series or a pyarrow array. Integer ids hash as their decimal text."""
        if isinstance(ids, UnitIds):
            return ids
        arr, zero = _to_arrow_strings(ids)
        n = len(arr)
        if n == 0:
            empty = np.zeros(0, bool)
            return cls(np.zeros(0, np.uint8), np.zeros(1, np.int64), empty, empty)
        if arr.type != pa.large_string():
            arr = arr.cast(pa.large_string())
        if arr.null_count:
            present = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
            arr = pc.fill_null(arr, "")
        else:
            present = np.ones(n, dtype=bool)
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
        valid = present & (np.diff(offsets) > 0)
        if zero is not None:
            valid &= ~zero
        return cls(data, np.ascontiguousarray(offsets), valid, present)

    def text(self, i: int) -> str | None:
        """Row ``i`` as the string it is hashed as (None if missing); for checks and
        small lookups."""
        if not self.valid[i]:
            return None
        return bytes(self.data[self.offsets[i] : self.offsets[i + 1]]).decode("utf-8")

    def to_list(self) -> list[str | None]:
        """Every row as :meth:`text` gives it."""
        return [self.text(i) for i in range(len(self))]

    def to_arrow(self) -> pa.Array:
        """The ids as given, as an arrow large_string array: null only where the id
        was null; empty strings stay empty and a zero integer id reads ``"0"``."""
        arr = pa.LargeStringArray.from_buffers(
            len(self), pa.py_buffer(self.offsets), pa.py_buffer(self.data)
        )
        if not self.present.all():
            arr = pc.if_else(pa.array(self.present), arr, pa.scalar(None, pa.large_string()))
        return arr

    @property
    def layout(self) -> tuple[_Layout, ...]:
        """The ids laid out for hashing (one layout per encoding), built on first use
        and kept: every hash of the same ids reuses it."""
        if "layout" not in self._cache:
            self._cache["layout"] = _build_layouts(self)
        return self._cache["layout"]


def _build_layouts(ids: UnitIds) -> tuple[_Layout, ...]:
    """Lay out the valid ids: ASCII ids over their own bytes, the others over their
    UTF-16 code units (each group only when it has rows)."""
    rows = np.flatnonzero(ids.valid)
    if rows.size == 0:
        return ()
    lengths = ids.lengths
    starts = ids.offsets[:-1]
    every_row = rows.size == len(ids)
    if not ids.data.size or int(ids.data.max()) < 0x80:
        if every_row:
            return (_lay_out(ids.data, starts, lengths, rows),)
        return (_lay_out(ids.data, starts[rows], lengths[rows], rows),)
    strings = pa.LargeStringArray.from_buffers(
        len(ids), pa.py_buffer(ids.offsets), pa.py_buffer(ids.data)
    )
    is_ascii = np.asarray(pc.string_is_ascii(strings).to_numpy(zero_copy_only=False), dtype=bool)
    layouts = []
    plain = rows[is_ascii[rows]]
    if plain.size:
        layouts.append(_lay_out(ids.data, starts[plain], lengths[plain], plain))
    wide = rows[~is_ascii[rows]]
    if wide.size:
        units, unit_starts, unit_lengths = _utf16_units(ids.data, lengths, wide)
        layouts.append(_lay_out(units, unit_starts, unit_lengths, wide))
    return tuple(layouts)


def _utf16_units(
    data: np.ndarray, lengths: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The UTF-16 code units of ``rows`` (ascending, non-empty ids) back to back,
    with each row's start and length in units.

    The rows' bytes are decoded and re-encoded in one call. Each character
    starts at a byte that is not a continuation byte (``10xxxxxx``) and takes
    one code unit, or two (a surrogate pair) when its UTF-8 form has four
    bytes (lead byte ``>= 0xF0``): summing that count over each row's bytes
    gives its length in code units.
    """
    if rows.size == len(lengths):
        raw = data
    else:
        keep = np.zeros(len(lengths), dtype=bool)
        keep[rows] = True
        raw = data[np.repeat(keep, lengths)]
    text = raw.tobytes().decode("utf-8", "surrogatepass")
    units = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype="<u2")
    per_byte = ((raw & 0xC0) != 0x80).astype(np.uint8) + (raw >= 0xF0)
    byte_starts = np.zeros(rows.size, dtype=np.int64)
    np.cumsum(lengths[rows][:-1], out=byte_starts[1:])
    unit_lengths = np.add.reduceat(per_byte, byte_starts, dtype=np.int64)
    unit_starts = np.zeros(rows.size, dtype=np.int64)
    np.cumsum(unit_lengths[:-1], out=unit_starts[1:])
    return units, unit_starts, unit_lengths


def _lay_out(
    units: np.ndarray, starts: np.ndarray, lengths: np.ndarray, rows: np.ndarray
) -> _Layout:
    """Blocks of rows over ``units``, in input order (which keeps each block's
    characters close together in memory); when only a few ids are longer than
    :data:`LONG_ID_UNITS`, those come last, sorted by length (longest first)."""
    long = lengths > LONG_ID_UNITS
    n_long = int(np.count_nonzero(long))
    parts = [(starts, lengths, rows)]
    if 0 < n_long <= len(rows) // 16:
        order = np.argsort(-lengths[long], kind="stable")
        short = ~long
        parts = [(starts[short], lengths[short], rows[short])] if short.any() else []
        parts.append((starts[long][order], lengths[long][order], rows[long][order]))

    blocks = [
        _lay_out_block(
            units,
            part_starts[lo : lo + BLOCK_ROWS],
            part_lengths[lo : lo + BLOCK_ROWS],
            part_rows[lo : lo + BLOCK_ROWS],
        )
        for part_starts, part_lengths, part_rows in parts
        for lo in range(0, len(part_rows), BLOCK_ROWS)
    ]
    return _Layout(units, tuple(blocks))


def _lay_out_block(
    units: np.ndarray, starts: np.ndarray, lengths: np.ndarray, rows: np.ndarray
) -> _Block:
    """One block's characters regrouped position by position.

    Rows are ordered longest first, so the rows still going at position ``j``
    are always the first ``active[j]``. Positions are laid out while at least
    :data:`MIN_VECTOR_ROWS` rows are active; the rows going further become
    tails. Equal-length ids that lie back to back (uuids, fixed-width keys)
    are one reshape and a transpose; otherwise positions go by chunks: the
    rows active at the chunk's first position are gathered as a (rows,
    positions) matrix, each row's characters copied together from a sliding
    window over ``units`` (entries past a row's end are never read), and
    written transposed. The few rows whose window would run past the end of
    ``units`` are copied one by one.
    """
    size = len(rows)
    longest, shortest = int(lengths.max()), int(lengths.min())
    in_order = True
    if shortest == longest:
        active = np.full(longest, size, dtype=np.int64)
    else:
        key = longest - lengths
        order = np.argsort(key.astype(np.uint16) if longest < 2**16 else key, kind="stable")
        starts, lengths, rows = starts[order], lengths[order], rows[order]
        in_order = False
        ended = np.bincount(lengths, minlength=longest + 1)
        active = size - np.cumsum(ended)[:-1]
    depth = int(np.count_nonzero(active >= MIN_VECTOR_ROWS))
    first = int(starts[0])
    if depth == longest == shortest and int(starts[-1]) - first == (size - 1) * depth:
        matrix = units[first : first + size * depth].reshape(size, depth)
        columns = np.ascontiguousarray(matrix.T).reshape(-1)
        steps = tuple((j * size, size) for j in range(depth))
    else:
        chunks = [
            (j, min(CHUNK_POSITIONS, depth - j), int(active[j]))
            for j in range(0, depth, CHUNK_POSITIONS)
        ]
        columns = np.empty(sum(c * k for _, c, k in chunks), dtype=units.dtype)
        step_list: list[tuple[int, int]] = []
        at = 0
        for j, c, k in chunks:
            chunk = columns[at : at + c * k].reshape(c, k)
            windows = np.lib.stride_tricks.sliding_window_view(units, c)
            limit = len(units) - c
            for lo in range(0, k, GATHER_ROWS):
                hi = min(k, lo + GATHER_ROWS)
                begin = starts[lo:hi] + j
                over = np.flatnonzero(begin > limit)  # windows would run out
                begin[over] = limit
                chunk[:, lo:hi] = windows[begin].T
                for i in (lo + over).tolist():  # at most c rows, at the end of units
                    real = min(c, int(lengths[i]) - j)
                    chunk[:real, i] = units[starts[i] + j : starts[i] + j + real]
            step_list += [(at + t * k, int(active[j + t])) for t in range(c)]
            at += c * k
        steps = tuple(step_list)
    going_on = int(active[depth]) if depth < longest else 0
    tails = tuple((i, int(starts[i]) + depth, int(starts[i] + lengths[i])) for i in range(going_on))
    if in_order and int(rows[-1]) - int(rows[0]) == size - 1:
        where: slice | np.ndarray = slice(int(rows[0]), int(rows[0]) + size)
    else:
        where = rows
    return _Block(where, size, columns, steps, tails)


def _to_arrow_strings(ids: Any) -> tuple[pa.Array, np.ndarray | None]:
    """Ids as an arrow string array (integers as decimal text), and where integer
    ids are zero (GrowthBook's missing id), or None when there are no integers."""
    if hasattr(ids, "to_arrow") and not isinstance(ids, pa.Array | pa.ChunkedArray):
        ids = ids.to_arrow()  # polars Series
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if isinstance(ids, list | tuple):
        try:
            return pa.array(ids, type=pa.large_string()), None
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            try:
                inferred = pa.array(ids)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                inferred = None
            if inferred is None or not pa.types.is_integer(inferred.type):
                return pa.array([unit_string(v) for v in ids], type=pa.large_string()), None
            ids = inferred
    if not isinstance(ids, pa.Array):
        np_ids = np.asarray(ids) if not isinstance(ids, np.ndarray) else ids
        if np_ids.size == 0:
            return pa.array([], type=pa.large_string()), None
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
        zero = np.asarray(
            pc.fill_null(pc.equal(ids, 0), False).to_numpy(zero_copy_only=False), dtype=bool
        )
        return pc.cast(ids, pa.large_string()), zero
    if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
        return ids, None
    if pa.types.is_string_view(ids.type):
        return ids.cast(pa.large_string()), None
    raise TypeError(f"unit ids must be strings or integers, got {ids.type}")


def _code_units(text: str) -> list[np.uint32]:
    """UTF-16 code units of ``text`` (bytes for ASCII), as JavaScript sees it."""
    if text.isascii():
        return [np.uint32(b) for b in text.encode("ascii")]
    raw = text.encode("utf-16-le", "surrogatepass")
    return [np.uint32(raw[i] | (raw[i + 1] << 8)) for i in range(0, len(raw), 2)]


def _fnv_units(units: np.ndarray, state: int) -> int:
    """FNV-1a from ``state`` over an array of code units, one at a time (tails)."""
    h = state
    for u in units.tolist():
        h = ((h ^ u) * FNV_PRIME) & _MASK32
    return h


def _hash_blocks(
    ids: UnitIds, state: int, suffix: list[np.uint32]
) -> Iterator[tuple[slice | np.ndarray, np.ndarray]]:
    """FNV-1a from ``state`` over each valid id and then ``suffix``, a block at a time.

    Yields ``(rows, hashes)``: the block's place in the input and its uint32
    hashes. One xor and one multiply per character position for all the
    block's rows still going; tails finish one by one before the suffix.
    """
    for layout in ids.layout:
        for block in layout.blocks:
            h = np.full(block.size, state, dtype=np.uint32)
            columns = block.columns
            for at, k in block.steps:
                head = h[:k]
                np.bitwise_xor(head, columns[at : at + k], out=head)
                np.multiply(head, _U32_PRIME, out=head)
            for i, lo, hi in block.tails:
                h[i] = _fnv_units(layout.units[lo:hi], int(h[i]))
            for c in suffix:
                np.bitwise_xor(h, c, out=h)
                np.multiply(h, _U32_PRIME, out=h)
            yield block.rows, h


def fnv1a32_batch(ids: UnitIds, prefix: str = "", suffix: str = "") -> np.ndarray:
    """``fnv1a32(prefix + id + suffix)`` for every row, as uint32.

    The ids are laid out once per :class:`UnitIds` (see :attr:`UnitIds.layout`)
    and hashed a block of rows at a time: one xor and one multiply per
    character position for the whole block, whatever the ids' lengths, with
    no padding. Missing rows hash as the empty id; callers mask them with
    ``ids.valid``.
    """
    state = fnv1a32(prefix)
    out = np.full(len(ids), fnv1a32(suffix, state), dtype=np.uint32)
    for rows, h in _hash_blocks(ids, state, _code_units(suffix)):
        out[rows] = h
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
    get the empty id's bucket; mask them with ``ids.valid``.
    """
    if version not in HASH_VERSIONS:
        raise ValueError(f"unknown hash version {version!r}; use one of {HASH_VERSIONS}")
    if version == 2:
        state, suffix, modulus = fnv1a32(seed), [], np.uint32(10000)
        empty = fnv1a32(str(fnv1a32(seed))) % 10000
    else:
        state, suffix, modulus = FNV_OFFSET, _code_units(seed), np.uint32(1000)
        empty = fnv1a32(seed) % 1000
    out = np.full(len(ids), empty, dtype=np.uint32)
    for rows, h in _hash_blocks(ids, state, suffix):
        if version == 2:
            h = fnv1a32_of_decimal(h)
        out[rows] = np.remainder(h, modulus, out=h)
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
