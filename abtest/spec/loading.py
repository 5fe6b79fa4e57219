"""Reading specs: YAML text to a validated :class:`ExperimentSpec`, or every problem.

YAML is read once, with PyYAML's safe loader extended by :class:`_SpecLoader`:
composing the document into nodes records the line of each field and the
duplicate keys (which a plain load silently resolves to the last one), and
refuses, before anything is constructed, what would exhaust memory or the
stack: aliases that expand past :data:`MAX_ALIAS_NODES` nodes (a "billion
laughs" is 350 bytes), recursive aliases, and nesting deeper than
:data:`MAX_DEPTH`. Scalars that cannot become Python values (an impossible
date such as ``2026-04-31``, an integer of thousands of digits) are problems
of their field, not crashes. Files over :data:`MAX_SPEC_BYTES` are not read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from abtest.spec.checks import (
    PathT,
    cross_spec_problems,
    encoder_problems,
    semantic_problems,
)
from abtest.spec.errors import SpecError, SpecProblem, shown
from abtest.spec.models import ExperimentSpec

MAX_SPEC_BYTES = 4 * 1024 * 1024
"""A spec is a few kilobytes; 4 MiB leaves room for inline saved groups of some 300,000
ids, and bounds the time PyYAML takes (about 2 s per MiB)."""
MAX_ALIAS_NODES = 10_000
"""Nodes that aliases (``*name``) may add to a document, counted as if each alias were
replaced by a copy of its anchor. Sharing a list of countries or a metric definition
adds tens; a "billion laughs" adds 10^9 and is refused at the alias that passes this."""
MAX_DEPTH = 50
"""Levels of nesting: a spec needs about six, a targeting condition a few more. Deeper
documents would exhaust the stack of the (recursive) composer and of every reader after."""
MAX_INT_DIGITS = 100
"""Digits of an integer written in YAML: a seed or a unit id fits; Python refuses to
convert more than 4,300, and a huge number is never what a field means. Quote it for text."""

_INT_TAG = "tag:yaml.org,2002:int"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# --------------------------------------------------------------------------- YAML positions
def _format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _LimitError(yaml.MarkedYAMLError):
    """A document past one of the loader's limits, at ``path`` (and the mark's line)."""

    def __init__(self, path: PathT, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.path = path


def _int_digits(literal: str) -> int:
    """Digits of a YAML integer literal (sign, ``_``, ``:`` and a ``0x``/``0b`` prefix aside)."""
    body = literal.lstrip("+-").replace("_", "").replace(":", "")
    if body[:2] in ("0x", "0b"):
        body = body[2:]
    return len(body)


def _key_name(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.id} key>"


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader that learns, while composing, what a spec's messages need.

    Composition visits each node once (an alias yields the node already composed,
    which is not walked again), so everything is counted in the document's own size:

    - ``lines``: the line of each field path, and ``duplicates``: repeated keys;
    - ``scalar_problems``: values that cannot be constructed (an impossible date, an
      integer of more than :data:`MAX_INT_DIGITS` digits), by field path; the
      constructor then keeps them as their text, so the rest of the file is checked;
    - the limits: the expanded size of every node is known once it is composed, so an
      alias adds its anchor's expanded size to a running total, which may not pass
      :data:`MAX_ALIAS_NODES`; an alias to a node still being composed (a recursive
      structure) and nesting past :data:`MAX_DEPTH` are refused too (:class:`_LimitError`).
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines: dict[PathT, int] = {}
        self.duplicates: list[tuple[PathT, str, int]] = []
        self.scalar_problems: dict[PathT, str] = {}
        self._path: PathT = ()
        self._depth = 0
        self._sizes: dict[int, int] = {}
        self._expanded = 0

    def _where(self, parent: yaml.Node | None, index: Any) -> tuple[PathT, bool]:
        """The field path of the node composed next, and whether it is a mapping key."""
        if isinstance(parent, yaml.SequenceNode):
            return (*self._path, int(index)), False
        if isinstance(parent, yaml.MappingNode):
            if index is None:
                return self._path, True
            return (*self._path, _key_name(index)), False
        return self._path, False

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        path, is_key = self._where(parent, index)
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                size = self._sizes.get(id(target))
                if size is None:
                    raise _LimitError(
                        path,
                        f"alias *{event.anchor} refers to a node that contains it "
                        "(recursive structures are not allowed)",
                        event.start_mark,
                    )
                self._expanded += size
                if self._expanded > MAX_ALIAS_NODES:
                    raise _LimitError(
                        path,
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                        f"(at *{event.anchor}); write the values out or share less",
                        event.start_mark,
                    )
                if not is_key:
                    self.lines[path] = event.start_mark.line + 1
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _LimitError(
                path, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
            )
        outer, self._path = self._path, path
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._path, self._depth = outer, self._depth - 1
        self._learn(node, path, is_key)
        return node

    def _learn(self, node: yaml.Node, path: PathT, is_key: bool) -> None:
        """Size, line, duplicate keys and unconstructible scalars of a composed node."""
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                size += self._sizes[id(key_node)] + self._sizes[id(value_node)]
                key = _key_name(key_node)
                if key in seen:
                    self.duplicates.append((path, key, key_node.start_mark.line + 1))
                seen.add(key)
        elif not is_key:
            problem = self._scalar_problem(node)
            if problem is not None:
                self.scalar_problems[path] = problem
        self._sizes[id(node)] = size
        if not is_key:
            self.lines[path] = node.start_mark.line + 1

    def _scalar_problem(self, node: yaml.Node) -> str | None:
        """Why a typed scalar cannot become a Python value, or None when it can."""
        kind = _TYPED_SCALARS.get(node.tag)
        if kind is None:
            return None
        if node.tag == _INT_TAG and (digits := _int_digits(str(node.value))) > MAX_INT_DIGITS:
            return (
                f"a {digits:,}-digit integer is too long (at most {MAX_INT_DIGITS} "
                "digits; quote it if it is text)"
            )
        try:
            _SAFE_CONSTRUCTORS[node.tag](self, node)
        except _UNREADABLE as exc:
            reason = (
                f": {exc}" if isinstance(exc, ValueError) and node.tag == _TIMESTAMP_TAG else ""
            )
            return f"{shown(node.value)} is not a valid {kind}{reason}"
        return None

    def construct_typed_scalar(self, node: yaml.Node) -> Any:
        """The scalar's value, or its text when it has none (a problem already recorded).

        An impossible date (``2026-04-31``), an over-long integer or an explicitly tagged
        ``!!int abc`` raise in PyYAML's constructors; kept as text, the rest of the file
        is still checked, and the field's problem is the one :meth:`_scalar_problem` found.
        """
        if node.tag == _INT_TAG and _int_digits(str(node.value)) > MAX_INT_DIGITS:
            return str(node.value)
        try:
            return _SAFE_CONSTRUCTORS[node.tag](self, node)
        except _UNREADABLE:
            return str(node.value)


_TYPED_SCALARS = {
    _INT_TAG: "integer",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
    _TIMESTAMP_TAG: "date or time",
}
"""Tags whose scalars PyYAML converts, and what to call them in a message."""
_UNREADABLE = (ValueError, OverflowError, IndexError, KeyError, AttributeError)
"""What PyYAML's scalar constructors raise on text that is not their type (``!!int abc``)."""
_SAFE_CONSTRUCTORS = {tag: yaml.SafeLoader.yaml_constructors[tag] for tag in _TYPED_SCALARS}
for _tag in _TYPED_SCALARS:
    _SpecLoader.add_constructor(_tag, _SpecLoader.construct_typed_scalar)


