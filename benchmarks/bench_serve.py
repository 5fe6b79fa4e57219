"""The live service under bounded load: throughput and latency of /v1/recommendations,
with logging (durable) and without, in one run.

A store with two encoders' neighbors (``--items`` items, 20 each; random, as the
service never looks at what they are) is served by ``looklift serve`` on 127.0.0.1
(one uvicorn worker), and a load generator in another process sends
``GET /v1/recommendations`` for random users (``--users``, so that first exposures
keep coming) and items, k = 10, over HTTP/1.1 keep-alive connections, twice:

- at a fixed offered rate (open loop, ``--rate`` requests/s for ``--rate-seconds``):
  requests are due on a fixed schedule, and a request's latency counts from when it
  was due, so a slow answer that delays the next ones is counted in full (no
  coordinated omission);
- then at the most the service serves (closed loop): ``--connections`` connections
  each send a request as soon as the last one is answered, until ``--requests``
  are answered or ``--seconds`` pass.

Both always stop by themselves. Each of ``--repeat`` runs starts fresh servers on a
fresh store, and the table shows the median run and the range (a shared 2-core
virtual machine has pauses of its own). The same loads run against ``looklift serve
--no-log``, which assigns and recommends but logs nothing. Client-side latency is
from writing the request (or its due time) to reading the whole response; the time
from a request's rows queued to fsynced (what a durable event costs) is the
server's own histogram, read from ``/metrics``.

The load generator is a few lines of asyncio over raw sockets (an HTTP client
library would cost more CPU than the server on a 2-core machine).

    .venv/bin/python benchmarks/bench_serve.py [--requests 60000] [--seconds 20]
        [--connections 32] [--rate 2000] [--rate-seconds 30] [--users 200000]
        [--items 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
    port: int,
    requests: int,
    seconds: float,
    connections: int,
    users: int,
    items: int,
    rate: float = 0.0,
) -> tuple[list[float], float]:
    """Latencies (seconds) of the answered requests, and the elapsed wall time. With a
    ``rate``, request ``j`` is due at ``j / rate`` seconds (over the connections in
    turn) and its latency counts from then."""
    latencies: list[float] = []
    budget = [requests]
    began = time.perf_counter()
    deadline = began + seconds

    async def worker(index: int) -> None:
        rng = random.Random(index)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for turn in itertools.count():
                if budget[0] <= 0 or time.perf_counter() >= deadline:
                    return
                budget[0] -= 1
                path = (
                    f"/v1/recommendations?user_id=u{rng.randrange(users)}"
                    f"&item_id={rng.randrange(items)}&k=10"
                )
                if rate:
                    due = began + (turn * connections + index) / rate
                    if due >= deadline:
                        return
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                else:
                    due = time.perf_counter()
                writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
                await _read_response(reader)
                latencies.append(time.perf_counter() - due)
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return latencies, time.perf_counter() - began


def durable_seconds(port: int) -> tuple[float, int]:
    """The server's total time from rows queued to fsynced, and how many times."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        text = b""
        while chunk := s.recv(65536):
            text += chunk
    found = dict(re.findall(rb"^looklift_durable_seconds_(sum|count) (\S+)$", text, re.M))
    return float(found.get(b"sum", 0)), int(float(found.get(b"count", 0)))


def run_load(args: argparse.Namespace, port: int) -> dict[str, float]:
    """The load in this process (called in a child by :func:`measure`)."""
    asyncio.run(load(port, 500, 10, 8, args.users, args.items))  # warm-up
    if args.rate:
        phase = (port, int(args.rate * args.rate_seconds) + 1, args.rate_seconds)
        lat, elapsed = asyncio.run(
            load(*phase, args.connections, args.users, args.items, rate=args.rate)
        )
    else:
        phase = (port, args.requests, args.seconds)
        lat, elapsed = asyncio.run(load(*phase, args.connections, args.users, args.items))
    ms = np.array(lat) * 1000
    return {
        "requests": len(lat),
        "seconds": elapsed,
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
    }


