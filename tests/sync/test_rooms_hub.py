"""The hub learns a site's rooms and bookings from its events, on SQLite and PostgreSQL: resources, booked
half-days as uses counted apart by place, cancellations, and the answers to the bookings asked for at the hub."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from sync.hub.bookings import expire_requests, site_bookings, site_resources
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import Booking, BookingRequest, Use
from sync.hub.reports import balances, monthly_usage_by_place
from sync.payloads import book_args, event_data_problem, validate_batch
from sync.protocol import ProtocolError
from tests.sync.devicesim import make_event

SITE, DEVICE = "site-a", "door-1"
ROOM, OFFICE = "1" * 32, "2" * 32
MEMBER, CARNET = "a" * 32, "c" * 32


def hexid() -> str:
    return uuid.uuid4().hex


def resources_data() -> dict[str, Any]:
    return {
        "resources": [
            {
                "id": ROOM,
                "name": "Salle du Lot",
                "kind": "meeting_room",
                "capacity": 8,
                "price_halfday_cents": 4000,
                "price_day_cents": 7000,
                "active": True,
            },
            {
                "id": OFFICE,
                "name": "Bureau 1",
                "kind": "office",
                "capacity": 2,
                "price_halfday_cents": 2000,
                "price_day_cents": 3500,
                "active": True,
            },
        ]
    }


def booking_data(resource: str, kind: str, slots: list[tuple[str, str, int]], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "group": hexid(),
        "resource": resource,
        "resource_kind": kind,
        "resource_name": "Salle du Lot" if kind == "meeting_room" else "Bureau 1",
        "holder": None,
        "name": "Léa",
        "paid_by": "counter",
        "sale": hexid(),
        "origin": "kiosk",
        "request": None,
        "slots": [
            {"id": hexid(), "date": d, "slot": s, "spent": spent, "subscription": CARNET if spent else None}
            for d, s, spent in slots
        ],
    }
    data.update(extra)
    return data


def ingest(db: HubDatabase, events: list[dict[str, Any]]) -> None:
    batch = validate_batch({"v": 1, "site": SITE, "device": DEVICE, "events": events})
    result = Ingestor(db, gap_wait_s=0).ingest(batch)
    assert result.stored == len(events)


def test_bookings_are_uses_counted_apart_and_cancellations_give_them_back(hub_db: HubDatabase) -> None:
    room = booking_data(ROOM, "meeting_room", [("2026-11-23", "afternoon", 0)])
    office = booking_data(
        OFFICE,
        "office",
        [("2026-11-24", "morning", 1), ("2026-11-24", "afternoon", 1)],
        holder=MEMBER,
        paid_by="carnet",
        sale=None,
    )
    entry = {
        "uid": "AB12CD34",
        "holder": MEMBER,
        "granted": True,
        "reason": "ok",
        "plan": "carnet",
        "use": {"date": "2026-11-23", "slot": "morning", "spent": 1, "subscription": CARNET, "pass": None},
    }
    ingest(
        hub_db,
        [
            make_event(SITE, DEVICE, 1, "resources", resources_data()),
            make_event(SITE, DEVICE, 2, "entry", entry),
            make_event(SITE, DEVICE, 3, "booking", room),
            make_event(SITE, DEVICE, 4, "booking", office),
        ],
    )
    with hub_db.read() as s:
        assert [(r.name, r.kind, r.active) for r in site_resources(s, SITE)] == [
            ("Salle du Lot", "meeting_room", True),
            ("Bureau 1", "office", True),
        ]
        assert monthly_usage_by_place(s, 2026, 11) == {
            SITE: {"open_space": 1, "offices": 2, "meeting_room": 1, "other_rooms": 0, "total": 4}
        }
        board = site_bookings(s, SITE, dt.date(2026, 11, 23), dt.date(2026, 11, 24))
        assert [(b.local_date.day, b.slot, b.name, b.cancelled_at) for b in board] == [
            (23, "afternoon", "Léa", None),
            (24, "morning", "Léa", None),
            (24, "afternoon", "Léa", None),
        ]
        spent = s.execute(select(Use.spent).where(Use.subscription_id == CARNET)).scalars().all()
        assert sorted(spent) == [1, 1, 1]
    cancelled = {"group": office["group"], "bookings": [x["id"] for x in office["slots"]], "by": "holder"}
    # The same booking again (a device that resent it under a new seq) is stored once.
    ingest(
        hub_db,
        [make_event(SITE, DEVICE, 5, "booking", office), make_event(SITE, DEVICE, 6, "booking_cancelled", cancelled)],
    )
    with hub_db.read() as s:
        assert monthly_usage_by_place(s, 2026, 11)[SITE] == {
            "open_space": 1,
            "offices": 0,
            "meeting_room": 1,
            "other_rooms": 0,
            "total": 2,
        }
        rows = s.execute(select(Booking).where(Booking.group_id == office["group"])).scalars().all()
        assert len(rows) == 2 and all(r.cancelled_at is not None and r.cancelled_by == "holder" for r in rows)


def test_a_request_shows_booked_refused_or_expired(hub_db: HubDatabase) -> None:
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    ids = [hexid() for _ in range(3)]
    with hub_db.write() as s:
        for request_id in ids:
            s.add(
                BookingRequest(
                    id=request_id,
                    site_id=SITE,
                    device_id=DEVICE,
                    resource_id=ROOM,
                    half_days={"half_days": [["2026-11-25", "morning"]]},
                    name="Paul",
                    paid_by="counter",
                    requested_at=now,
                    expires=now + dt.timedelta(minutes=5),
                )
            )
    booked = booking_data(ROOM, "meeting_room", [("2026-11-25", "morning", 0)], origin="hub", request=ids[0])
    ingest(
        hub_db,
        [
            make_event(SITE, DEVICE, 1, "booking", booked),
            make_event(SITE, DEVICE, 2, "booking_refused", {"request": ids[1], "reason": "taken"}),
            # Another site cannot answer this site's request.
        ],
    )
    with hub_db.write() as s:
        assert expire_requests(s, now + dt.timedelta(minutes=6)) == 1
    with hub_db.read() as s:
        states = {r.id: (r.state, r.reason, r.group_id) for r in s.execute(select(BookingRequest)).scalars()}
        assert states == {
            ids[0]: ("booked", None, booked["group"]),
            ids[1]: ("refused", "taken", None),
            ids[2]: ("expired", None, None),
        }
        # The room learnt from the booking itself, before any resources event.
        assert [r.name for r in site_resources(s, SITE)] == ["Salle du Lot"]
        assert balances(s) == {}


def test_a_request_of_another_site_is_not_answered_by_this_one(hub_db: HubDatabase) -> None:
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    with hub_db.write() as s:
        s.add(
            BookingRequest(
                id="e" * 32,
                site_id="site-b",
                device_id=DEVICE,
                resource_id=ROOM,
                half_days={"half_days": [["2026-11-25", "morning"]]},
                name="Paul",
                paid_by="counter",
                requested_at=now,
                expires=now + dt.timedelta(minutes=5),
            )
        )
    ingest(hub_db, [make_event(SITE, DEVICE, 1, "booking_refused", {"request": "e" * 32, "reason": "taken"})])
    with hub_db.read() as s:
        assert s.get(BookingRequest, "e" * 32).state == "waiting"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "data", "problem"),
    [
        ("booking", {**booking_data(ROOM, "meeting_room", [("2026-11-23", "noon", 0)])}, "slot"),
        (
            "booking",
            booking_data(ROOM, "meeting_room", [("2026-11-23", "morning", 0), ("2026-11-23", "morning", 0)]),
            "répète",
        ),
        ("booking", booking_data(ROOM, "sauna", [("2026-11-23", "morning", 0)]), "resource_kind"),
        ("booking", booking_data(ROOM, "office", [], paid_by="free"), "paid_by"),
        ("booking_cancelled", {"group": "1" * 32, "bookings": [], "by": "holder"}, "bookings"),
        ("booking_refused", {"request": "1" * 32, "reason": "x" * 40}, "reason"),
        ("resources", {"resources": [{"id": ROOM}]}, "name"),
    ],
)
def test_malformed_booking_events_are_named(kind: str, data: dict[str, Any], problem: str) -> None:
    found = event_data_problem(kind, data)
    assert found is not None and problem in found


def test_a_malformed_booking_is_stored_but_counts_for_nothing(hub_db: HubDatabase) -> None:
    bad = booking_data(ROOM, "meeting_room", [("2026-11-23", "noon", 0)])
    ingest(hub_db, [make_event(SITE, DEVICE, 1, "booking", bad)])
    with hub_db.read() as s:
        assert s.execute(select(Booking)).first() is None
        assert monthly_usage_by_place(s, 2026, 11) == {}


def test_book_command_arguments_are_checked() -> None:
    good = {
        "request": "1" * 32,
        "resource": ROOM,
        "half_days": [{"date": "2026-11-25", "slot": "morning"}],
        "name": "Paul",
        "member": None,
        "paid_by": "counter",
    }
    assert book_args(dict(good)) == good
    bad: dict[str, Any]
    for bad in ({"name": "  "}, {"half_days": []}, {"paid_by": "free"}, {"member": "Paul"}):
        with pytest.raises(ProtocolError):
            book_args({**good, **bad})
