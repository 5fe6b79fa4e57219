"""What a looklift database holds that experiment specs are checked against.

``looklift validate`` and ``looklift assign`` check a spec's encoders against
the neighbors table, and ``validate`` warns about metrics and targeting that
read event types or users columns without rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    """What ``db`` holds of what specs read: rows and valued rows per event type, and
    non-null values per ``users`` column (one scan of each table)."""
    from abtest.spec.checks import DataFacts
    from abtest.store import Store, quote_ident

    with Store(db, read_only=True) as store:
        events = values = columns = None
        if store.has_table("events"):
            rows = store.con.execute(
                "SELECT event_type, count(*), count(value) FROM events GROUP BY event_type"
            ).fetchall()
            events = {str(t): int(n) for t, n, _ in rows}
            values = {str(t): int(v) for t, _, v in rows}
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
    return DataFacts(events, values, columns)
