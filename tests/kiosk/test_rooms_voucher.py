"""A walk-in pays a one-half-day room booking at the touchscreen with a prepaid room voucher: the booking and its paid
sale in one transaction, the voucher good once, a pass's voucher refused (and a room's at the passes), more than one
half-day sent to the desk, mistyped and forged codes refused and counted against guessing like the passes' vouchers;
the form in Chromium, audited at the touchscreen's and a phone's size; the vouchers command mints room vouchers."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from access.models import Booking, Sale
from common.words import PlanKind
from kiosk.serve import KioskServer, cmd_vouchers
from kiosk.vouchers import ROOM_HALFDAY, VoucherBook, voucher_book
from tests.kiosk.test_accessibility import check
from tests.kiosk.test_rooms import add_room, booking_form, current_half, other_half, today
from tests.kiosk.test_rooms_pages import WEDNESDAY, add_rooms
from tests.support.site import Site


def room_voucher(site: Site, serial: int = 1) -> str:
    return voucher_book(site.config).mint(ROOM_HALFDAY, serial).printed


def pay_with_voucher(
    client: FlaskClient, room: str, day: dt.date, half: str, code: str, days: int = 1, name: str = "Zoé Lemoine"
) -> tuple[int, str]:
    _page, fields = booking_form(client, room, day=day.isoformat(), half=half, days=str(days))
    done = client.post(
        f"/rooms/{room}", data={**fields, "name": name, "email": "", "paid_by": "voucher", "voucher": code}
    )
    return done.status_code, done.text.replace("&#39;", "'")


def written(site: Site) -> tuple[int, int]:
    with site.db.read() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Booking)) or 0),
            int(s.scalar(select(func.count()).select_from(Sale)) or 0),
        )


def test_a_room_voucher_pays_one_half_day_once(app: Flask, site: Site) -> None:
    room = add_room(site)
    code = room_voucher(site)
    form, _fields = booking_form(app.test_client(), room, day=today(site).isoformat(), half=other_half(site))
    assert 'id="pay-voucher"' in form and 'id="voucher"' in form and "Bon prépayé de salle" in form
    # Typed the forgiving way: lower case, no dashes.
    status, page = pay_with_voucher(
        app.test_client(), room, today(site), current_half(site), code.lower().replace("-", "")
    )
    assert status == 200, page
    assert "C'est réservé, Zoé" in page and "À régler" not in page
    assert re.search(r'id="booking-code">\d{3} \d{3}<', page)
    with site.db.read() as s:
        booking = s.scalars(select(Booking)).one()
        sale = s.get(Sale, booking.sale_id)
        assert booking.paid_by == "voucher" and booking.holder_kind == "walk_in"
        assert sale is not None and sale.paid and sale.provider == "voucher"
        assert sale.voucher_code == code.replace("-", "") and sale.plan_kind == "room" and sale.amount_cents == 3000
    # The same voucher for the other half-day: refused, nothing more written.
    status, page = pay_with_voucher(app.test_client(), room, today(site), other_half(site), code, name="Yves Martin")
    assert status == 422 and "Ce bon a déjà été utilisé" in page
    assert written(site) == (1, 1)


def test_a_pass_voucher_does_not_pay_a_room_nor_a_room_voucher_a_pass(app: Flask, site: Site) -> None:
    room = add_room(site)
    pass_code = voucher_book(site.config).mint(PlanKind.PASS_HALFDAY, 2).printed
    status, page = pay_with_voucher(app.test_client(), room, today(site), current_half(site), pass_code)
    assert status == 422 and "prévu pour un pass « Demi-journée », pas pour une salle" in page
    assert written(site) == (0, 0)
    # A room voucher offered for a pass is refused too, and says where it is good.
    client = app.test_client()
    form = client.get("/buy/pass_halfday").text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    bought = client.post(
        "/buy/pass_halfday",
        data={
            **fields,
            "name": "Zoé Lemoine",
            "email": "zoe@exemple.fr",
            "provider": "voucher",
            "voucher": room_voucher(site, 3),
        },
    )
    assert bought.status_code == 422, re.findall(r'id="error">([^<]*)', bought.text)
    refused = bought.text.replace("&#39;", "'")
    assert "Ce bon paie une demi-journée de salle ou de bureau, pas un pass" in refused, re.findall(
        r'id="error">([^<]*)', refused
    )
    assert written(site) == (0, 0)


def test_more_than_one_half_day_is_paid_at_the_desk(app: Flask, site: Site) -> None:
    room = add_room(site)
    code = room_voucher(site)
    client = app.test_client()
    form, _fields = booking_form(client, room, day=(today(site) + dt.timedelta(days=1)).isoformat(), half="both")
    assert re.search(r'id="pay-voucher"\s+disabled', form)
    assert 'id="voucher"' not in form and "Un bon de salle paie une seule demi-journée" in form
    status, page = pay_with_voucher(client, room, today(site) + dt.timedelta(days=1), "morning", code, days=2)
    assert status == 422 and "Un bon de salle paie une seule demi-journée" in page
    assert written(site) == (0, 0)


def test_mistyped_and_forged_codes_are_refused_then_locked_out(app: Flask, site: Site) -> None:
    room = add_room(site)
    genuine = room_voucher(site)
    day, half = today(site), current_half(site)
    client = app.test_client()
    status, page = pay_with_voucher(client, room, day, half, "5K4P-7RQD")
    assert status == 422 and "Ce code n'a pas la forme d'un bon" in page
    forged = VoucherBook(b"x" * 64, site.config.site.id).mint(ROOM_HALFDAY, 1).printed
    status, page = pay_with_voucher(client, room, day, half, forged)
    assert status == 422 and "Ce code n'est pas un bon de ce lieu" in page
    status, page = pay_with_voucher(client, room, day, half, "")
    assert status == 422 and "Tapez le code imprimé sur votre bon" in page
    # The passes' lock-out: after a few wrong codes, even a genuine one waits (the count is this browser's).
    for _ in range(6):
        pay_with_voucher(client, room, day, half, forged)
    status, page = pay_with_voucher(client, room, day, half, genuine)
    assert status == 422 and "Trop d'essais" in page
    assert written(site) == (0, 0)
    # Another visitor at the touchscreen is not locked out by the guesser.
    status, page = pay_with_voucher(app.test_client(), room, day, half, genuine)
    assert status == 200, page
    assert written(site) == (1, 1)


def test_the_vouchers_command_mints_room_vouchers(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_vouchers(site.config, 2, "room") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("bon demi-journée de salle" in line for line in lines)
    for line in lines:
        code = line.split()[0]
        assert code.startswith("5") and voucher_book(site.config).verify(code).kind == ROOM_HALFDAY


@pytest.mark.parametrize("sized_page", ["touchscreen", "phone"], indirect=True)
def test_a_walk_in_pays_with_a_room_voucher_in_chromium(
    sized_page: Page, site: Site, start_kiosk: Callable[..., KioskServer]
) -> None:
    page = sized_page
    add_rooms(site)
    code = room_voucher(site)
    kiosk = start_kiosk(site.config, clock=lambda: WEDNESDAY, connect_bus=False)
    page.goto(kiosk.url + "/rooms/")
    page.locator("#room-2 .cell-link").last.click()
    expect(page.locator("#price")).to_be_visible()
    page.check("#half-both")
    page.click("#update")
    expect(page.locator("#pay-voucher")).to_be_disabled()
    expect(page.locator("#voucher-one")).to_be_visible()
    check(page, "screen-book-voucher-day-fr", "fr")
    page.check("#half-afternoon")
    page.click("#update")
    expect(page.locator("#pay-voucher")).to_be_enabled()
    page.check("#pay-voucher")
    page.fill("#name", "Zoé Lemoine")
    page.fill("#voucher", "5000-0000-0000")
    page.click("#book")
    expect(page.locator("#error")).to_contain_text("pas un bon de ce lieu")
    check(page, "screen-book-voucher-error-fr", "fr")
    page.check("#pay-voucher")
    page.fill("#voucher", code)
    page.click("#book")
    expect(page.locator("#booking-code")).to_be_visible()
    expect(page.locator("#to-pay")).to_have_count(0)
    with site.db.read() as s:
        sale = s.scalars(select(Sale)).one()
        assert sale.paid and sale.voucher_code == code.replace("-", "")
