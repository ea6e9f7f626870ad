"""Event log: sustained decisions recorded per second through the door daemon's durable write path.

Taps are fed to the daemon as fast as it takes them (its `handle_tap`, as the reader thread calls it) and its own
main loop commits them; the figure counts decisions durably committed per second. In the same run: raw
single-row SQLite commits with the same pragmas (WAL, synchronous=FULL, BEGIN IMMEDIATE), and the daemon's path
with one decision per commit (taps spaced so nothing queues).
`python -m bench.event_log`; last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from access.config import load_config
from access.daemon.door import Door
from halfday.sample import extra_badge, make_site

BADGES = 200


def raw_commits(path: Path, n: int) -> float:
    """Single-row commits with the door's pragmas: the floor SQLite sets on this disk."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, device TEXT, seq INTEGER, data TEXT)")
    row = "x" * 300  # about the size of an entry event
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO log (device, seq, data) VALUES (?, ?, ?)", ("door-1", i, row))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def daemon_path(folder: Path, n: int, spaced: bool) -> float:
    """Decisions committed per second by the daemon; `spaced` waits for each commit before the next tap."""
    config = load_config(make_site(folder, "udp:127.0.0.1:9", extra_members=BADGES))
    door = Door(config, pin_factory=MockFactory(), use_bus=False)
    door.cache.reload()  # the state, without opening the (absent) reader
    runner = threading.Thread(target=door.run, daemon=True)
    runner.start()
    uids = [extra_badge(i) for i in range(BADGES)]
    try:
        start = time.perf_counter()
        for i in range(n):
            door.handle_tap(uids[i % BADGES], time.monotonic_ns())
            if spaced:
                while door.taps_recorded <= i:
                    time.sleep(0)
        while door.taps_recorded < n:
            time.sleep(0.001)
        elapsed = time.perf_counter() - start
    finally:
        door.stopping.set()
        runner.join(5)
        door.devices.close()
        door.db.dispose()
    return n / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="event log throughput")
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="halfday-bench-") as folder:
        base = Path(folder)
        raw = raw_commits(base / "raw.db", args.events)
        (base / "a").mkdir()
        (base / "b").mkdir()
        sustained = daemon_path(base / "a", args.events, spaced=False)
        one_by_one = daemon_path(base / "b", args.events // 5, spaced=True)
    result = {
        "events": args.events,
        "events_per_s": round(sustained),
        "raw_per_s": round(raw),
        "ratio": round(sustained / raw, 3),
        "unbatched_events_per_s": round(one_by_one),
        "unbatched_ratio": round(one_by_one / raw, 3),
    }
    print(
        f"daemon, sustained (group commit): {result['events_per_s']} decisions/s\n"
        f"daemon, one decision per commit: {result['unbatched_events_per_s']} decisions/s\n"
        f"raw single-row SQLite commits, same pragmas: {result['raw_per_s']} commits/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
