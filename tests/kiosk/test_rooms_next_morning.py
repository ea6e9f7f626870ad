"""A walk-in's afternoon booking of the meeting room opens the entrance that afternoon and not the next morning,
decided by the real door.

Everything real: Chromium books and pays at the touchscreen (the kiosk served by waitress, its clock set to each
hour), the door daemon runs as `halfday door` in its own process under Debian's libfaketime (started on each chosen
day and hour), and the kiosk asks it over a real Mosquitto to admit the booking's credential "booking:<group>", the
same request the code page makes. The next morning the touchscreen already refuses the code; the door is then asked
directly with that same request, to prove that the door itself refuses it too.
"""

from __future__ import annotations

import datetime as dt
import queue
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from access.models import Booking, Event, Sale
from access.policy import Reason
from access.store import BOOKING_CREDENTIAL_PREFIX
from hardware.virtual_card import VirtualCard
from kiosk.app import create_app
from kiosk.booking import admit_booking
from kiosk.serve import KioskServer
from sync.mqtt import Message, MqttClient, MqttSettings
from tests.kiosk.test_passes_week import PATIENT, Clock, FakedDoor
from tests.kiosk.test_rooms import add_room
from tests.support.broker import Mosquitto
from tests.support.kiosk import TOUCH
from tests.support.site import Site
from tests.support.wait import wait_until

OPENED = "La porte est ouverte : entrez !"
# A Wednesday with the site open (default slots: morning 08:00-13:00, afternoon 13:00-20:00), and the day after.
BOOKING_DAY = dt.date(2026, 12, 2)
NEXT_DAY = dt.date(2026, 12, 3)


@pytest.fixture
def listener(broker: Mosquitto) -> Iterator[queue.Queue[Message]]:
    """Every message of the local bus, in order: how the test knows a freshly started door is online."""
    messages: queue.Queue[Message] = queue.Queue()
    client = MqttClient(
        MqttSettings.from_url(f"mqtt://127.0.0.1:{broker.port}"),
        "test-listener",
        clean_start=True,
        session_expiry_s=0,
        on_message=messages.put,
    )
    client.subscribe("halfday/local/#")
    client.start()
    assert client.wait_connected(10)
    yield messages
    client.stop()


@pytest.fixture
def card() -> Iterator[VirtualCard]:
    """The door's reader: nfcpy's loop over its udp driver, no card presented (the walk-in uses a code)."""
    virtual = VirtualCard()
    yield virtual
    virtual.close()


def entries(site: Site) -> list[dict[str, Any]]:
    with site.db.read() as s:
        return [e.data for e in s.scalars(select(Event).where(Event.kind == "entry").order_by(Event.seq))]


def enter_code(page: Page, kiosk: KioskServer, code: str) -> None:
    page.goto(kiosk.url + "/code")
    page.fill("#code", code)
    page.click("#keypad .key-ok")


