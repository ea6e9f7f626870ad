"""Retention on a door's ledger: how fast the nightly run scrubs a three-month-old access log, and how long its
longest transaction holds the ledger's write lock (what a tap at the door may wait behind while it runs).

A site's ledger with `--events` entry events (a busy site's quarter is about 20,000), all acknowledged by the hub,
dated four months ago; the run scrubs them in batches of `--batch`, as `halfday privacy apply` does.
`python -m bench.privacy`; last line one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import delete

from access.config import load_config
from access.db import Database
from access.models import Outbox
from access.privacy import scrub_events
from access.store import Stamp, append_events
from common.privacy import BATCH, Cutoffs, PrivacyConfig
from halfday.sample import make_site

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def ledger(folder: Path, events: int) -> Database:
    config = load_config(make_site(folder, "udp:127.0.0.1:9"))
    db = Database(config.database_url)
    old = NOW - dt.timedelta(days=120)
    use = {"date": old.date().isoformat(), "slot": "morning", "spent": 1, "subscription": "a" * 32, "pass": None}
    for start in range(0, events, 5000):
        items = [
            (
                "entry",
                {
                    "uid": f"{0x10000000 + i:08X}",
                    "holder": "b" * 32,
                    "first_name": "Bruno",
                    "granted": True,
                    "reason": "granted",
                    "plan": "carnet",
                    "balance": 3,
                    "use": use,
                },
                Stamp(old + dt.timedelta(seconds=i), i, "boot", True),
            )
            for i in range(start, min(events, start + 5000))
        ]
        with db.write() as session:
            append_events(session, config.site.device, items)
            session.execute(delete(Outbox))
    return db


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="retention of the access log")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="halfday-bench-") as folder:
        db = ledger(Path(folder), args.events)
        cutoffs = Cutoffs.at(NOW, PrivacyConfig())
        longest = 0.0
        done = 0
        start = time.perf_counter()
        while True:
            began = time.perf_counter()
            with db.write() as session:
                n = scrub_events(session, cutoffs, args.batch)
            longest = max(longest, time.perf_counter() - began)
            done += n
            if n < args.batch:
                break
        elapsed = time.perf_counter() - start
        db.dispose()
    assert done == args.events, f"{done} of {args.events} events scrubbed"
    result = {
        "events": args.events,
        "batch": args.batch,
        "events_per_s": round(done / elapsed),
        "longest_transaction_ms": round(longest * 1000, 1),
    }
    print(
        f"{done} events scrubbed in {elapsed:.1f} s ({result['events_per_s']} events/s); "
        f"longest transaction {result['longest_transaction_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
