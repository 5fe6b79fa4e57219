"""The hostile-input corpus: what a case is, the workspace it runs in, and how it is judged.

Every case runs the real ``looklift`` command in a subprocess (so a hang is
killed by a timeout, a memory bomb by a limit, and the exit code and output are
exactly what a user sees), in a folder of its own holding a copy of a small,
real looklift database and the files the case writes. A user mistake must end
with the promised shape: the exit code (2), exactly one line on stderr that
names the problem, no traceback, and the database byte-identical with no new
file beside it. Cases that hold already are kept so that they keep holding.

Case modules (``cases_*.py`` beside this file) each export ``CASES``.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

EXAMPLE_SPEC = Path(__file__).resolve().parents[3] / "examples" / "similar-looks.yaml"
"""The demo's spec: copied into each workspace as ``spec.yaml``."""

MEMORY_LIMIT = 3 * 1024**3
"""Address space a case may use: a bomb fails here instead of taking the machine down."""

FileContent = str | bytes | Callable[[Path], None]
"""What a case writes: text, bytes, or a function that makes the file at a path."""


@dataclass(frozen=True)
class Result:
    """What one run of the command did."""

    code: int
    stdout: str
    stderr: str
    db_changed: bool
    new_files: tuple[str, ...]
    timed_out: bool = False


@dataclass(frozen=True)
class Case:
    """One hostile input and what must come of it.

    ``args`` are the command's arguments; ``{db}``, ``{dir}`` and ``{spec}`` stand
    for the workspace's database, folder and copy of the example spec. ``files``
    are written into the folder first (a path may have sub-folders). A failing
    case (``code != 0``) must print exactly one line on stderr that contains
    ``says`` (case-insensitive), no traceback, and leave the database and the folder
    as they were. ``check`` adds anything else, for cases that succeed. ``prepare``
    runs on the case's folder after its files are written and before the database's
    digest is taken: a case that needs a changed database (an item whose photo is a
    FIFO) changes its own copy there.
    """

    name: str
    args: tuple[str, ...]
    code: int = 2
    says: str = ""
    files: Mapping[str, FileContent] = field(default_factory=dict)
    check: Callable[[Path, Result], None] | None = None
    may_write: tuple[str, ...] = ()
    """Files the command may create in the folder (e.g. a report it was asked for)."""
    db_may_change: bool = False
    timeout: float = 60.0
    prepare: Callable[[Path], None] | None = None


def fill(folder: Path, files: Mapping[str, FileContent]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def _digest(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_symlink()}


def _limit_memory() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_case(case: Case, template_db: Path, images: Path, folder: Path) -> Result:
    """Prepare ``folder`` for ``case``, run the command there, and report what it did."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "looklift.duckdb"
    shutil.copy(template_db, db)
    (folder / images.name).symlink_to(images)
    shutil.copy(EXAMPLE_SPEC, folder / "spec.yaml")
    fill(folder, case.files)
    if case.prepare is not None:
        case.prepare(folder)
    before_db, before_files = _digest(db), _listing(folder)
    subs = {"{db}": str(db), "{dir}": str(folder), "{spec}": str(folder / "spec.yaml")}
    args = []
    for arg in case.args:
        for key, value in subs.items():
            arg = arg.replace(key, value)
        args.append(arg)
    env = {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "looklift.cli", *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=case.timeout,
            preexec_fn=_limit_memory,
        )
        code, stdout, stderr, timed_out = done.returncode, done.stdout, done.stderr, False
    except subprocess.TimeoutExpired as exc:
        code, timed_out = -9, True
        stdout = (
            (exc.stdout or b"").decode(errors="replace")
            if isinstance(exc.stdout, bytes)
            else (exc.stdout or "")
        )
        stderr = (
            (exc.stderr or b"").decode(errors="replace")
            if isinstance(exc.stderr, bytes)
            else (exc.stderr or "")
        )
    new = sorted(_listing(folder) - before_files - set(case.may_write))
    return Result(code, stdout, stderr, _digest(db) != before_db, tuple(new), timed_out)


def judge(case: Case, result: Result, folder: Path) -> None:
    """Assert the promise for ``case`` on ``result`` (messages say what broke it)."""
    where = f"{case.name}: exit {result.code}; stderr: {result.stderr[-2000:]!r}"
    assert not result.timed_out, f"{case.name}: still running after {case.timeout:.0f} s"
    assert "Traceback" not in result.stderr + result.stdout, where
    assert result.code == case.code, where
    if case.code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"{case.name}: {len(lines)} lines on stderr: {result.stderr!r}"
        assert case.says.lower() in lines[0].lower(), where
        assert lines[0].startswith("looklift: error:"), where
    if not case.db_may_change:
        assert not result.db_changed, f"{case.name}: the database changed"
    assert not result.new_files, f"{case.name}: wrote {list(result.new_files)}"
    if case.check is not None:
        case.check(folder, result)
