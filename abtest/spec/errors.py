"""Spec problems and the error that carries them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec: where it is and what is wrong."""

    file: str
    path: str
    message: str
    line: int | None = None

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