def test_a_walk_ins_afternoon_booking_opens_the_real_door_that_afternoon_and_not_the_next_morning(
    tmp_path: Path,
    broker: Mosquitto,
    listener: queue.Queue[Message],
    new_site: Callable[..., Site],
    browser: Browser,
    card: VirtualCard,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The door's wall clock lives on the chosen day; its monotonic clock stays the kernel's, whose timed waits (its
    # main loop's, and so its stop on SIGTERM) would otherwise never end.
    monkeypatch.setenv("DONT_FAKE_MONOTONIC", "1")
    site = new_site(
        reader_path=card.path,
        bus_url=f"mqtt://127.0.0.1:{broker.port}",
        overrides={"door": {"unlock_s": 0.6}, "kiosk": {"late_minutes": 0}},
    )
    assert str(site.config.site.tz) == "Europe/Paris"
    room = add_room(site, "Salle Garance")
    clock = Clock(site.config.site.tz)
    door = FakedDoor(site.config_path, tmp_path / "door.log", listener)
    server = KioskServer(create_app(site.config, tuning=PATIENT, clock=clock)).start()
    link = server.kiosk.link
    context = browser.new_context(viewport=TOUCH)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)  # a loaded machine: generous waits, no tight timing
    try:
        assert link is not None and wait_until(lambda: link.connected, 15)
        page = context.new_page()

        # Wednesday 10:00: a walk-in books the meeting room for this afternoon and pays at the counter. The door
        # is not asked: the booking's half-day has not begun.
        clock.set(BOOKING_DAY, 10)
        page.goto(server.url)
        page.click("#book-room")
        page.locator(f'td[data-day="{BOOKING_DAY.isoformat()}"][data-slot="afternoon"] .cell-link').click()
        expect(page.locator("#price")).to_have_text(re.compile("30,00"))
        page.fill("#name", "Zoé Lemoine")
        page.click("#book")
        expect(page.locator("#to-pay")).to_contain_text("30,00")
        expect(page.locator("#door-text")).to_have_count(0)
        code = page.locator("#booking-code").inner_text().replace(" ", "")
        assert re.fullmatch(r"\d{6}", code)
        with site.db.read() as s:
            booking = s.scalars(select(Booking).where(Booking.resource_id == room)).one()
            group, sale_id = booking.group_id, booking.sale_id
            assert (booking.local_date, booking.slot, booking.holder_kind, booking.paid_by, booking.cancelled_at) == (
                BOOKING_DAY,
                "afternoon",
                "walk_in",
                "counter",
                None,
            )
            assert sale_id is not None and s.get_one(Sale, sale_id).amount_cents == 3000
        assert entries(site) == []

        # Wednesday 15:00, the door living that afternoon: the code entered at the touchscreen opens it.
        door.start(clock.set(BOOKING_DAY, 15))
        enter_code(page, server, code)
        expect(page.locator("#door-text")).to_have_text(OPENED)
        assert wait_until(lambda: len(entries(site)) == 1, timeout=15)
        afternoon = entries(site)[-1]
        assert (afternoon["granted"], afternoon["reason"]) == (True, Reason.BOOKED)
        assert (afternoon["uid"], afternoon["holder"]) == (BOOKING_CREDENTIAL_PREFIX + group, group)

        # Thursday 09:30, the door living the next morning: the touchscreen no longer takes the code...
        door.start(clock.set(NEXT_DAY, 9) + dt.timedelta(minutes=30))
        enter_code(page, server, code)
        expect(page.locator("#error")).to_contain_text("Ce code n'ouvre pas maintenant")
        assert len(entries(site)) == 1  # the touchscreen did not ask the door
        # ...and the door itself, asked to admit the booking's credential as the code page asks it, refuses.
        reply = admit_booking(server.kiosk, group)
        assert reply is not None, "the door did not answer"
        assert not reply.ok
        assert wait_until(lambda: len(entries(site)) == 2, timeout=15)
        morning = entries(site)[-1]
        assert (morning["uid"], morning["granted"]) == (BOOKING_CREDENTIAL_PREFIX + group, False)
        assert reply.reason == morning["reason"]
        # The door no longer holds a booking whose half-day is past (as for a pass): a credential it does not know.
        assert morning["reason"] in {Reason.EXPIRED, Reason.UNKNOWN}
        # The door of the booked afternoon, started again, still admits the very same request: the refusal came
        # from the morning, not from a credential the door would refuse anyway.
        door.start(clock.set(BOOKING_DAY, 16))
        again = admit_booking(server.kiosk, group)
        assert again is not None and again.ok and again.reason == Reason.BOOKED
        assert wait_until(lambda: len(entries(site)) == 3, timeout=15)
        assert [(e["granted"], e["holder"]) for e in entries(site)] == [
            (True, group),
            (False, morning["holder"]),
            (True, group),
        ]
    finally:
        context.close()
        door.stop()
        server.stop()
