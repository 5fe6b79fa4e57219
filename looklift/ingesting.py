"""Bringing a team's own files into the store (``looklift ingest``), all or nothing.

Every file of one call is read and checked before anything is written, then
they are stored together in one transaction or, at the first bad value, none
of them (the database stays byte for byte as it was, and a database this call
would have created is not left behind). Rows whose key is stored already are
skipped and counted, so replaying files is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class IngestRun:
    """What :func:`ingest_files` stored: one report per file."""

    table: str
    db: Path
    created: bool
    """Whether this call created the database."""
    reports: tuple[Any, ...]
    """:meth:`abtest.store.Store.ingest_many`'s reports, one per file, in order."""

    @property
    def added_columns(self) -> dict[str, str]:
        """Columns of the team's own that this call added to the table, by SQL type."""
        return {name: kind for r in self.reports for name, kind in r.columns_added}

    def summary(self) -> dict[str, Any]:
        """Counts per file and in all, as ``looklift ingest --format json`` prints them."""
        from abtest.store import EXTRA_TYPES

        reports = self.reports
        return {
            "db": str(self.db),
            "table": self.table,
            "files": [
                {
                    "file": r.source,
                    "rows": r.rows_read,
                    "added": r.inserted,
                    "updated": r.updated,
                    "skipped_already_stored": r.already_stored,
                    "skipped_duplicates_in_file": r.duplicates_in_batch,
                    "rejected": 0,
                }
                for r in reports
            ],
            "rows": sum(r.rows_read for r in reports),
            "added": sum(r.inserted for r in reports),
            "updated": sum(r.updated for r in reports),
            "skipped": sum(r.skipped for r in reports),
            "rejected": 0,
            "columns_added": {
                name: EXTRA_TYPES.get(kind, kind) for name, kind in self.added_columns.items()
            },
        }


def ingest_files(
    table: str,
    paths: Sequence[Path],
    db: Path,
    *,
    types: Mapping[str, str],
    update: bool,
    progress: Callable[[int, int], None],
    status: Callable[[str], None],
) -> IngestRun:
    """Store the rows of ``paths`` in ``table`` of ``db`` (created if missing), together.

    ``types`` are SQL types of the team's own columns; ``update`` lets rows of
    items and users whose key is stored take the file's values. ``progress(done,
    total)`` and ``status(what)`` report as the files are read and stored.
    """
    from abtest.store import Batch, Store

    created = not db.exists()
    batches = [Batch(table, p, str(p), types=types, update=update) for p in paths]
    try:
        # An existing file must be a looklift database: ingest never adds the looklift
        # tables to some other DuckDB file given by mistake.
        with Store(db, create=created) as store:
            reports = store.ingest_many(batches, progress=progress, status=status)
    except BaseException:
        if created:  # a failed first ingest leaves no empty database behind
            for leftover in (db, db.with_name(db.name + ".wal")):
                leftover.unlink(missing_ok=True)
        raise
    return IngestRun(table, db, created, tuple(reports))


@dataclass(frozen=True)
class MissingPhotos:
    """Catalog photos not where the encoders will look for them."""

    missing: tuple[str, ...]
    checked: int
    root: Path
    """The database's folder, which ``image_path`` is relative to."""


def missing_photos(db: Path, sample: int = 5000) -> MissingPhotos | None:
    """Photos of a sample of items that are not found (``None`` when all are): a common
    slip is ``image_path`` relative to the file's folder, not the database's."""
    from abtest.store import Store

    with Store(db, read_only=True) as store:
        paths = store.query(
            f"SELECT image_path FROM items USING SAMPLE reservoir({sample} ROWS) REPEATABLE (7)"
        )["image_path"].to_list()
        missing = [p for p in paths if not store.resolve(p).is_file()]
        root = store.root
    return MissingPhotos(tuple(missing), len(paths), root) if missing else None
