"""Reading specs: YAML text to a validated :class:`ExperimentSpec`, or every problem.

YAML is parsed with ``yaml.safe_load``; it is also composed into nodes, only
to know the line of each field and to catch duplicate keys (which
``safe_load`` silently resolves to the last one).
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
from abtest.spec.errors import SpecError, SpecProblem
from abtest.spec.models import ExperimentSpec


# --------------------------------------------------------------------------- YAML positions
def _format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Positions:
    """Line numbers of the nodes of a YAML document, by field path; and duplicate keys."""

    def __init__(self, text: str) -> None:
        self.lines: dict[PathT, int] = {}
        self.duplicates: list[tuple[PathT, str, int]] = []
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            root = None
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: PathT) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self.duplicates.append((path, key, key_node.start_mark.line + 1))
                seen.add(key)
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def line(self, path: PathT) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())


def _pydantic_problems(
    exc: ValidationError, file: str, pos: _Positions | None
) -> list[SpecProblem]:
    problems = []
    for e in exc.errors(include_url=False):
        loc = tuple(x for x in e["loc"] if x != "[key]")
        msg = str(e["msg"])
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see examples/similar-looks.yaml)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif e["type"] not in ("value_error", "assertion_error") and "input" in e:
            shown = repr(e["input"])
            msg += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
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
    found += semantic_problems(data)
    problems: list[SpecProblem] = []
    spec: ExperimentSpec | None = None
    try:
        spec = ExperimentSpec.model_validate(dict(data))
    except ValidationError as exc:
        problems += _pydantic_problems(exc, source, pos)
    if known_encoders is not None:
        found += encoder_problems(data, known_encoders)
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
    """Read and validate one YAML spec. Raises :class:`SpecError` listing every problem."""
    name = str(path)
    p = Path(path)
    if not p.is_file():
        raise SpecError(
            [SpecProblem(name, "", "file not found" if not p.exists() else "not a file")]
        )
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([SpecProblem(name, "", f"cannot read: {exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        col = f", column {mark.column + 1}" if mark else ""
        raise SpecError([SpecProblem(name, "", f"YAML syntax error{col}: {what}", line)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecProblem(name, "", f"YAML error: {exc}")]) from None
    return parse_spec(data, source=name, known_encoders=known_encoders, _positions=_Positions(text))


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
