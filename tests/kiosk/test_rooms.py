"""Rooms and offices at the touchscreen, through the kiosk's pages: the week's board without names, a walk-in's
booking paid at the counter with its code, a member's booking from their carnet after their tap and its
cancellation, the code that opens for the booked half-day only, and what the public screen refuses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from access.bookings import book, room_rights
from access.models import Booking, Member, Resource, Sale, Use
from access.store import Stamp
from common.words import Slot
from halfday.sample import ALICE, BRUNO
from kiosk.app import create_app
from tests.kiosk.test_account import tap
from tests.support.kiosk import TEST_TUNING
from tests.support.site import Site

WIFI = {"REMOTE_ADDR": "192.168.1.50"}  # a laptop on the space's Wi-Fi, not the touchscreen


def local_now(site: Site) -> dt.datetime:
    return dt.datetime.now(zoneinfo.ZoneInfo(site.config.site.timezone))


def today(site: Site) -> dt.date:
    return local_now(site).date()


def current_half(site: Site) -> str:
    """The half-day under way (the test site's slots cover the whole day: morning until noon)."""
    return "morning" if local_now(site).hour < 12 else "afternoon"


def other_half(site: Site) -> str:
    return "afternoon" if current_half(site) == "morning" else "morning"


def add_room(site: Site, name: str = "Salle Garance", kind: str = "meeting_room", halfday: int = 3000) -> str:
    with site.db.write() as s:
        room = Resource(
            name=name,
            kind=kind,
            capacity=8,
            price_halfday_cents=halfday,
            price_day_cents=5000,
            feed_secret="f" * 32,
        )
        s.add(room)
        s.flush()
        return room.id


def form_fields(page: str, form_id: str) -> dict[str, str]:
    """The hidden fields of a form on the page (what the browser sends back)."""
    found = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S)
    assert found is not None, f"no form {form_id}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', found.group(0)))


def booking_form(client: FlaskClient, room: str, **query: str) -> tuple[str, dict[str, str]]:
    page = client.get(f"/rooms/{room}", query_string=query)
    assert page.status_code == 200, page.text
    return page.text, form_fields(page.text, "book-form")


def walk_in_books(client: FlaskClient, room: str, day: dt.date, half: str, name: str = "Zoé Lemoine") -> str:
    _page, fields = booking_form(client, room, day=day.isoformat(), half=half)
    done = client.post(f"/rooms/{room}", data={**fields, "name": name, "email": "", "paid_by": "counter"})
    assert done.status_code == 200, done.text
    return done.text


# ---------------------------------------------------------------------------------------------- walk-ins


def test_a_walk_in_books_this_half_day_and_gets_a_code(app: Flask, site: Site) -> None:
    room = add_room(site)
    client = app.test_client()
    attract = client.get("/").text
    assert "Réserver une salle" in attract
    board = client.get("/rooms/").text
    assert "Salle Garance" in board and "30,00" in board and "Libre" in board
    form, _fields = booking_form(client, room, day=today(site).isoformat(), slot=current_half(site))
    assert "30,00" in form  # the price is shown before booking
    done = walk_in_books(client, room, today(site), current_half(site))
    assert "C&#39;est réservé, Zoé" in done or "C'est réservé, Zoé" in done
    code = re.search(r'id="booking-code">(\d{3}) (\d{3})<', done)
    assert code is not None
    assert "À régler : 30,00" in done
    with site.db.read() as s:
        booking = s.scalars(select(Booking)).one()
        sale = s.get(Sale, booking.sale_id)
        assert booking.code == code.group(1) + code.group(2) and booking.holder_kind == "walk_in"
        assert sale is not None and not sale.paid and sale.amount_cents == 3000 and sale.provider == "counter"
        use = s.scalars(select(Use).where(Use.holder_id == booking.id)).one()
        assert (use.resource_id, use.site_id) == (room, site.config.site.id)
    # The board shows the slot booked, never by whom; another visitor cannot book it again.
    board = app.test_client().get("/rooms/").text
    assert "Réservé" in board and "Zoé" not in board and "Lemoine" not in board
    again = app.test_client()
    _page, fields = booking_form(again, room, day=today(site).isoformat(), half=current_half(site))
    taken = again.post(f"/rooms/{room}", data={**fields, "name": "Yves", "paid_by": "counter"})
    assert taken.status_code == 422 and "vient d&#39;être réservé" in taken.text.replace("'", "&#39;")
    # The code page shows again to this browser only.
    group = booking.group_id
    assert client.get(f"/rooms/booked/{group}").status_code == 200
    assert again.get(f"/rooms/booked/{group}").status_code == 404


