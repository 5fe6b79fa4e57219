"""The write-ahead log: group commit, a torn last line, replay into the store."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from abtest.store import Store
from serving.wal import LoopCommitter, Row, WriteAheadLog, read_segment, segments
from serving.writer import replay


def row(i: int) -> dict[str, object]:
    return {
        "table": "events",
        "event_id": f"e{i}",
        "ts": "2026-03-02 10:00:00",
        "user_id": f"u{i % 7}",
        "event_type": "tap",
        "view_id": "v",
        "position": 1,
    }


def test_concurrent_commits_share_fsyncs_and_all_land(tmp_path: Path) -> None:
    seen: list[int] = []
    wal = WriteAheadLog(tmp_path / "log", lambda c: seen.append(len(c.rows)))
    futures = []
    lock = threading.Lock()

    def client(base: int) -> None:
        for i in range(50):
            f = wal.commit([row(base + i)])
            with lock:
                futures.append(f)

    threads = [threading.Thread(target=client, args=(t * 1000,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for f in futures:
        f.result(timeout=10)
    wal.close()
    assert sum(seen) == 400 == wal.rows_committed
    assert wal.fsyncs < 400  # group commit: requests that arrived together shared an fsync
    rows = [r for n in segments(tmp_path / "log") for r in read_segment(tmp_path / "log", n)]
    assert sorted(r["event_id"] for r in rows) == sorted(
        f"e{t * 1000 + i}" for t in range(8) for i in range(50)
    )


def test_a_torn_last_line_is_skipped_and_replay_stores_each_row_once(
    tmp_path: Path, live_db: Path
) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    lines = [json.dumps(row(i)) for i in range(5)]
    (folder / "000000000001.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:20])
    assert len(list(read_segment(folder, 1))) == 5
    with Store(live_db) as store:
        assert replay(store, folder) == 5
        assert replay(store, folder) == 5  # a second replay (a crash before cleanup)...
        (n,) = store.fetch_one("SELECT COUNT(*) FROM events") or (0,)
    assert n == 5  # ...stores nothing twice


class SlowDisk(WriteAheadLog):
    """The real log on a disk whose fsync takes 20 ms, watched: how many writes are in
    flight, and which rows were written."""

    def __init__(self, folder: Path, fail_group: int | None = None) -> None:
        super().__init__(folder)
        self.in_flight = self.most_in_flight = self.groups = 0
        self.written: set[str] = set()
        self.fail_group = fail_group

    def append(self, lines: bytes, rows: list[Row]) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.groups += 1
        try:
            time.sleep(0.02)
            if self.groups == self.fail_group:
                raise OSError("disk full")
            segment = super().append(lines, rows)
            self.written |= {str(r["event_id"]) for r in rows}
            return segment
        finally:
            self.in_flight -= 1


def commit_from_the_loop(wal: SlowDisk, n: int) -> list[BaseException | None]:
    """``n`` requests arriving 1 ms apart, each committing one row; what each got."""

    async def request(i: int, committer: LoopCommitter) -> BaseException | None:
        await asyncio.sleep(i * 0.001)
        try:
            await committer.commit([row(i)])
        except OSError as exc:
            return exc
        assert f"e{i}" in wal.written  # acknowledged only once written and fsynced
        return None

    async def serve() -> list[BaseException | None]:
        committer = LoopCommitter(wal)
        try:
            return list(await asyncio.gather(*(request(i, committer) for i in range(n))))
        finally:
            committer.close()

    return asyncio.run(serve())


def test_the_loop_groups_requests_that_arrive_during_an_fsync(tmp_path: Path) -> None:
    wal = SlowDisk(tmp_path / "log")
    outcomes = commit_from_the_loop(wal, 200)
    wal.close()
    assert outcomes == [None] * 200
    assert wal.most_in_flight == 1  # one fsync at a time...
    assert wal.groups <= 200 * 0.001 / 0.02 + 3  # ...shared by all that came meanwhile
    rows = [r for n in segments(tmp_path / "log") for r in read_segment(tmp_path / "log", n)]
    assert sorted(r["event_id"] for r in rows) == sorted(f"e{i}" for i in range(200))


@pytest.mark.parametrize("fail_group", [1, 3])
def test_a_failed_write_acknowledges_nothing_of_its_group(tmp_path: Path, fail_group: int) -> None:
    wal = SlowDisk(tmp_path / "log", fail_group=fail_group)
    outcomes = commit_from_the_loop(wal, 100)
    wal.close()
    failed = {f"e{i}" for i, o in enumerate(outcomes) if o is not None}
    assert failed and all(isinstance(o, OSError) for o in outcomes if o is not None)
    assert failed.isdisjoint(wal.written)  # each request told the truth...
    assert len(failed) + len(wal.written) == 100  # ...and the later groups went on
