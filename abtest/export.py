"""A store's exposures, events and users as parquet, laid out as a warehouse exports them.

``exposures/`` and ``events/`` are folders partitioned by day (``day=2026-03-02/``,
from each row's ``ts``), ``users.parquet`` one file: what ``looklift analyze --engine
spark --tables DIR`` reads, and what a team's warehouse export looks like. DuckDB
streams the rows from the store to the files, so the export needs no more memory
than a row group, however many events there are. The folder is written beside its
final place and moved there when complete: a failed export leaves nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from abtest.store import Store, quote_ident

PARTITIONED = ("exposures", "events")
"""Tables written as folders partitioned by day."""


class ExportError(Exception):
    """The export cannot be written where asked."""


def export_parquet(store: Store, folder: Path, *, overwrite: bool = False) -> dict[str, int]:
    """Write ``store``'s exposures, events and users under ``folder``; rows per table."""
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise ExportError(f"{folder} exists: choose another folder, or remove it first")
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} is not a folder")
    if not folder.parent.is_dir():
        raise ExportError(f"folder does not exist: {folder.parent}")
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    rows = {}
    try:
        for table in (*PARTITIONED, "users"):
            name = quote_ident(table)
            if table in PARTITIONED:
                target = str(tmp / table).replace("'", "''")
                store.con.execute(
                    f"COPY (SELECT *, CAST(ts AS DATE) AS day FROM {name}) TO '{target}' "
                    "(FORMAT parquet, PARTITION_BY (day))"
                )
            else:
                target = str(tmp / f"{table}.parquet").replace("'", "''")
                store.con.execute(f"COPY {name} TO '{target}' (FORMAT parquet)")
            rows[table] = store.count(table)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
