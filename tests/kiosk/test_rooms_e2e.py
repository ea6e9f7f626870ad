"""Bookings with the real door daemon: nfcpy's reader loop on the virtual card, the door's decision, the local
bus, the kiosk served by waitress, Chromium. The relay is gpiozero's MockFactory pin, read back with its
transitions. The clock is the machine's: the test site's slots cover the whole day (morning until noon)."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.models import Booking, Event, Member
from halfday.sample import BRUNO
from kiosk.serve import KioskServer
from tests.kiosk.test_rooms import add_room, current_half, today
from tests.support.door import DoorRig
from tests.support.site import Site
from tests.support.wait import wait_until

OPENED = "La porte est ouverte : entrez !"


def entries(site: Site) -> list[Event]:
    with site.db.read() as s:
        return list(s.scalars(select(Event).where(Event.kind == "entry").order_by(Event.seq)))


def door_balance(door: DoorRig, site: Site, first_name: str) -> int | None:
    """The carnet balance the running door decides on for the member named `first_name`."""
    with site.db.read() as s:
        member_id = s.scalars(select(Member.id).where(Member.first_name == first_name)).one()
    holder = door.daemon.cache.state.holders.get(member_id)
    balances = [e.balance for e in holder.entitlements if e.balance is not None] if holder is not None else []
    return balances[0] if balances else None


def test_a_walk_ins_booking_opens_the_entrance_in_its_half_day_only(
    page: Page, site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    room = add_room(site, "Salle Garance")
    assert door.relay_states() == [False]
    # A walk-in books the meeting room for the half-day under way and pays at the counter: the door opens.
    page.goto(kiosk.url)
    page.click("#book-room")
    page.locator(f'td[data-day="{today(site).isoformat()}"][data-slot="{current_half(site)}"] .cell-link').click()
    expect(page.locator("#price")).to_have_text(re.compile("30,00"))
    page.fill("#name", "Zoé Lemoine")
    page.click("#book")
    expect(page.locator("#door-text")).to_have_text(OPENED)
    expect(page.locator("#to-pay")).to_contain_text("30,00")
    assert wait_until(lambda: door.relay_states() == [False, True, False], timeout=5)
    code = page.locator("#booking-code").inner_text().replace(" ", "")
    # Back from a break in the same half-day: the code opens again.
    page.goto(kiosk.url + "/code")
    page.fill("#code", code)
    page.click("#keypad .key-ok")
    expect(page.locator("#door-text")).to_have_text(OPENED)
    assert wait_until(lambda: door.relay_states() == [False] + [True, False] * 2, timeout=5)
    # Another walk-in's booking of the next morning: its code does not open now.
    page.goto(kiosk.url + "/rooms/")
    tomorrow = (today(site) + dt.timedelta(days=1)).isoformat()
    page.locator(f'td[data-day="{tomorrow}"][data-slot="morning"] .cell-link').click()
    page.fill("#name", "Yann Morel")
    page.click("#book")
    later = page.locator("#booking-code").inner_text().replace(" ", "")
    expect(page.locator("#door-text")).to_have_count(0)
    page.goto(kiosk.url + "/code")
    page.fill("#code", later)
    page.click("#keypad .key-ok")
    expect(page.locator("#error")).to_contain_text("Ce code n'ouvre pas maintenant")
    assert door.relay_states() == [False] + [True, False] * 2
    with site.db.read() as s:
        names = {b.group_id: b.name for b in s.scalars(select(Booking).where(Booking.resource_id == room))}
    granted = [e for e in entries(site) if e.data["granted"]]
    assert [names.get(str(e.data["holder"]), e.data["holder"]) for e in granted] == ["Zoé Lemoine"] * 2


def test_a_member_books_an_office_from_their_carnet_and_the_door_reads_the_balance(
    page: Page, site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    add_room(site, "Bureau 1", "office", halfday=1500)
    page.goto(kiosk.url)
    assert wait_until(lambda: kiosk.kiosk.live.listeners > 0)
    door.tap(BRUNO)  # Bruno's carnet: 10, this tap spends one
    expect(page.locator("#rights")).to_contain_text("9 demi-journées restantes")
    page.click("#book-room")
    tomorrow = (today(site) + dt.timedelta(days=1)).isoformat()
    page.locator(f'td[data-day="{tomorrow}"][data-slot="morning"] .cell-link').click()
    page.check("#half-both")
    page.click("#update")
    expect(page.locator("#pay-carnet")).to_be_checked()
    page.click("#book")
    expect(page.locator("#left")).to_contain_text("Il reste 7 demi-journées à votre carnet.")
    page.click("text=Mon compte")
    expect(page.locator("#rights")).to_contain_text("7 demi-journées restantes")
    # Bruno taps again in the same half-day: free re-entry, and the door decides on the balance after the booking.
    # The door reads the booking at its next poll of the state version.
    assert wait_until(lambda: door_balance(door, site, "Bruno") == 7, timeout=10)
    count = len(entries(site))
    door.tap(BRUNO)
    assert wait_until(lambda: len(entries(site)) == count + 1, timeout=5)
    again = entries(site)[-1]
    assert (again.data["granted"], again.data["use"], again.data["balance"]) == (True, None, 7)
