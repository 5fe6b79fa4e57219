"""A write-ahead log with group commit: a request is acknowledged once its rows are
on disk.

:meth:`WriteAheadLog.commit` hands a request's rows (one JSON-able dict per row,
each naming its table) to one writer thread, which appends every pending request
to the current segment file as JSON lines, calls ``fsync`` once for all of them
(group commit: the cost of an fsync is shared by the requests that arrived
meanwhile), and only then resolves their futures. The log is a folder of numbered
segment files; a segment is closed when it grows past ``segment_bytes`` and
deleted once the store holds all its rows (:meth:`WriteAheadLog.release`).

What it guarantees: a row whose ``commit`` returned was fsynced before, so it
survives a crash of the process or of the machine (as far as the disk honours
fsync). A crash may leave a last line half-written; it was never acknowledged,
and reading skips it.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Row = dict[str, Any]
SEGMENT = "{:012d}.jsonl"


@dataclass
class _Pending:
    rows: list[Row]
    done: Future[int] = field(default_factory=Future)


@dataclass(frozen=True)
class Committed:
    """Rows made durable together, in one segment."""

    segment: int
    rows: list[Row]


class WriteAheadLog:
    """The service's log in ``folder``; ``on_commit`` receives each fsynced batch."""

    def __init__(
        self,
        folder: Path,
        on_commit: Any = None,
        *,
        segment_bytes: int = 64 << 20,
        max_batch: int = 4096,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._on_commit = on_commit
        self._segment_bytes = segment_bytes
        self._max_batch = max_batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        existing = segments(self.folder)
        self._segment = (existing[-1] + 1) if existing else 1
        self._file = open(self.folder / SEGMENT.format(self._segment), "ab")  # noqa: SIM115
        self.fsyncs = 0
        self.rows_committed = 0
        self.last_commit_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting for the next group commit."""
        return self._queue.qsize()

    def commit(self, rows: list[Row]) -> Future[int]:
        """Queue ``rows`` for the next group commit; the future resolves (with the
        segment number) once they are fsynced."""
        pending = _Pending(rows)
        self._queue.put(pending)
        return pending.done

    def close(self) -> None:
        """Commit what is pending, then stop the writer thread."""
        self._queue.put(None)
        self._thread.join()
        self._file.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            segment = self.write_rows([row for pending in batch for row in pending.rows])
        except BaseException as exc:  # nothing of this batch is acknowledged
            for pending in batch:
                pending.done.set_exception(exc)
            return
        for pending in batch:
            pending.done.set_result(segment)

    def write_rows(self, rows: list[Row]) -> int:
        """Append ``rows``, fsync, hand them to ``on_commit``; the segment they are in.
        Called by one thread at a time: the log's own, or :class:`LoopCommitter`'s loop."""
        began = time.perf_counter()
        segment = self._segment
        lines = b"".join(
            json.dumps(row, separators=(",", ":"), default=str).encode() + b"\n" for row in rows
        )
        self._file.write(lines)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.fsyncs += 1
        self.rows_committed += len(rows)
        self.last_commit_seconds = time.perf_counter() - began
        if self._on_commit is not None:
            self._on_commit(Committed(segment, rows))
        if self._file.tell() >= self._segment_bytes:
            self._file.close()
            self._segment += 1
            self._file = open(self.folder / SEGMENT.format(self._segment), "ab")  # noqa: SIM115
        return segment

    def release(self, upto: int) -> None:
        """Delete the closed segments numbered ``upto`` or lower (their rows are stored)."""
        for number in segments(self.folder):
            if number <= upto and number < self._segment:
                (self.folder / SEGMENT.format(number)).unlink(missing_ok=True)


def segments(folder: Path) -> list[int]:
    """The log's segment numbers, oldest first."""
    return sorted(int(p.stem) for p in Path(folder).glob("*.jsonl") if p.stem.isdigit())


def read_segment(folder: Path, number: int) -> Iterator[Row]:
    """The rows of one segment, skipping a last line a crash cut short."""
    with open(Path(folder) / SEGMENT.format(number), "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return  # torn write: never acknowledged
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                return


class LoopCommitter:
    """Group commit inside an asyncio event loop: the rows of every request that reaches
    :meth:`commit` in one turn of the loop are written and fsynced together at the end
    of that turn. No thread waits for the interpreter lock between a request and its
    fsync (an fsync takes about 0.2 ms on this machine's disk; the lock, when a thread
    waits for it, up to 5 ms)."""

    def __init__(self, wal: WriteAheadLog) -> None:
        self.wal = wal
        self._pending: list[tuple[list[Row], Any]] = []
        self._scheduled = False

    @property
    def depth(self) -> int:
        return len(self._pending)

    async def commit(self, rows: list[Row]) -> int:
        """Return (the segment) once ``rows`` are fsynced."""
        import asyncio

        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append((rows, done))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return int(await done)

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        try:
            segment = self.wal.write_rows([row for rows, _ in batch for row in rows])
        except BaseException as exc:  # nothing of this batch is acknowledged
            for _, done in batch:
                done.set_exception(exc)
            return
        for _, done in batch:
            done.set_result(segment)
