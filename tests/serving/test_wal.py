"""The write-ahead log: group commit, a torn last line, replay into the store."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from abtest.store import Store
from serving.wal import WriteAheadLog, read_segment, segments
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
