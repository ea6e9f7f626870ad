"""Benchmark: `halfday backup` of a ledger with a long history while a door writes. The ledger holds a year and more of
a busy site's events (default 200,000, each with the entry's data); a writer thread records an entry every
`--every-ms` in its own durable transaction (`BEGIN IMMEDIATE`, `synchronous=FULL`), as the door does, and times
each one; meanwhile `access.backup.backup` runs `--runs` times (online copy, `integrity_check`, fsync, prune).

Reported: the backup's duration, the copy's size, and the door's write times during the backups against the same
writes without a backup. Target: the door's p99 write during a backup under 50 ms (a tap is never held waiting for a
copy), a backup of 200,000 events in under 30 s on this machine.

Run: python -m bench.backup [--events N] [--runs N] [--every-ms N]  (last line: one JSON object)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from access.backup import backup
from access.config import load_config
from access.db import Database, migrate
from access.default_config import render
from access.store import Stamp, append_event, append_events
from bench.nfc_raw import percentile

DEVICE = "door-1"
ENTRY = {
    "uid": "04A23B1C",
    "holder": "5" * 32,
    "first_name": "Bruno",
    "granted": True,
    "reason": "ok",
    "plan": "carnet",
    "balance": 7,
    "use": {"date": "2026-11-29", "slot": "morning", "spent": 1, "subscription": "6" * 32, "pass": None},
}


def _history(db: Database, events: int) -> None:
    stamp = Stamp.now("bench")
    for start in range(0, events, 5000):
        with db.write() as session:
            append_events(session, DEVICE, [("entry", ENTRY, stamp)] * min(5000, events - start))


def _writes(db: Database, stop: threading.Event, every_s: float, times: list[float]) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        with db.write() as session:
            append_event(session, DEVICE, "entry", ENTRY, Stamp.now("bench"))
        times.append((time.perf_counter() - began) * 1000)
        stop.wait(every_s)


def _timed_writes(db: Database, seconds: float, every_s: float) -> list[float]:
    times: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(target=_writes, args=(db, stop, every_s, times))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--every-ms", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        folder = Path(tmp)
        config_path = folder / "halfday.toml"
        config_path.write_text(render("bench", "Bench", str(folder / "halfday.db"), "mock", "udp:127.0.0.1:9"))
        config = load_config(config_path)
        migrate(config.database_url)
        db = Database(config.database_url)
        _history(db, args.events)
        every_s = args.every_ms / 1000
        quiet = _timed_writes(db, 3.0, every_s)

        during: list[float] = []
        durations: list[float] = []
        stop = threading.Event()
        writer = threading.Thread(target=_writes, args=(db, stop, every_s, during))
        writer.start()
        try:
            for run in range(args.runs):
                began = time.perf_counter()
                done = backup(config)
                durations.append(time.perf_counter() - began)
                size = done.file.stat().st_size
                print(f"backup {run + 1}: {durations[-1]:.2f} s, {size / 1e6:.1f} MB, {done.events} events", flush=True)
                time.sleep(1.0)  # backups are named to the second
        finally:
            stop.set()
            writer.join()
        db.dispose()
    result = {
        "events": args.events,
        "backup_s_max": round(max(durations), 2),
        "backup_s_min": round(min(durations), 2),
        "backup_mb": round(size / 1e6, 1),
        "writes_during": len(during),
        "write_ms_p50_during": round(percentile(during, 50), 2),
        "write_ms_p99_during": round(percentile(during, 99), 2),
        "write_ms_max_during": round(max(during), 2),
        "write_ms_p99_quiet": round(percentile(quiet, 99), 2),
        "write_ms_max_quiet": round(max(quiet), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
