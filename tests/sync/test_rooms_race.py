"""Acceptance: 50 simultaneous requests for the same resource and slot, from the kiosk, the admin and the hub's
request path, end with exactly one booking and 49 clear refusals.

The kiosk's and the admin's requests are threads that book through `access.bookings.book` in their own write
transactions, as those screens do (origin "kiosk" and "admin"); the hub's are real requests: `request_booking` at
the hub, the `book` commands signed and published by a hub worker through a real Mosquitto, booked by the site's
sync agent and answered by its events. Run once with the hub on SQLite and once on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import zoneinfo
from collections import Counter
from typing import Any

from sqlalchemy import select

from access import bookings
from access.db import Database
from access.models import Booking, Resource
from access.store import Stamp
from common.words import Slot
from sync.hub.audit import SYSTEM
from sync.hub.booking_requests import request_booking
from sync.hub.db import HubDatabase
from sync.hub.models import Booking as HubBooking
from sync.hub.models import BookingRequest
from sync.hub.models import Resource as HubResource
from tests.support.wait import wait_until
from tests.sync.conftest import DEVICE, SITE

ROOM = "5" * 32
KIOSK, ADMIN, HUB = 17, 17, 16


def add_room(db: Database) -> None:
    with db.write() as session:
        session.add(
            Resource(
                id=ROOM,
                name="Salle du Lot",
                kind="meeting_room",
                capacity=8,
                price_halfday_cents=4000,
                price_day_cents=7000,
                feed_secret=secrets.token_hex(16),
            )
        )


def tomorrow() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=1)


def test_fifty_requests_for_one_slot_make_one_booking_and_49_clear_refusals(
    make_worker: Any, make_agent: Any, door_db: Database, hub_db: HubDatabase
) -> None:
    add_room(door_db)
    make_worker(0)
    make_agent(request_poll_s=0.1)

    def hub_knows_room() -> bool:
        with hub_db.read() as s:
            room = s.get(HubResource, (SITE, ROOM))
            return room is not None and room.device_id == DEVICE

    assert wait_until(hub_knows_room, 15), "the site's rooms never reached the hub"
    day = tomorrow()
    local: list[tuple[str, str]] = []  # (origin, "booked" | the refusal's reason)
    lock = threading.Lock()
    start = threading.Barrier(KIOSK + ADMIN + 1)

    def desk(origin: str, n: int) -> None:
        db = Database(door_db.url)
        try:
            start.wait(30)
            try:
                with db.write() as session:
                    bookings.book(
                        session,
                        resource_id=ROOM,
                        half_days=[(day, Slot.MORNING)],
                        name=f"{origin.capitalize()} {n}",
                        origin=origin,
                        device_id=DEVICE,
                        stamp=Stamp.now("boot-race"),
                        paid_by="counter",
                        today=day - dt.timedelta(days=1),
                        site_id=SITE,
                    )
                outcome = "booked"
            except bookings.BookingRefused as exc:
                outcome = exc.reason
        finally:
            db.dispose()
        with lock:
            local.append((origin, outcome))

    threads = [threading.Thread(target=desk, args=("kiosk", n)) for n in range(KIOSK)]
    threads += [threading.Thread(target=desk, args=("admin", n)) for n in range(ADMIN)]
    for thread in threads:
        thread.start()
    asked = [
        request_booking(hub_db, SITE, ROOM, [(day, "morning")], f"Hub {n}", actor=SYSTEM, paid_by="counter")
        for n in range(HUB)
    ]
    start.wait(30)
    for thread in threads:
        thread.join(60)
    assert len(local) == KIOSK + ADMIN

    def answered() -> bool:
        with hub_db.read() as s:
            states = s.execute(select(BookingRequest.state).where(BookingRequest.id.in_(asked))).scalars().all()
            return len(states) == HUB and "waiting" not in states

    assert wait_until(answered, 60), "the site did not answer every request of the hub"
    with hub_db.read() as s:
        hub_answers = [(r.state, r.reason) for r in s.execute(select(BookingRequest)).scalars()]
    outcomes = [o for _origin, o in local] + [state if state == "booked" else reason for state, reason in hub_answers]
    assert Counter(outcomes) == {"booked": 1, "taken": 49}, Counter(outcomes)
    assert all(state in ("booked", "refused") for state, _ in hub_answers)
    with door_db.read() as s:
        live = s.execute(select(Booking).where(Booking.cancelled_at.is_(None))).scalars().all()
    assert [(b.resource_id, b.local_date, b.slot) for b in live] == [(ROOM, day, "morning")]

    # The hub sees the one booking too, and counts it once.
    def hub_has_it() -> bool:
        with hub_db.read() as s:
            return len(s.execute(select(HubBooking)).scalars().all()) == 1

    assert wait_until(hub_has_it, 30)
    with hub_db.read() as s:
        booked = s.execute(select(HubBooking)).scalar_one()
    assert (booked.id, booked.origin, booked.name) == (live[0].id, live[0].origin, live[0].name.split(" ")[0])
