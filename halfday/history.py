"""The demo's past month: half-days at this door and at the network's other space, so the wall display's chart
and the hub's reports have history to show."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

from access.config import Config
from access.db import Database
from access.policy import apply, decide
from access.store import Stamp, load_state, record_entries
from common.db import new_id
from halfday.sample import MEMBERS, OTHER_SITE

PARIS = ZoneInfo("Europe/Paris")


def seed_other_site(database_url: str, member_ids: dict[str, str], today: dt.date) -> int:
    """A month of entries at the other space, ingested by the hub as if its door had sent them."""
    from sync.hub.db import HubDatabase
    from sync.hub.ingest import Ingestor

    db = HubDatabase(database_url)
    rng = random.Random(2)
    events = []
    seq = 0
    for day in _past_days(today):
        for badge, member_id in member_ids.items():
            for slot, hour in (("morning", 9), ("afternoon", 14)):
                if rng.random() < 0.2:
                    seq += 1
                    at = dt.datetime.combine(day, dt.time(hour, rng.randrange(60)), PARIS).astimezone(dt.UTC)
                    use = {"date": day.isoformat(), "slot": slot, "spent": 0, "subscription": None, "pass": None}
                    events.append(
                        {
                            "v": 1,
                            "id": new_id(),
                            "site": OTHER_SITE,
                            "device": "door-1",
                            "seq": seq,
                            "kind": "entry",
                            "at": at.isoformat().replace("+00:00", "Z"),
                            "mono_ns": seq,
                            "boot": "demo",
                            "clock_ok": True,
                            "data": {
                                "uid": badge,
                                "holder": member_id,
                                "granted": True,
                                "reason": "granted",
                                "plan": None,
                                "use": use,
                            },
                        }
                    )
    try:
        ingestor = Ingestor(db)
        for start in range(0, len(events), 200):
            ingestor.ingest({"v": 1, "site": OTHER_SITE, "device": "door-1", "events": events[start : start + 200]})
    finally:
        db.dispose()
    return len(events)


def seed_past_month(config: Config, today: dt.date) -> int:
    """A month of taps at this door, decided by the real policy with their past times, into the local ledger.

    They travel to the hub like any other event, so the wall display's chart and the hub's reports have history.
    """
    site = config.site
    rules = site.rules
    database = Database(config.database_url)
    rng = random.Random(1)
    recorded = 0
    try:
        with database.write() as session:
            state = load_state(session, rules, site.id, site.device, today - dt.timedelta(days=40))
            entries = []
            for day in _past_days(today):
                for m in MEMBERS:
                    if m.badge is None:
                        continue
                    for hour in (9, 14):
                        if rng.random() < 0.45:
                            local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60)), site.tz)
                            at = local.astimezone(dt.UTC)
                            decision = decide(m.badge, at, state)
                            apply(decision, state)
                            entries.append((decision, Stamp(at, 0, "demo", True)))
            record_entries(session, site.id, site.device, entries)
            recorded = len(entries)
    finally:
        database.dispose()
    return recorded


def _past_days(today: dt.date) -> list[dt.date]:
    """Working days (Monday to Friday) of the month so far."""
    start = today.replace(day=1)
    days = []
    day = start
    while day < today:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days
