"""The live service under bounded load: throughput and latency of /v1/recommendations,
with logging (durable) and without, in one run.

A store with two encoders' neighbors (``--items`` items, 20 each; random, as the
service never looks at what they are) is served by ``looklift serve`` on 127.0.0.1
(one uvicorn worker); a load generator in another process keeps ``--connections``
HTTP/1.1 keep-alive connections busy with ``GET /v1/recommendations`` for random
users (``--users``, so that first exposures keep coming) and items, k = 10, until
``--requests`` are answered or ``--seconds`` pass, whichever comes first: it
always stops by itself. The same load runs against ``looklift serve --no-log``,
which assigns and recommends but logs nothing. Client-side latency is from
writing the request to reading the whole response; the time from a request's
rows queued to fsynced (what a durable event costs) is the server's own
histogram, read from ``/metrics``.

The load generator is a few lines of asyncio over raw sockets (an HTTP client
library would cost more CPU than the server on a 2-core machine).

    .venv/bin/python benchmarks/bench_serve.py [--requests 60000] [--seconds 20]
        [--connections 32] [--users 200000] [--items 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPEC = """key: bench-serve
unit: user_id
variants:
  - {name: control, weight: 0.5, encoder: cnn-pca}
  - {name: treatment, weight: 0.5, encoder: finetuned}
"""


def make_store(path: Path, items: int, seed: int = 0) -> None:
    """A store holding only the two encoders' neighbors (20 per item)."""
    import polars as pl

    from abtest.store import Store

    rng = np.random.default_rng(seed)
    k = 20
    frames = []
    for encoder in ("cnn-pca", "finetuned"):
        item = np.repeat(np.arange(items, dtype=np.int64), k)
        frames.append(
            pl.DataFrame(
                {
                    "encoder": [encoder] * len(item),
                    "item_id": item,
                    "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), items),
                    "neighbor_id": rng.integers(0, items, len(item)),
                    "score": np.sort(rng.random(len(item)))[::-1],
                }
            )
        )
    with Store(path) as store:
        store.ingest("neighbors", pl.concat(frames))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(db: Path, spec: Path, port: int, log: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "looklift.cli", "serve", "--db", str(db), "--spec", str(spec)]
    args += ["--port", str(port), "--log" if log else "--no-log"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if b"200 OK" in s.recv(4096):
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    body = await reader.readexactly(int(match.group(1))) if match else b""
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n")[0].decode() + " " + body[:200].decode())
    return body


async def load(
    port: int, requests: int, seconds: float, connections: int, users: int, items: int
) -> tuple[list[float], float]:
    """Latencies (seconds) of the answered requests, and the elapsed wall time."""
    latencies: list[float] = []
    budget = [requests]
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        rng = random.Random(index)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                path = (
                    f"/v1/recommendations?user_id=u{rng.randrange(users)}"
                    f"&item_id={rng.randrange(items)}&k=10"
                )
                began = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                await _read_response(reader)
                latencies.append(time.perf_counter() - began)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    return latencies, time.perf_counter() - began


def durable_seconds(port: int) -> tuple[float, int]:
    """The server's mean time from rows queued to fsynced, and the count."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        text = b""
        while chunk := s.recv(65536):
            text += chunk
    found = dict(re.findall(rb"^looklift_durable_seconds_(sum|count) (\S+)$", text, re.M))
    total, count = float(found.get(b"sum", 0)), int(float(found.get(b"count", 0)))
    return (total / count if count else float("nan")), count


def run_load(args: argparse.Namespace, port: int) -> dict[str, float]:
    """The load in this process (called in a child by :func:`measure`)."""
    asyncio.run(load(port, 500, 10, 8, args.users, args.items))  # warm-up
    lat, elapsed = asyncio.run(
        load(port, args.requests, args.seconds, args.connections, args.users, args.items)
    )
    ms = np.array(lat) * 1000
    return {
        "requests": len(lat),
        "seconds": elapsed,
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
    }


def measure(args: argparse.Namespace, db: Path, spec: Path, log: bool) -> dict[str, float]:
    port = free_port()
    server = start(db, spec, port, log)
    try:
        child = subprocess.run(
            [sys.executable, __file__, "--load-port", str(port)]
            + [f"--{k}={v}" for k, v in vars(args).items() if k in LOAD_ARGS],
            check=True,
            capture_output=True,
            text=True,
        )
        out = json.loads(child.stdout.strip().splitlines()[-1])
        out["durable_ms"], out["durable_n"] = (x for x in durable_seconds(port))
        out["durable_ms"] *= 1000
        return out
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)


LOAD_ARGS = ("requests", "seconds", "connections", "users", "items")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--load-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_port:
        print(json.dumps(run_load(args, args.load_port)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        db, spec = Path(tmp) / "serve.duckdb", Path(tmp) / "spec.yaml"
        make_store(db, args.items)
        spec.write_text(SPEC)
        results = {}
        for log in (True, False):
            results[log] = measure(args, db, spec, log)
            print(f"  {'logging' if log else 'no logging'}: {results[log]['rps']:,.0f} req/s")
        from abtest.store import Store

        with Store(db, read_only=True) as store:
            (events,) = store.fetch_one("SELECT COUNT(*) FROM events") or (0,)
    print(
        f"\n{os.cpu_count()} cores; {args.connections} connections; server and load on the "
        f"same machine; GET /v1/recommendations, k = 10\n"
    )
    print(f"  {'':<28} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'durable ms':>11}")
    for log, label in ((True, "logging (durable)"), (False, "no logging (--no-log)")):
        r = results[log]
        durable = f"{r['durable_ms']:11.2f}" if log else f"{'':>11}"
        print(
            f"  {label:<28} {int(r['requests']):>9,} {r['rps']:8,.0f} {r['p50']:7.2f} "
            f"{r['p99']:7.2f} {durable}"
        )
    logged = results[True]
    met = logged["rps"] >= 2000 and logged["p99"] < 20
    print(
        f"\n  events stored by the logging run: {events:,} (11 rows per request: an exposure "
        f"for a user's first request, 10 impressions)\n  goal: >= 2,000 req/s with p99 < 20 ms, "
        f"logging on: {'met' if met else 'MISSED'}; logging costs "
        f"{1 - logged['rps'] / results[False]['rps']:.0%} of the throughput"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