class _Positions:
    """What reading the YAML learnt: field lines, duplicate keys and unreadable scalars."""

    def __init__(
        self,
        lines: dict[PathT, int] | None = None,
        duplicates: list[tuple[PathT, str, int]] | None = None,
        scalar_problems: dict[PathT, str] | None = None,
    ) -> None:
        self.lines = lines or {}
        self.duplicates = duplicates or []
        self.scalar_problems = scalar_problems or {}

    def line(self, path: PathT) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())

    def covers(self, path: PathT) -> bool:
        """Whether ``path`` is at or under a field whose scalar was already reported."""
        p = tuple(str(x) if not isinstance(x, int) else x for x in path)
        return any(p[: len(q)] == q for q in self.scalar_problems)


def _read_yaml(name: str, text: str) -> tuple[Any, _Positions]:
    """Parse ``text`` once into Python data and what its nodes say about positions.

    Raises :class:`SpecError` (one problem, with its line) for syntax errors and for
    documents past the loader's limits.
    """
    loader: _SpecLoader | None = None
    try:
        loader = _SpecLoader(text)
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except _LimitError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise SpecError(
            [SpecProblem(name, _format_path(exc.path), str(exc.problem), line)]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        col = f", column {mark.column + 1}" if mark else ""
        raise SpecError([SpecProblem(name, "", f"YAML syntax error{col}: {what}", line)]) from None
    except yaml.reader.ReaderError as exc:  # its message spans two lines: say it in one
        line = text.count("\n", 0, exc.position) + 1
        if isinstance(exc.character, bytes):
            what = f"cannot decode byte #x{ord(exc.character):02x} ({exc.reason})"
        else:
            what = f"character {shown(chr(exc.character))} is not allowed in YAML ({exc.reason})"
        raise SpecError([SpecProblem(name, "", what, line)]) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[:1] or ["invalid YAML"]
        raise SpecError([SpecProblem(name, "", f"YAML error: {first[0]}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, _Positions(loader.lines, loader.duplicates, loader.scalar_problems)


def _pydantic_problems(
    exc: ValidationError, file: str, pos: _Positions | None
) -> list[SpecProblem]:
    problems = []
    for e in exc.errors(include_url=False):
        loc = tuple(x for x in e["loc"] if x != "[key]")
        if pos is not None and pos.covers(loc):
            continue  # its value could not be read at all: said once, by the loader
        msg = str(e["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see examples/similar-looks.yaml)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] not in ("value_error", "assertion_error") and "input" in e:
            msg += f" (got {shown(e['input'])})"
        problems.append(SpecProblem(file, _format_path(loc), msg, pos.line(loc) if pos else None))
    return problems


def parse_spec(
    data: Any,
    *,
    source: str = "<spec>",
    known_encoders: Iterable[str] | None = None,
    _positions: _Positions | None = None,
) -> ExperimentSpec:
    """Validate already-parsed data (a mapping) into an :class:`ExperimentSpec`.

    ``known_encoders=None`` skips the encoder check; otherwise every variant's
    encoder must be one of them.
    """
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError([SpecProblem(source, "", f"a spec must be a YAML mapping, got {got}")])
    pos = _positions
    found: list[tuple[PathT, str]] = [
        ((*path, key), f"duplicate key {key!r} (the last one would silently win)")
        for path, key, _line in (pos.duplicates if pos else [])
    ]
    found += list(pos.scalar_problems.items()) if pos else []
    found += [(p, m) for p, m in semantic_problems(data) if not (pos and pos.covers(p))]
    problems: list[SpecProblem] = []
    spec: ExperimentSpec | None = None
    try:
        spec = ExperimentSpec.model_validate(dict(data))
    except ValidationError as exc:
        problems += _pydantic_problems(exc, source, pos)
    if known_encoders is not None:
        found += [
            (p, m) for p, m in encoder_problems(data, known_encoders) if not (pos and pos.covers(p))
        ]
    problems += [
        SpecProblem(source, _format_path(p), m, pos.line(p) if pos else None) for p, m in found
    ]
    if problems or spec is None:
        problems.sort(key=lambda p: p.line or 0)
        raise SpecError(problems)
    spec._source = source
    return spec


def load_spec(
    path: str | os.PathLike[str], *, known_encoders: Iterable[str] | None = None
) -> ExperimentSpec:
    """Read and validate one YAML spec. Raises :class:`SpecError` listing every problem.

    Only regular files of at most :data:`MAX_SPEC_BYTES` are read (a FIFO or a device
    would block or never end).
    """
    name = str(path)
    p = Path(path)
    if not p.is_file():
        raise SpecError(
            [SpecProblem(name, "", "file not found" if not p.exists() else "not a file")]
        )
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            raise SpecError(
                [
                    SpecProblem(
                        name,
                        "",
                        f"larger than {MAX_SPEC_BYTES // 1024**2} MiB, the most a spec may be",
                    )
                ]
            )
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([SpecProblem(name, "", f"cannot read: {exc}")]) from None
    data, positions = _read_yaml(name, text)
    return parse_spec(data, source=name, known_encoders=known_encoders, _positions=positions)


def load_specs(
    paths: Iterable[str | os.PathLike[str]], *, known_encoders: Iterable[str] | None = None
) -> list[ExperimentSpec]:
    """Load several specs and check them together.

    Besides each file's own problems: two files may not use the same
    experiment key, and experiments in the same namespace may not have
    overlapping ranges (they would share units). All problems of all files
    are reported in one :class:`SpecError`.
    """
    known = None if known_encoders is None else set(known_encoders)
    specs: list[ExperimentSpec] = []
    problems: list[SpecProblem] = []
    for path in paths:
        try:
            specs.append(load_spec(path, known_encoders=known))
        except SpecError as exc:
            problems.extend(exc.problems)
    problems.extend(cross_spec_problems(specs))
    if problems:
        raise SpecError(problems)
    return specs
