"""Spec problems and the error that carries them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def one_line(text: str) -> str:
    """``text`` with every non-printable character escaped as Python would (``\\n``, ``\\x1b``).

    A spec's names and paths come from the user's file; one with a newline, a
    carriage return, a Unicode line separator or a terminal escape would split
    or repaint the one line an error promises. Printable text is kept as is.
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for quoting what a user wrote in a message.

    A repr escapes control characters, so the quote stays on one line; an integer too
    long for Python to print (over 4,300 digits) is described instead of crashing.
    """
    try:
        text = repr(value)
    except ValueError:
        return "a very long integer"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec: where it is and what is wrong.

    ``file``, ``path`` and ``message`` are kept on one line each (control
    characters escaped, see :func:`one_line`), so that every problem prints
    as exactly one line whatever the names it quotes.
    """

    file: str
    path: str
    message: str
    line: int | None = None

    def __post_init__(self) -> None:
        for name in ("file", "path", "message"):
            object.__setattr__(self, name, one_line(str(getattr(self, name))))

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(Exception):
    """An experiment spec is invalid; ``problems`` lists every mistake found."""

    def __init__(self, problems: Sequence[SpecProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [SpecProblem("<spec>", "", problems)]
        self.problems: tuple[SpecProblem, ...] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))
