"""Sample data for the demo: a network of two spaces, invented members, and a month of past half-days."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from access.config import Config
from access.db import Database
from access.ledger import SlotRules
from access.policy import apply, decide
from access.store import Stamp, load_state, record_entries

DEMO_SITE = "la-filature"
OTHER_SITE = "le-moulin"
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class DemoMember:
    first_name: str
    last_name: str
    plan: str  # "Illimité" or "Carnet 10"
    badge: str


MEMBERS = (
    DemoMember("Alice", "Martin", "Illimité", "1A2B3C4D"),
    DemoMember("Bruno", "Petit", "Carnet 10", "2B3C4D5E"),
    DemoMember("Chloé", "Roux", "Carnet 10", "3C4D5E6F"),
    DemoMember("David", "Lefèvre", "Illimité", "4D5E6F70"),
    DemoMember("Emma", "Garcia", "Carnet 10", "5E6F7081"),
    DemoMember("Farid", "Benali", "Illimité", "6F708192"),
    DemoMember("Gaëlle", "Moreau", "Carnet 10", "708192A3"),
    DemoMember("Hugo", "Fontaine", "Illimité", "8192A3B4"),
)
UNKNOWN_BADGE = "9A0B1C2D"


def seed_hub(database_url: str) -> dict[str, str]:
    """Create the network at the hub: two sites, two plans, the members and their badges. Returns badge -> id."""
    from sync.hub import admin
    from sync.hub.db import HubDatabase

    db = HubDatabase(database_url)
    db.create_all()
    try:
        admin.add_site(db, DEMO_SITE, "La Filature")
        admin.add_site(db, OTHER_SITE, "Le Moulin")
        # Open all day, so the demo answers whatever the hour it is run at.
        start, end = dt.time(0, 0), dt.time(23, 59)
        plans = {
            "Illimité": admin.add_plan(db, "Illimité", "unlimited", price_cents=6000, hours_start=start, hours_end=end),
            "Carnet 10": admin.add_plan(
                db, "Carnet 10", "carnet", half_days=10, price_cents=8000, hours_start=start, hours_end=end
            ),
        }
        ids = {}
        for m in MEMBERS:
            email = f"{m.first_name.lower()}@example.org"
            member_id = admin.add_member(db, m.first_name, m.last_name, email)
            subscription = admin.add_subscription(db, member_id, plans[m.plan])
            if m.plan == "Carnet 10":
                admin.top_up(db, subscription, 30)  # bought more than one carnet: credit left after a month
            admin.enrol_badge(db, member_id, m.badge)
            ids[m.badge] = member_id
        return ids
    finally:
        db.dispose()


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
                            "id": uuid.uuid4().hex,
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
    rules = SlotRules(site.tz, site.slots.morning_start, site.slots.noon, site.slots.afternoon_end)
    database = Database(config.database_url)
    rng = random.Random(1)
    recorded = 0
    try:
        with database.write() as session:
            state = load_state(session, rules, site.id, site.device, today - dt.timedelta(days=40))
            entries = []
            for day in _past_days(today):
                for m in MEMBERS:
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
