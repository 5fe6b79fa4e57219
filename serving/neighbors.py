"""The ``neighbors`` table held in memory: an encoder's ranked neighbors of an item in
one dictionary lookup."""

from __future__ import annotations

from collections.abc import Iterable

from abtest.store import Store


class NeighborTable:
    """``(encoder, item_id) -> ((neighbor_id, score), ...)`` in rank order."""

    def __init__(self, rows: dict[tuple[str, int], tuple[tuple[int, float], ...]]) -> None:
        self._rows = rows

    @classmethod
    def load(cls, store: Store, encoders: Iterable[str]) -> NeighborTable:
        """The neighbors of ``encoders`` from the store."""
        wanted = sorted(set(encoders))
        rows: dict[tuple[str, int], list[tuple[int, float]]] = {}
        if wanted:
            marks = ", ".join("?" * len(wanted))
            cursor = store.con.execute(
                "SELECT encoder, item_id, neighbor_id, score FROM neighbors "
                f"WHERE encoder IN ({marks}) ORDER BY encoder, item_id, rank",
                wanted,
            )
            while chunk := cursor.fetchmany(100_000):
                for encoder, item, neighbor, score in chunk:
                    rows.setdefault((encoder, int(item)), []).append((int(neighbor), float(score)))
        return cls({key: tuple(value) for key, value in rows.items()})

    def encoders(self) -> set[str]:
        return {encoder for encoder, _ in self._rows}

    def get(self, encoder: str, item_id: int, k: int) -> tuple[tuple[int, float], ...] | None:
        """The first ``k`` neighbors, ``None`` when the item has none for ``encoder``."""
        found = self._rows.get((encoder, item_id))
        return None if found is None else found[:k]
