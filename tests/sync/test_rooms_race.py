"""Acceptance: 50 simultaneous requests for the same resource and slot, from the kiosk, the admin and the hub's
request path, end with exactly one booking and 49 clear refusals.

- the kiosk: walk-ins at the served touchscreen (waitress, real HTTP, each browser its own session), posting the
  room's booking form;
- the admin: threads booking through `access.bookings.book` with origin "admin" in their own write transactions,
  the path the admin's booking page takes (that page is a colleague's branch, not merged here);
- the hub: real requests, `request_booking` at the hub, the `book` commands signed and published by a hub worker
  through a real Mosquitto, booked by the site's sync agent and answered by its events.
Run once with the hub on SQLite and once on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from access import bookings
from access.models import Booking, Use
from access.store import Stamp
from common.words import Slot
from halfday.sample import ALL_DAY
from kiosk.app import create_app
from kiosk.serve import KioskServer
from sync.hub.audit import SYSTEM
from sync.hub.booking_requests import request_booking
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import Booking as HubBooking
from sync.hub.models import BookingRequest
from sync.hub.models import Resource as HubResource
from sync.hub.worker import HubWorker
from tests.kiosk.test_rooms import add_room, today
from tests.kiosk.test_rooms_race import Browser
from tests.support.broker import Mosquitto
from tests.support.kiosk import KIOSK_SITE, TEST_TUNING
from tests.support.site import Site
from tests.support.wait import wait_until
from tests.sync.conftest import agent_settings

KIOSK, ADMIN, HUB = 17, 17, 16


def test_fifty_requests_for_one_slot_make_one_booking_and_49_clear_refusals(
    new_site: Callable[..., Site],
    broker: Mosquitto,
    make_worker: Callable[..., HubWorker],
    start_agent: Any,
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    tmp_path: Path,
) -> None:
    site = new_site(overrides={**ALL_DAY, **KIOSK_SITE})
    config = site.reconfigure({"kiosk": {"counter_unpaid_per_slot": 100}})
    site_id, device = config.site.id, config.site.device
    room = add_room(site)
    make_worker(0)
    start_agent(
        agent_settings(broker, site.db, hub_settings, tmp_path, site=site_id, device=device, request_poll_s=0.1)
    )
    kiosk = KioskServer(create_app(config, connect_bus=False, tuning=TEST_TUNING), port=0).start()
    try:

        def hub_knows_room() -> bool:
            with hub_db.read() as s:
                known = s.get(HubResource, (site_id, room))
                return known is not None and known.device_id == device

        assert wait_until(hub_knows_room, 15), "the site's rooms never reached the hub"
        day = today(site) + dt.timedelta(days=1)
        query = urllib.parse.urlencode({"day": day.isoformat(), "half": "afternoon"})
        forms: list[tuple[Browser, dict[str, str]]] = []
        for _n in range(KIOSK):
            browser = Browser(kiosk.url)
            page = browser.get(f"/rooms/{room}?{query}")
            form = re.search(r'<form[^>]*id="book-form".*?</form>', page, re.S)
            assert form is not None
            hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))
            forms.append((browser, dict(hidden)))
        outcomes: list[tuple[str, str]] = []
        lock = threading.Lock()
        start = threading.Barrier(KIOSK + ADMIN + 1)

        def at_kiosk(n: int) -> None:
            browser, fields = forms[n]
            start.wait(30)
            status, text = browser.post(f"/rooms/{room}", {**fields, "name": f"Visiteur {n}", "paid_by": "counter"})
            if status == 200 and "booking-code" in text:
                result = "booked"
            elif status == 422 and "vient d&#39;être réservé" in text:
                result = "taken"
            else:
                result = f"other {status}"
            with lock:
                outcomes.append(("kiosk", result))

        def at_admin(n: int) -> None:
            start.wait(30)
            try:
                with site.db.write() as s:
                    bookings.book(
                        s,
                        resource_id=room,
                        half_days=[(day, Slot.AFTERNOON)],
                        name=f"Association {n}",
                        origin="admin",
                        device_id=device,
                        stamp=Stamp.now("boot-race"),
                        paid_by="counter",
                        today=today(site),
                        site_id=site_id,
                    )
                result = "booked"
            except bookings.BookingRefused as exc:
                result = exc.reason
            with lock:
                outcomes.append(("admin", result))

        threads = [threading.Thread(target=at_kiosk, args=(n,)) for n in range(KIOSK)]
        threads += [threading.Thread(target=at_admin, args=(n,)) for n in range(ADMIN)]
        for thread in threads:
            thread.start()
        asked = [
            request_booking(hub_db, site_id, room, [(day, "afternoon")], f"Hub {n}", actor=SYSTEM) for n in range(HUB)
        ]
        start.wait(30)
        for thread in threads:
            thread.join(60)
        assert len(outcomes) == KIOSK + ADMIN

        def answered() -> bool:
            with hub_db.read() as s:
                states = s.execute(select(BookingRequest.state).where(BookingRequest.id.in_(asked))).scalars()
                return sorted(set(states)) in (["refused"], ["booked", "refused"])

        assert wait_until(answered, 60), "the site did not answer every request of the hub"
        with hub_db.read() as s:
            answers = [(r.state, r.reason) for r in s.execute(select(BookingRequest)).scalars()]
        results = [result for _who, result in outcomes] + [s if s == "booked" else str(r) for s, r in answers]
        assert Counter(results) == {"booked": 1, "taken": 49}, outcomes + [("hub", a) for a, _ in answers]
        with site.db.read() as s:
            live = s.execute(select(Booking).where(Booking.cancelled_at.is_(None))).scalars().all()
            assert s.scalar(select(func.count()).select_from(Use).where(Use.resource_id == room)) == 1
        assert [(b.resource_id, b.local_date, b.slot) for b in live] == [(room, day, "afternoon")]

        # The hub sees the one booking too, and counts it once.
        def hub_has_it() -> bool:
            with hub_db.read() as s:
                return s.scalar(select(func.count()).select_from(HubBooking)) == 1

        assert wait_until(hub_has_it, 30)
        with hub_db.read() as s:
            copied = s.execute(select(HubBooking)).scalar_one()
        assert (copied.id, copied.origin) == (live[0].id, live[0].origin)
    finally:
        kiosk.stop()
