"""The commands written in each example's comments run, as written, against the demo.

An experimenter copies ``looklift ...`` lines from ``examples/*.yaml``; they
must work on the database ``make demo`` leaves. Here that database is the
small test world with the demo's two encoders (toy neighbors) and the demo's
experiment simulated, as the demo does. Each command is taken from the file
(``#`` then at least four spaces then ``looklift``, ``\\`` continuing a line)
and run with only its paths substituted: the demo's database for
``demo-output/looklift.duckdb``, the repository's files for ``examples/...``
(globs expanded as a shell would) and a temporary folder for other files.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from looklift.cli import run
from looklift.pipeline import DemoConfig
from tests.conftest import served_copy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DEMO_DB = DemoConfig().db.as_posix()  # where `make demo` leaves its database
FILE_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json", ".duckdb", ".html", ".md")


def commented_commands(path: Path) -> list[str]:
    """The ``looklift`` command lines in the comments of ``path``, continuations joined."""
    commands: list[str] = []
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if current:
            more = re.match(r"#\s+(\S.*)$", line)
            assert more, f"{path.name}: a command ends in '\\' but no comment line follows"
            current += " " + more.group(1).strip()
        elif start := re.match(r"#\s{4,}(looklift\s.*)$", line):
            current = start.group(1).strip()
        else:
            continue
        if current.endswith("\\"):
            current = current[:-1].rstrip()
        else:
            commands.append(current)
            current = ""
    return commands


def substituted(command: str, db: Path, folder: Path) -> list[str]:
    """The arguments of ``command`` (without ``looklift``) with its paths made real."""
    words = shlex.split(command, comments=True)
    assert words[0] == "looklift", command
    args: list[str] = []
    for word in words[1:]:
        if word == DEMO_DB:
            args.append(str(db))
        elif word.startswith("examples/"):
            found = sorted(str(p) for p in ROOT.glob(word))
            assert found, f"{word} matches no file"
            args.extend(found)
        elif not word.startswith("-") and word.endswith(FILE_SUFFIXES):
            assert "/" not in word, f"{word}: only the demo's database may be given by path"
            args.append(str(folder / word))
        else:
            args.append(word)
    return args


@pytest.fixture(scope="module")
def demo_db(small_world, tmp_path_factory) -> Path:
    """What `make demo` leaves, in small: both encoders' neighbors, the demo's
    experiment simulated over its whole schedule."""
    db = served_copy(small_world, tmp_path_factory.mktemp("examples") / "looklift.duckdb")
    assert run(["simulate", str(ROOT / "examples" / "similar-looks.yaml"), "--db", str(db)]) == 0
    return db


def test_the_examples_show_the_whole_journey() -> None:
    """Between them, the examples show every step an experimenter takes."""
    verbs = {c.split()[1] for path in EXAMPLES for c in commented_commands(path)}
    assert {"validate", "assign", "simulate", "analyze", "power"} <= verbs
    for path in EXAMPLES:
        assert commented_commands(path), f"{path.name} shows no command"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_examples_commands_run_as_written(
    example: Path, demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    with duckdb.connect(str(demo_db), read_only=True) as con:  # the users file `assign` reads
        con.execute(f"COPY users TO '{tmp_path / 'users.parquet'}' (FORMAT parquet)")
    capsys.readouterr()
    for command in commented_commands(example):
        code = run(substituted(command, demo_db, tmp_path))
        out, err = capsys.readouterr()
        assert code == 0, f"{example.name}: {command}\n{err}"
        assert "Traceback" not in out + err and "looklift: warning" not in err, (command, err)
