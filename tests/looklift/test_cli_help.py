"""Every verb's ``--help`` names its values as a reader expects: FILE, PATH, N, NAME.

typer writes required arguments as ``{file}`` and types as ``<int>`` or
``<list[str]>``; ``looklift.cli.ReadableCommand`` replaces them. The walk covers
every registered verb, so a verb added later is checked too.
"""

from __future__ import annotations

import re

import pytest
import typer

from looklift import cli

VERBS = sorted(typer.main.get_command(cli.app).commands)  # type: ignore[attr-defined]


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.run([*args, "--help"]) == 0
    return capsys.readouterr().out


def _names(text: str) -> list[str]:
    """The usage line and the name column (before the help text) of every entry."""
    names = [line for line in text.splitlines() if line.startswith("Usage:")]
    section = False
    for line in text.splitlines():
        if line in ("Arguments:", "Options:"):
            section = True
        elif line and not line.startswith(" "):
            section = False
        elif section and re.match(r"  \S", line):  # an entry, not a wrapped help line
            names.append(re.split(r"\s{2,}", line.strip(), maxsplit=1)[0])
    return names


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_shows_readable_metavars(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    names = _names(_help(capsys, verb))
    assert len(names) > 1, names  # a usage line and at least --help
    unreadable = [n for n in names if re.search(r"[{}<>]", n)]
    assert not unreadable, f"looklift {verb} --help: {unreadable}"


def test_the_metavars_say_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "validate")
    assert "Usage: looklift validate [OPTIONS] FILE..." in text
    assert "--db PATH" in text and "--format [table|json]" in text
    assert "Usage: looklift power [OPTIONS] [FILE]" in _help(capsys, "power")
    simulate = _help(capsys, "simulate")
    assert "--days N" in simulate and "--novelty NUMBER" in simulate
    assert "--drop-exposures VARIANT=SHARE" in simulate
    assert "--as-of DATE" in _help(capsys, "analyze")


def test_a_missing_argument_is_named_as_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["simulate"]) == 2
    assert "Missing argument 'FILE'" in capsys.readouterr().err
