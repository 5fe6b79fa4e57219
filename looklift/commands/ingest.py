"""``looklift ingest``: bring a team's own files (catalog, users, logs) into the store.

The command expands its FILE arguments and ``--type`` options, then stores the
files with :func:`looklift.ingesting.ingest_files` (all files of one call are one
transaction) and prints what was added and skipped.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from looklift.console import OutputFormat, err, out, print_json, progress, table

if TYPE_CHECKING:
    from looklift.ingesting import IngestRun

_GLOB_CHARS = re.compile(r"[*?\[]")

HELP = (
    "Add rows to a table of the store (items, users, events, exposures, interactions, "
    "neighbors) from parquet, CSV, TSV or JSON-lines files. Columns of the data model are "
    "checked and typed; items, users and events also keep columns of your own (typed from "
    "the file; --type COLUMN=TYPE to choose). All files of one call are stored together "
    "or, if any row is bad, none (the error names file, row and column). Rows whose key "
    "(event_id, user_id, item_id...) is stored already are skipped. A FILE that exists is "
    "read as named; one that does not and holds * ? or [ is a glob (quote it)."
)


def register(app: typer.Typer) -> None:
    app.command("ingest", help=HELP)(ingest)


def ingest(
    table_name: Annotated[
        str,
        typer.Argument(
            metavar="TABLE",
            help="items, users, events, exposures, interactions or neighbors.",
        ),
    ],
    files: Annotated[
        list[str],
        typer.Argument(metavar="FILE", help="Files to read, or quoted globs ('logs/*.csv')."),
    ],
    db: Annotated[
        Path, typer.Option(help="The looklift database; created if it does not exist.")
    ] = Path("looklift.duckdb"),
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--type",
            metavar="COLUMN=TYPE",
            help="Type of a column of your own (text, integer, number, boolean, date, "
            "timestamp) instead of the one read from the file; repeatable.",
        ),
    ] = None,
    update: Annotated[
        bool,
        typer.Option(
            help="items and users: a row whose key is stored already takes the file's values "
            "(for the columns the file has) instead of being skipped."
        ),
    ] = False,
    format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = (
        OutputFormat.table
    ),
) -> None:
    from abtest.schema import TABLES
    from abtest.store import UPDATABLE
    from looklift.errors import UsageProblem
    from looklift.ingesting import ingest_files, missing_photos

    if table_name not in TABLES:
        raise UsageProblem(f"unknown table {table_name!r}; tables are {', '.join(TABLES)}")
    if update and table_name not in UPDATABLE:
        raise UsageProblem(
            f"--update applies to {' and '.join(UPDATABLE)}; rows of {table_name} are "
            "stored once per key"
        )
    paths = expand_files(files)
    asked = parse_types(types or [])
    with progress() as bar:
        task = bar.add_task(f"ingesting into {table_name}", total=None)
        run = ingest_files(
            table_name,
            paths,
            db,
            types=asked,
            update=update,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            status=lambda what: bar.update(task, description=what),
        )
    if table_name == "items" and (missing := missing_photos(db)) is not None:
        err.print(
            f"[yellow]looklift: warning:[/] {len(missing.missing):,} of {missing.checked:,} "
            f"photos checked in {db} are missing (first: {missing.missing[0]}); image_path is "
            f"relative to the database's folder, {missing.root}",
            highlight=False,
        )
    if format is OutputFormat.json:
        print_json(run.summary())
        return
    _print_run(run, update)


def _print_run(run: IngestRun, update: bool) -> None:
    """Rows read, added and skipped per file, and in all."""
    from abtest.store import EXTRA_TYPES

    summary, table_name, added_columns = run.summary(), run.table, run.added_columns
    columns = ["file", "rows", "added", *(["updated"] if update else []), "already stored"]
    rows = [
        [
            f["file"],
            f"{f['rows']:,}",
            f"{f['added']:,}",
            *([f"{f['updated']:,}"] if update else []),
            f"{f['skipped_already_stored']:,}",
            f"{f['skipped_duplicates_in_file']:,}",
        ]
        for f in summary["files"]
    ]
    out.print(table(f"{table_name} in {run.db}", [*columns, "repeated in file"], rows))
    if added_columns:
        shown = ", ".join(f"{n} ({EXTRA_TYPES.get(k, k)})" for n, k in added_columns.items())
        out.print(f"new columns in {table_name}: {shown}")
    stored = sum(r.already_stored for r in run.reports)
    repeated = sum(r.duplicates_in_batch for r in run.reports)
    out.print(
        f"added {summary['added']:,} of {summary['rows']:,} rows"
        + (f", updated {summary['updated']:,}" if update else "")
        + (f"; skipped {stored:,} already stored" if stored else "")
        + (f"; skipped {repeated:,} repeated in a file (the first is kept)" if repeated else "")
    )
    if run.created:
        err.print(f"created {run.db}")


def expand_files(arguments: list[str]) -> list[Path]:
    """The files named by FILE arguments, in order, each once.

    An argument that exists is read literally (a file may be named ``ev*.csv``);
    one that does not and contains ``*``, ``?`` or ``[`` is expanded as a glob
    (``**`` spans folders), sorted; a glob that matches no file is an error, as
    is a folder or a file of a kind ingest does not read.
    """
    from abtest.store import file_kind, printable
    from looklift.errors import UsageProblem

    found: list[Path] = []
    for arg in arguments:
        path, shown = Path(arg), printable(arg)  # a name may hold a newline: one line
        if path.exists():
            matches = [path]
        elif _GLOB_CHARS.search(arg):
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=True) if Path(m).is_file())
            if not matches:
                raise UsageProblem(f"no file matches {shown}")
        else:
            raise UsageProblem(f"file not found: {shown}")
        for m in matches:
            if m.is_dir():
                raise UsageProblem(
                    f"{printable(str(m))} is a folder; give its files, e.g. "
                    f"'{printable(str(m))}/*.csv'"
                )
            if file_kind(m) is None:
                raise UsageProblem(
                    f"{printable(str(m))}: unsupported file type (use .parquet, .csv, .tsv, "
                    ".jsonl or .json)"
                )
        found.extend(matches)
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def parse_types(items: list[str]) -> dict[str, str]:
    """``COLUMN=TYPE`` options as a mapping, with the types checked."""
    from abtest.store import StoreError, sql_type
    from looklift.errors import UsageProblem

    asked: dict[str, str] = {}
    for item in items:
        column, sep, kind = item.partition("=")
        if not sep or not column.strip() or not kind.strip():
            raise UsageProblem(f"--type takes COLUMN=TYPE, got {item!r}")
        try:
            asked[column.strip()] = sql_type(kind)
        except StoreError as exc:
            raise UsageProblem(f"--type {item}: {exc}") from None
    return asked
