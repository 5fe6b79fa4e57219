"""Nothing acknowledged is lost: a real server under load, SIGKILLed at random moments.

The server runs as ``looklift serve`` on loopback; four client threads send
recommendations and taps/purchases and note every request answered 2xx. The
server is killed (SIGKILL: no shutdown, no flush) three times at random moments
(seeded) and restarted, then stopped. Every acknowledged event must then be in
the store exactly once, every acknowledged showing with all its impressions, and
every acknowledged exposure present. Bounded: about 3 s of load per round.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from abtest.store import Store
from tests.serving.conftest import SPEC

ROUNDS = 3
K = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(db: Path, spec: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "looklift.cli", "serve"),
            *("--db", str(db), "--spec", str(spec), "--port", str(port)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server did not start within 60 s")


class Load:
    """Client threads that remember what the server acknowledged."""

    def __init__(self, port: int, items: list[int], seed: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.items = items
        self.seed = seed
        self.views: dict[str, int] = {}
        """view_id -> impressions promised (k), of acknowledged recommendations."""
        self.events: set[str] = set()
        self.users: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sent = 0

    def run(self, worker: int) -> None:
        rng = random.Random(self.seed * 100 + worker)
        with httpx.Client(base_url=self.url, timeout=5) as client:
            n = 0
            while not self.stop.is_set() and n < 20_000:
                n += 1
                user = f"w{worker}-u{rng.randrange(200)}"
                try:
                    r = client.get(
                        "/v1/recommendations",
                        params={"user_id": user, "item_id": rng.choice(self.items), "k": K},
                    )
                    if r.status_code != 200:
                        time.sleep(0.01)
                        continue
                    shown = r.json()
                    with self.lock:
                        self.views[shown["view_id"]] = len(shown["items"])
                        if shown["in_experiment"]:
                            self.users.add(user)
                    ids = [f"{shown['view_id']}-tap", f"{shown['view_id']}-buy"]
                    tap = {
                        "event_id": ids[0],
                        "user_id": user,
                        "event_type": "tap",
                        "view_id": shown["view_id"],
                        "position": 1,
                    }
                    buy = {**tap, "event_id": ids[1], "event_type": "purchase", "value": 9.5}
                    if client.post("/v1/events", json={"events": [tap, buy]}).status_code == 200:
                        with self.lock:
                            self.events.update(ids)
                except httpx.HTTPError:  # the server is down: try again
                    time.sleep(0.02)
                with self.lock:
                    self.sent += 1


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_every_acknowledged_event_survives_sigkill(live_db: Path, tmp_path: Path) -> None:
    spec = tmp_path / "live.yaml"
    spec.write_text(yaml.safe_dump({k: v for k, v in SPEC.items() if k != "forced"}))
    with Store(live_db, read_only=True) as store:
        items = [
            int(r[0])
            for r in store.con.execute(
                "SELECT DISTINCT item_id FROM neighbors ORDER BY 1 LIMIT 50"
            ).fetchall()
        ]
    port = free_port()
    rng = random.Random(17)
    load = Load(port, items, seed=17)
    server = start(live_db, spec, port)
    threads = [threading.Thread(target=load.run, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(ROUNDS):
            time.sleep(rng.uniform(1.0, 3.0))
            server.send_signal(signal.SIGKILL)
            server.wait()
            server = start(live_db, spec, port)
        time.sleep(1.0)
    finally:
        load.stop.set()
        for t in threads:
            t.join(timeout=30)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -15 is a clean exit
    assert server.returncode in (0, -signal.SIGTERM)
    assert len(load.views) > 50 and len(load.events) > 50, "too little load to tell"
    with Store(live_db, read_only=True) as store:
        counts = dict(
            store.con.execute("SELECT event_id, COUNT(*) FROM events GROUP BY event_id").fetchall()
        )
        per_view = dict(
            store.con.execute(
                "SELECT view_id, COUNT(*) FROM events WHERE event_type = 'impression' "
                "GROUP BY view_id"
            ).fetchall()
        )
        exposed = {
            r[0] for r in store.con.execute("SELECT DISTINCT user_id FROM exposures").fetchall()
        }
    assert max(counts.values()) == 1  # nothing stored twice, replays included
    missing = load.events - counts.keys()
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
    short = {v: k for v, k in load.views.items() if per_view.get(v, 0) != k}
    assert not short, f"{len(short)} acknowledged showings lost impressions"
    assert load.users <= exposed
