"""What a looklift database holds that experiment specs are checked against.

``looklift validate`` and ``looklift assign`` check a spec's encoders against
the neighbors table; ``validate`` refuses metric filters on events columns the
database lacks, and warns about metrics and targeting that read event types or
users columns without rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from abtest.spec import ExperimentSpec, SpecProblem
    from abtest.spec.checks import DataFacts


def known_encoders_from_db(db: Path) -> set[str]:
    """The encoders with neighbors in ``db``: ``SELECT DISTINCT encoder FROM neighbors``."""
    from abtest.store import Store
    from looklift.errors import UsageProblem

    with Store(db, read_only=True) as store:
        if not store.has_table("neighbors"):
            raise UsageProblem(f"{db} has no neighbors table, so it cannot list encoders")
        rows = store.con.execute("SELECT DISTINCT encoder FROM neighbors").fetchall()
    return {str(r[0]) for r in rows}


def data_facts_from_db(db: Path) -> DataFacts:
    """What ``db`` holds of what specs read: rows and valued rows per event type, the
    events columns and their types, and non-null values per ``users`` column (one scan
    of each table)."""
    from abtest.spec.checks import DataFacts
    from abtest.store import Store, quote_ident

    with Store(db, read_only=True) as store:
        events = values = columns = event_columns = None
        if store.has_table("events"):
            rows = store.con.execute(
                "SELECT event_type, count(*), count(value) FROM events GROUP BY event_type"
            ).fetchall()
            events = {str(t): int(n) for t, n, _ in rows}
            values = {str(t): int(v) for t, _, v in rows}
            event_columns = store.columns("events")
        if store.has_table("users"):
            names = [
                str(r[0])
                for r in store.con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'users' ORDER BY ordinal_position"
                ).fetchall()
            ]
            counts = store.fetch_one(
                f"SELECT {', '.join(f'count({quote_ident(c)})' for c in names)} FROM users"
            )
            columns = dict(zip(names, map(int, counts or ()), strict=False))
    return DataFacts(events, values, columns, event_columns)


def spec_data_warnings(
    specs: Sequence[ExperimentSpec], facts: DataFacts | None, where: str
) -> list[list[SpecProblem]]:
    """Each spec's warnings about the data; raises :class:`SpecError` for what cannot work.

    With ``facts`` (a database): metric filters on events columns it lacks are errors,
    for every spec at once; event types and users columns without rows are warnings.
    Without: filter columns outside the data model are warnings (only a database can
    tell whether the events have them).
    """
    from abtest.spec import SpecError
    from abtest.spec.checks import data_warnings, event_column_problems

    if facts is not None and facts.event_columns is None:  # no events table: nothing to check
        return [data_warnings(s, facts, where) for s in specs]
    columns = facts.event_columns if facts is not None else None
    found = [event_column_problems(s, columns, where) for s in specs]
    errors = [e for errs, _ in found for e in errs]
    if errors:
        raise SpecError(errors)
    return [
        ws + (data_warnings(s, facts, where) if facts is not None else [])
        for s, (_, ws) in zip(specs, found, strict=True)
    ]