def test_the_booking_code_opens_in_its_half_day_only(app: Flask, site: Site) -> None:
    room = add_room(site)
    client = app.test_client()
    now_page = walk_in_books(client, room, today(site), current_half(site), "Zoé Lemoine")
    later = today(site) + dt.timedelta(days=1)
    later_page = walk_in_books(app.test_client(), room, later, "morning", "Yves Martin")
    now_code = re.search(r'id="booking-code">(\d{3} \d{3})<', now_page)
    later_code = re.search(r'id="booking-code">(\d{3} \d{3})<', later_page)
    assert now_code is not None and later_code is not None
    assert "Votre code pour entrer" in later_page and "door-text" not in later_page  # nobody to let in now
    form = client.get("/code").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    welcome = client.post("/code", data={"csrf_token": token.group(1), "code": now_code.group(1)})
    # The kiosk here has no bus: the door does not answer, but the code was recognised as this half-day's.
    assert welcome.status_code == 200 and "Bon retour Zoé" in welcome.text
    refused = client.post("/code", data={"csrf_token": token.group(1), "code": later_code.group(1)})
    assert refused.status_code == 422 and "Yves" not in refused.text


def test_a_walk_in_needs_a_name_and_pays_what_was_shown(app: Flask, site: Site) -> None:
    room = add_room(site)
    client = app.test_client()
    day = today(site) + dt.timedelta(days=1)
    _page, fields = booking_form(client, room, day=day.isoformat(), half="both", days="2")
    assert fields["signature"].endswith("|10000")  # two whole days at the day's price
    nameless = client.post(f"/rooms/{room}", data={**fields, "name": " ", "paid_by": "counter"})
    assert nameless.status_code == 422 and "Indiquez votre nom" in nameless.text
    # The price changed since the form was shown: nothing is booked for a price the visitor did not see.
    with site.db.write() as s:
        resource = s.get(Resource, room)
        assert resource is not None
        resource.price_day_cents = 9000
    changed = client.post(f"/rooms/{room}", data={**fields, "name": "Zoé", "paid_by": "counter"})
    assert changed.status_code == 422 and "Le prix ou les créneaux ont changé" in changed.text
    # A walk-in has no carnet to pay from.
    _page, fields = booking_form(client, room, day=day.isoformat(), half="both", days="2")
    carnet = client.post(f"/rooms/{room}", data={**fields, "name": "Zoé", "paid_by": "carnet"})
    assert carnet.status_code == 422
    with site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 0
        assert s.scalar(select(func.count()).select_from(Sale)) == 0
    ok = client.post(f"/rooms/{room}", data={**fields, "name": "Zoé", "paid_by": "counter"})
    assert ok.status_code == 200 and "À régler : 180,00" in ok.text
    with site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 4


def test_unpaid_walk_in_bookings_cannot_hold_every_room(site: Site) -> None:
    config = site.reconfigure({"kiosk": {"counter_unpaid_per_slot": 2}})
    application = create_app(config, connect_bus=False, tuning=TEST_TUNING)
    try:
        room = add_room(site)
        base = today(site) + dt.timedelta(days=1)
        for n in range(2):
            walk_in_books(application.test_client(), room, base + dt.timedelta(days=n), "morning", f"Visiteur {n}")
        client = application.test_client()
        _page, fields = booking_form(client, room, day=(base + dt.timedelta(days=3)).isoformat(), half="morning")
        full = client.post(f"/rooms/{room}", data={**fields, "name": "Visiteur 3", "paid_by": "counter"})
        assert full.status_code == 422 and "restent à régler" in full.text
        with site.db.write() as s:
            for sale in s.scalars(select(Sale)):
                sale.paid = True
        assert "est réservé, Zoé" in walk_in_books(client, room, base + dt.timedelta(days=3), "morning")
    finally:
        application.extensions["halfday.kiosk"].close()


def test_past_and_far_half_days_are_refused(app: Flask, site: Site) -> None:
    room = add_room(site)
    client = app.test_client()
    if current_half(site) == "afternoon":
        _page, fields = booking_form(client, room, day=today(site).isoformat(), half="morning")
        past = client.post(f"/rooms/{room}", data={**fields, "name": "Zoé", "paid_by": "counter"})
        assert past.status_code == 422 and "déjà passé" in past.text
    else:
        board = client.get("/rooms/").text
        assert board.count("cell-past") == 0
    # A day beyond the week is brought back to today by the form, never booked as asked.
    far = (today(site) + dt.timedelta(days=30)).isoformat()
    _page, fields = booking_form(client, room, day=far, half=other_half(site))
    assert fields["day"] == today(site).isoformat()


# ---------------------------------------------------------------------------------------------- members


