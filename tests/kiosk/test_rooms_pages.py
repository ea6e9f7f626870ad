"""The booking screens in Chromium at every size people see them (800x480 touchscreen, 1366x768, 1920x1080, a
390-px phone), in French and English: the week's board, the booking form, the booked page with its code, and a
member's account with a booking to cancel. Each passes axe-core's WCAG 2.1 AA audit and none scrolls sideways."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from access.models import Booking, Member, Resource, Sale
from halfday.sample import BRUNO
from kiosk.serve import KioskServer
from tests.kiosk.test_accessibility import check, switch_language
from tests.kiosk.test_account import tap
from tests.kiosk.test_admin import log_in
from tests.support.axe import SIZES
from tests.support.site import Site

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# A Wednesday morning at the test site (slots 00:00-12:00-23:59).
WEDNESDAY = dt.datetime(2026, 12, 2, 10, 0, tzinfo=PARIS).astimezone(dt.UTC)


def add_rooms(site: Site) -> None:
    with site.db.write() as s:
        s.add(
            Resource(
                name="Salle Garance",
                kind="meeting_room",
                capacity=12,
                price_halfday_cents=3000,
                price_day_cents=5000,
                feed_secret="a" * 32,
            )
        )
        s.add(
            Resource(
                name="Bureau des Tilleuls",
                kind="office",
                capacity=2,
                price_halfday_cents=1500,
                price_day_cents=2500,
                feed_secret="b" * 32,
            )
        )


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_a_walk_in_books_at_every_size(sized_page: Page, site: Site, start_kiosk: Callable[..., KioskServer]) -> None:
    page = sized_page
    add_rooms(site)
    kiosk = start_kiosk(site.config, clock=lambda: WEDNESDAY, connect_bus=False)
    names = {"fr": "Zoé Lemoine", "en": "Oliver Smith"}
    for lang in ("fr", "en"):
        page.goto(kiosk.url)
        switch_language(page, lang)
        page.click("#book-room")
        expect(page.locator(".room")).to_have_count(2)
        check(page, f"screen-rooms-{lang}", lang)
        page.locator("#room-2 .cell-link").first.click()
        expect(page.locator("#price")).to_be_visible()
        page.check("#half-both")
        page.select_option("#days", "2")
        page.click("#update")
        expect(page.locator("#price")).to_have_text(re.compile("100"))  # two days at 50
        check(page, f"screen-book-{lang}", lang)
        page.fill("#name", names[lang])
        page.click("#book")
        expect(page.locator("#booking-code")).to_be_visible()
        expect(page.locator("#to-pay")).to_contain_text("100")
        check(page, f"screen-booked-{lang}", lang)
    expect(page.locator("main h1")).to_have_text("It's booked, Oliver!")
    with site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 8
    # The board shows the booked slots, never who booked them.
    page.goto(kiosk.url + "/rooms/")
    expect(page.locator("#room-2 .cell-booked")).to_have_count(8)
    assert "Zoé" not in page.content() and "Oliver" not in page.content()


@pytest.mark.parametrize("sized_page", ["touchscreen", "phone"], indirect=True)
def test_a_members_account_lists_their_booking(sized_page: Page, site: Site, kiosk: KioskServer) -> None:
    page = sized_page
    add_rooms(site)
    link = tap(kiosk.app, site, BRUNO)
    assert link is not None
    page.goto(kiosk.url + link)
    page.click("#book-room")
    page.locator("#room-1 .cell-link").last.click()
    expect(page.locator("#pay-carnet")).to_be_checked()
    check(page, "screen-book-member-fr", "fr")
    page.click("#book")
    expect(page.locator("#left")).to_contain_text("8 demi-journées")
    check(page, "screen-booked-member-fr", "fr")
    page.click("text=Mon compte")
    expect(page.locator("#my-bookings li")).to_have_count(1)
    check(page, "screen-account-booking-fr", "fr")
    # The account speaks the member's own language.
    with site.db.write() as s:
        bruno = s.scalars(select(Member).where(Member.first_name == "Bruno")).one()
        bruno.language = "en"
    page.reload()
    expect(page.locator("#my-bookings li")).to_have_count(1)
    check(page, "screen-account-booking-en", "en")
    page.click("#cancel-booking-1")
    expect(page.locator("#done")).to_have_text("Booking cancelled.")
    expect(page.locator("#my-bookings")).to_have_count(0)


def test_the_manager_takes_the_money_of_a_booking(page: Page, site: Site, kiosk: KioskServer) -> None:
    add_rooms(site)
    page.goto(kiosk.url + "/rooms/")
    page.locator("#room-2 .cell-link").last.click()
    page.fill("#name", "Yann Morel")
    page.click("#book")
    expect(page.locator("#to-pay")).to_contain_text("30,00")
    log_in(page, kiosk, site, "/admin/sales")
    row = page.locator("#sales tbody tr").first
    expect(row).to_contain_text("Yann Morel")
    expect(row).to_contain_text("Réservation « Salle Garance » (1 demi-journée)")
    row.locator("select[name=tender]").select_option("card")
    row.locator("button").first.click()
    expect(page.locator(".alert-ok")).to_have_text("Vente de Yann Morel marquée réglée.")
    with site.db.read() as s:
        booking = s.scalars(select(Booking)).one()
        sale = s.get(Sale, booking.sale_id) if booking.sale_id is not None else None
        assert sale is not None and sale.paid and sale.tender == "card"
