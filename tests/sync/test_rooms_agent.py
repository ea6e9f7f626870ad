"""The appliance's sync agent and the rooms: it tells the hub its rooms when they change (and nothing for a site
without any), books what the hub's signed `book` command asks through the same core as the kiosk, answers a refusal
with its reason, and books a replayed command only once."""

from __future__ import annotations

import datetime as dt
import secrets
import zoneinfo
from typing import Any

from sqlalchemy import select

from access.db import Database
from access.ledger import SlotRules
from access.models import Booking, Resource
from access.models import Event as DoorEvent
from access.store import Stamp
from sync.agent.bookings import book_for_hub, send_resources
from sync.agent.health import HealthWatch
from sync.hub.config import HubSettings
from sync.mqtt import Message
from sync.protocol import command_topic, dumps
from sync.signing import load_private_key, make_command
from tests.support.wait import wait_until
from tests.sync.conftest import DEVICE, SITE

ROOM = "7" * 32
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def add_room(db: Database, name: str = "Salle du Lot") -> None:
    with db.write() as session:
        session.add(Resource(id=ROOM, name=name, kind="meeting_room", capacity=6, feed_secret=secrets.token_hex(16)))


def events(db: Database, kind: str) -> list[dict[str, Any]]:
    with db.read() as session:
        rows = session.execute(select(DoorEvent).where(DoorEvent.kind == kind).order_by(DoorEvent.seq)).scalars()
        return [dict(r.data) for r in rows]


def test_the_rooms_go_to_the_hub_when_they_change_and_only_then(door_db: Database) -> None:
    stamp = Stamp.now("boot-1")
    assert not send_resources(door_db, DEVICE, stamp), "a site without rooms has nothing to say"
    add_room(door_db)
    assert send_resources(door_db, DEVICE, stamp)
    assert not send_resources(door_db, DEVICE, stamp)
    with door_db.write() as session:
        room = session.get(Resource, ROOM)
        assert room is not None
        room.name, room.active = "Salle du Lot (rénovée)", False
    assert send_resources(door_db, DEVICE, stamp)
    said = events(door_db, "resources")
    assert [[(r["name"], r["active"]) for r in e["resources"]] for e in said] == [
        [("Salle du Lot", True)],
        [("Salle du Lot (rénovée)", False)],
    ]


def test_a_refused_request_is_answered_with_its_reason(door_db: Database) -> None:
    add_room(door_db)
    rules = SlotRules(PARIS)
    today = dt.datetime.now(PARIS).date()
    ask: dict[str, Any] = {
        "request": "a" * 32,
        "resource": ROOM,
        "half_days": [{"date": (today - dt.timedelta(days=1)).isoformat(), "slot": "morning"}],
        "name": "Paul",
        "member": None,
        "paid_by": "counter",
    }
    assert book_for_hub(door_db, SITE, DEVICE, ask, Stamp.now("boot-1"), rules) == "past"
    unknown = {**ask, "request": "b" * 32, "resource": "9" * 32}
    assert book_for_hub(door_db, SITE, DEVICE, unknown, Stamp.now("boot-1"), rules) == "unknown_resource"
    assert events(door_db, "booking_refused") == [
        {"request": "a" * 32, "reason": "past"},
        {"request": "b" * 32, "reason": "unknown_resource"},
    ]
    with door_db.read() as session:
        assert session.execute(select(Booking)).first() is None


def test_a_replayed_book_command_books_once(
    make_agent: Any, door_db: Database, hub_settings: HubSettings, tmp_path: Any
) -> None:
    add_room(door_db)
    agent = make_agent()
    key = load_private_key(hub_settings.private_key_file)
    day = dt.datetime.now(PARIS).date() + dt.timedelta(days=1)
    args = {
        "request": "c" * 32,
        "resource": ROOM,
        "half_days": [{"date": day.isoformat(), "slot": "morning"}, {"date": day.isoformat(), "slot": "afternoon"}],
        "name": "Inès",
        "member": None,
        "paid_by": "voucher",
    }
    command = dumps(make_command(key, SITE, DEVICE, "book", dt.datetime.now(dt.UTC), ttl_s=60, args=args))
    message = Message(command_topic(SITE, DEVICE), command)
    agent._inbox.put(message)
    agent._inbox.put(message)
    assert wait_until(lambda: agent.stats.rejected >= 1, 10), "the replay was not refused"
    booked = events(door_db, "booking")
    assert len(booked) == 1
    assert (booked[0]["request"], booked[0]["origin"], booked[0]["paid_by"]) == ("c" * 32, "hub", "voucher")
    assert [s["slot"] for s in booked[0]["slots"]] == ["morning", "afternoon"]
    with door_db.read() as session:
        rows = session.execute(select(Booking)).scalars().all()
    assert sorted((b.slot, b.origin, b.code is not None) for b in rows) == [
        ("afternoon", "hub", True),
        ("morning", "hub", True),
    ]


def test_the_agent_trusts_the_clock_as_the_door_does() -> None:
    now = dt.datetime.now(dt.UTC)
    assert HealthWatch(lambda: True, None, False).clock_ok(now)
    assert not HealthWatch(lambda: False, now + dt.timedelta(hours=1), False).clock_ok(now)