def test_a_member_books_from_their_carnet_and_cancels(app: Flask, site: Site) -> None:
    room = add_room(site, "Bureau 1", "office")
    link = tap(app, site, BRUNO)  # Bruno's carnet: 10, this tap spends one
    assert link is not None
    token = link.split("t=", 1)[1]
    client = app.test_client()
    account = client.get(link).text
    assert "Réserver une salle" in account
    board = client.get("/rooms/", query_string={"t": token}).text
    assert "Bureau 1" in board and f"t={token}" in board.replace("&amp;", "&")
    tomorrow = today(site) + dt.timedelta(days=1)
    form, fields = booking_form(client, room, day=tomorrow.isoformat(), half="both", t=token)
    assert "Mon carnet (9 demi-journées restantes)" in form and 'name="name"' not in form
    done = client.post(f"/rooms/{room}", data={**fields, "paid_by": "carnet"})
    assert done.status_code == 200, done.text
    assert "Il reste 7 demi-journées à votre carnet" in done.text and "booking-code" not in done.text
    bruno = member_of(site, "Bruno")
    with site.db.read() as s:
        assert room_rights(s, bruno, today(site), site.config.site.device).carnet_balance == 7
        group = s.scalars(select(Booking.group_id)).first()
    account = client.get(link).text
    assert "Bureau 1" in account and "Annuler" in account and "7 demi-journées restantes" in account
    fields = form_fields(account.replace("<form method", '<form id="cancel" method'), "cancel")
    cancelled = client.post(f"/rooms/cancel/{group}", data=fields)
    assert cancelled.status_code == 200 and "Réservation annulée" in cancelled.text
    assert "9 demi-journées restantes" in cancelled.text
    with site.db.read() as s:
        assert room_rights(s, bruno, today(site), site.config.site.device).carnet_balance == 9


def test_a_member_cancels_only_their_own_and_as_the_site_allows(site: Site) -> None:
    config = site.reconfigure({"rooms": {"cancel": "never"}})
    application = create_app(config, connect_bus=False, tuning=dataclasses.replace(TEST_TUNING))
    try:
        room = add_room(site)
        tomorrow = today(site) + dt.timedelta(days=1)
        alice, bruno = member_of(site, "Alice"), member_of(site, "Bruno")
        stamp = Stamp(dt.datetime.now(dt.UTC), 1, "b", True)
        groups = []
        for member, half, paid_by in ((alice, Slot.MORNING, "counter"), (bruno, Slot.AFTERNOON, "carnet")):
            with site.db.write() as s:
                rows = book(
                    s,
                    resource_id=room,
                    half_days=[(tomorrow, half)],
                    name="Alice" if member == alice else "Bruno",
                    origin="admin",
                    device_id=site.config.site.device,
                    stamp=stamp,
                    paid_by=paid_by,
                    member_id=member,
                    today=today(site),
                    site_id=site.config.site.id,
                )
                groups.append(rows[0].group_id)
        alices, brunos = groups
        link = tap(application, site, BRUNO)
        assert link is not None
        client = application.test_client()
        account = client.get(link).text
        assert "Salle Garance" in account and "Annuler" not in account  # the site's rule: never at the screen
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/code").text)
        assert token is not None
        t = link.split("t=", 1)[1]
        never = client.post(f"/rooms/cancel/{brunos}", data={"csrf_token": token.group(1), "t": t})
        assert never.status_code == 422 and "ne s&#39;annulent pas" in never.text.replace("'", "&#39;")
        # Alice's booking is not Bruno's to cancel, whatever the rule.
        other = client.post(f"/rooms/cancel/{alices}", data={"csrf_token": token.group(1), "t": t})
        assert other.status_code == 422 and "Alice" not in other.text
        with site.db.read() as s:
            assert s.scalar(select(func.count()).select_from(Booking).where(Booking.cancelled_at.is_(None))) == 2
    finally:
        application.extensions["halfday.kiosk"].close()


def member_of(site: Site, first_name: str) -> str:
    with site.db.read() as s:
        return s.scalars(select(Member.id).where(Member.first_name == first_name)).one()


def test_a_member_with_neither_carnet_nor_room_half_days_cannot_pay(app: Flask, site: Site) -> None:
    room = add_room(site)
    link = tap(app, site, ALICE)  # an unlimited plan without room half-days
    assert link is not None
    t = link.split("t=", 1)[1]
    client = app.test_client()
    form, fields = booking_form(client, room, day=(today(site) + dt.timedelta(days=1)).isoformat(), half="morning", t=t)
    assert 'id="no-payment"' in form and 'id="book" disabled' in form
    refused = client.post(f"/rooms/{room}", data={**fields, "paid_by": "counter"})
    assert refused.status_code == 422
    included = client.post(f"/rooms/{room}", data={**fields, "paid_by": "included"})
    assert included.status_code == 422 and "Votre formule ne permet pas" in included.text.replace("&#39;", "'")


# ---------------------------------------------------------------------------------------------- the public screen


@pytest.fixture
def wifi_client(app: Flask) -> Iterator[FlaskClient]:
    yield app.test_client()


def test_the_booking_pages_answer_the_touchscreen_only(app: Flask, site: Site, wifi_client: FlaskClient) -> None:
    room = add_room(site)
    for url in ("/rooms/", f"/rooms/{room}", "/rooms/booked/x"):
        assert wifi_client.get(url, environ_base=WIFI).status_code == 403
    assert wifi_client.post(f"/rooms/{room}", environ_base=WIFI).status_code in (400, 403)
    # A forged member link opens nothing.
    assert app.test_client().get("/rooms/", query_string={"t": "forged"}).status_code == 403
