"""The simulator's traffic sent through a running service instead of written to tables.

``looklift simulate --via URL`` simulates the run as usual (the same views, the same
behaviour, the same truth), then replays it against ``looklift serve`` in time
order, as the app would have: each showing of the module is a ``GET
/v1/recommendations`` (the user, the viewed item, the module's size, the view's
time, and the attributes targeting reads, typed, in ``attributes``), and the
service assigns the user, answers the items and logs the exposure and the
impressions itself; each tap and purchase is then posted to ``POST /v1/events``
with the ``view_id`` the service answered. The service must serve the same
world (its neighbors): an answer with other items than the simulated showing is
an error, not a silent difference. The truth stays with the simulator: the
service never knows which encoder is better.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from abtest.simulate.traffic_config import SimulationError

BATCH = 1000
"""Events per ``POST /v1/events``."""


class ServiceClient:
    """One keep-alive HTTP connection to the service at ``url``."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise SimulationError(f"--via {url!r}: give the service's URL, http://HOST:PORT")
        self.url = url
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"content-type": "application/json"} if body is not None else {}
        data = None if body is None else json.dumps(body, default=str)
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            text = response.read()
        except OSError as exc:
            raise SimulationError(f"--via {self.url}: {exc}") from None
        if response.status != 200:
            raise SimulationError(
                f"--via {self.url}: {method} {path.split('?')[0]} answered {response.status}: "
                f"{text[:300].decode(errors='replace')}"
            )
        return json.loads(text)

    def close(self) -> None:
        self.conn.close()


def send_via(
    url: str,
    experiment: str,
    events: pl.DataFrame,
    attributes: dict[str, dict[str, Any]],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Replay ``events`` (the simulator's, with its view ids) through the service; the
    showings and the taps and purchases sent. ``attributes`` holds, per user id, the
    attributes targeting reads."""
    impressions = events.filter(pl.col("event_type") == "impression")
    views = (
        impressions.sort("view_id", "position")
        .group_by("view_id", maintain_order=True)
        .agg(
            pl.col("user_id").first(),
            pl.col("source_item_id").first(),
            pl.col("ts").min(),
            pl.col("item_id"),
        )
        .sort("ts", "view_id")
    )
    client = ServiceClient(url)
    served: dict[str, str] = {}
    try:
        total = views.height
        for done, view in enumerate(views.iter_rows(named=True), start=1):
            query = {
                "user_id": view["user_id"],
                "item_id": view["source_item_id"],
                "k": len(view["item_id"]),
                "experiment": experiment,
                "ts": _iso(view["ts"]),
            }
            typed = attributes.get(view["user_id"])
            if typed:
                query["attributes"] = json.dumps(typed, default=str)
            answer = client.call("GET", "/v1/recommendations?" + urllib.parse.urlencode(query))
            items = [i["item_id"] for i in answer["items"]]
            if items != list(view["item_id"]):
                raise SimulationError(
                    f"--via {url}: the service showed {items} for item {view['source_item_id']}, "
                    f"the simulated world {list(view['item_id'])}: is it serving this database's "
                    "neighbors?"
                )
            served[view["view_id"]] = answer["view_id"]
            if progress and done % 500 == 0:
                progress(done, total)
        others = events.filter(pl.col("event_type") != "impression").sort("ts", "event_id")
        sent = 0
        for chunk in others.iter_slices(BATCH):
            body = [_event(row, served) for row in chunk.iter_rows(named=True)]
            client.call("POST", "/v1/events", {"events": body})
            sent += len(body)
    finally:
        client.close()
    return len(served), sent


def _event(row: dict[str, Any], served: dict[str, str]) -> dict[str, Any]:
    out = {
        k: row[k]
        for k in ("event_id", "user_id", "event_type", "item_id", "source_item_id", "value")
        if row.get(k) is not None
    }
    if row.get("view_id") is not None:
        out["view_id"] = served[row["view_id"]]
        out["position"] = row["position"]
    out["ts"] = _iso(row["ts"])
    return out


def _iso(ts: dt.datetime) -> str:
    return ts.isoformat(sep=" ")


def targeting_attributes(users: pl.DataFrame, columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per user id, the attributes targeting reads (those the users table has)."""
    wanted = [c for c in columns if c in users.columns and c != "user_id"]
    if not wanted:
        return {}
    return {
        row["user_id"]: {c: row[c] for c in wanted if row[c] is not None}
        for row in users.select("user_id", *wanted).iter_rows(named=True)
    }