def measure(args: argparse.Namespace, db: Path, spec: Path, log: bool) -> list[dict[str, float]]:
    """The fixed-rate, then the closed-loop load against one server; their results in
    the order closed loop, fixed rate."""
    port = free_port()
    server = start(db, spec, port, log)
    try:
        phases: dict[float, dict[str, float]] = {}
        # The fixed rate first: after the closed loop's saturation the disk is still
        # absorbing its writes, and the fixed-rate phase would start in that wake.
        for rate in (args.rate, 0.0):
            before = durable_seconds(port)
            child = subprocess.run(
                [sys.executable, __file__, "--load-port", str(port), f"--rate={rate}"]
                + [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k in LOAD_ARGS],
                check=True,
                capture_output=True,
                text=True,
            )
            out = json.loads(child.stdout.strip().splitlines()[-1])
            after = durable_seconds(port)
            count = after[1] - before[1]
            out["durable_ms"] = 1000 * (after[0] - before[0]) / count if count else float("nan")
            phases[rate] = out
        return [phases[0.0], phases[args.rate]]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)


LOAD_ARGS = ("requests", "seconds", "connections", "rate_seconds", "users", "items")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--rate-seconds", type=float, default=30.0)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs (fresh servers and store)")
    parser.add_argument("--load-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_port:
        print(json.dumps(run_load(args, args.load_port)))
        return 0
    results: dict[bool, list[list[dict[str, float]]]] = {True: [], False: []}
    stored = []
    for run in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
            db, spec = Path(tmp) / "serve.duckdb", Path(tmp) / "spec.yaml"
            make_store(db, args.items)
            spec.write_text(SPEC)
            for log in (True, False):
                most, fixed = measure(args, db, spec, log)
                results[log].append([most, fixed])
                print(
                    f"  run {run}, {'logging' if log else 'no logging'}: at most "
                    f"{most['rps']:,.0f} req/s (p99 {most['p99']:.1f} ms); at "
                    f"{args.rate:,.0f} req/s offered, p99 {fixed['p99']:.1f} ms",
                    flush=True,
                )
            from abtest.store import Store

            with Store(db, read_only=True) as store:
                stored.append(
                    [
                        (store.fetch_one(f"SELECT COUNT(*) FROM {table}") or (0,))[0]
                        for table in ("events", "exposures")
                    ]
                )
    print(
        f"\n{os.cpu_count()} cores; server and load on the same machine; "
        f"GET /v1/recommendations, k = 10; {args.connections} keep-alive connections; "
        f"median of {args.repeat} runs [lowest-highest]\n"
    )
    head = f"{'req/s':>18} {'p50 ms':>7} {'p99 ms':>18} {'durable ms':>11}"

    def median(log: bool, phase: int, key: str) -> float:
        return float(np.median([r[phase][key] for r in results[log]]))

    def spread(log: bool, phase: int, key: str, fmt: str) -> str:
        values = [r[phase][key] for r in results[log]]
        return f"{median(log, phase, key):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"

    for phase, title in (
        (0, "at the most it serves (closed loop)"),
        (1, f"at {args.rate:,.0f} req/s offered (open loop, latency from the due time)"),
    ):
        print(f"  {title}\n  {'':<24} {head}")
        for log, label in ((True, "logging (durable)"), (False, "no logging (--no-log)")):
            durable = f"{median(log, phase, 'durable_ms'):11.2f}" if log else f"{'':>11}"
            print(
                f"  {label:<24} {spread(log, phase, 'rps', ',.0f'):>18} "
                f"{median(log, phase, 'p50'):7.2f} {spread(log, phase, 'p99', '.1f'):>18} "
                f"{durable}"
            )
        print()
    most_rps = median(True, 0, "rps")
    fixed_rps, fixed_p99 = median(True, 1, "rps"), median(True, 1, "p99")
    within = sum(r[1]["p99"] < 20 for r in results[True])
    met = args.rate >= 2000 and fixed_rps >= 0.98 * args.rate and fixed_p99 < 20
    events, exposures = stored[-1]
    print(
        f"  stored by the last logging run: {events:,} events (10 impressions a request) "
        f"and {exposures:,} exposures (a user's first request)\n"
        f"  goal, logging on: 2,000 req/s sustained with p99 < 20 ms: "
        f"{'met' if met else 'MISSED'} (at {args.rate:,.0f} req/s offered: median p99 "
        f"{fixed_p99:.1f} ms; under 20 ms in {within} of {args.repeat} runs)\n"
        f"  at the most, logging on: {most_rps:,.0f} req/s with p99 {median(True, 0, 'p99'):.1f}"
        f" ms; logging costs {1 - most_rps / median(False, 0, 'rps'):.0%} of the most "
        f"throughput"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
