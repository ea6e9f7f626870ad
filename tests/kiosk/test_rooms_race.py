"""Simultaneous bookings of one room and half-day, from walk-ins at the served kiosk (real HTTP, each browser its
own session) and from the admin's path into the booking core at once, end with exactly one booking and a clear
"taken" for everyone else: the check in `book` and the database's partial unique index behind it."""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from sqlalchemy import func, select

from access.bookings import BookingRefused, book
from access.models import Booking, Event, Use
from access.store import Stamp
from common.words import EventKind, Slot
from kiosk.serve import KioskServer
from tests.kiosk.test_rooms import add_room, today
from tests.support.site import Site

KIOSK_CLIENTS = 25
ADMIN_CALLS = 25


class Browser:
    """One visitor's browser: its own cookies (session, CSRF token)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return str(response.read().decode("utf-8"))

    def post(self, path: str, data: dict[str, str]) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:
                return int(response.status), str(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8")


def test_fifty_at_once_end_with_one_booking(site: Site, start_kiosk: Callable[..., KioskServer]) -> None:
    config = site.reconfigure({"kiosk": {"counter_unpaid_per_slot": 100}})
    kiosk = start_kiosk(config, connect_bus=False)
    room = add_room(site)
    day = today(site) + dt.timedelta(days=1)
    query = urllib.parse.urlencode({"day": day.isoformat(), "half": "afternoon"})
    forms: list[tuple[Browser, dict[str, str]]] = []
    for _n in range(KIOSK_CLIENTS):
        browser = Browser(kiosk.url)
        page = browser.get(f"/rooms/{room}?{query}")
        form = re.search(r'<form[^>]*id="book-form".*?</form>', page, re.S)
        assert form is not None
        forms.append((browser, dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0)))))
    start = threading.Barrier(KIOSK_CLIENTS + ADMIN_CALLS)
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def at_kiosk(n: int) -> None:
        browser, fields = forms[n]
        start.wait()
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
        start.wait()
        try:
            with site.db.write() as s:
                book(
                    s,
                    resource_id=room,
                    half_days=[(day, Slot.AFTERNOON)],
                    name=f"Association {n}",
                    origin="admin",
                    device_id=config.site.device,
                    stamp=Stamp(dt.datetime.now(dt.UTC), n, "b", True),
                    paid_by="counter",
                    today=today(site),
                    site_id=config.site.id,
                )
            result = "booked"
        except BookingRefused as exc:
            result = exc.reason
        with lock:
            outcomes.append(("admin", result))

    threads = [threading.Thread(target=at_kiosk, args=(n,)) for n in range(KIOSK_CLIENTS)]
    threads += [threading.Thread(target=at_admin, args=(n,)) for n in range(ADMIN_CALLS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results = [result for _who, result in outcomes]
    assert len(results) == KIOSK_CLIENTS + ADMIN_CALLS
    assert results.count("booked") == 1 and results.count("taken") == KIOSK_CLIENTS + ADMIN_CALLS - 1, outcomes
    with site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 1
        assert s.scalar(select(func.count()).select_from(Use).where(Use.resource_id == room)) == 1
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == EventKind.BOOKING)) == 1
