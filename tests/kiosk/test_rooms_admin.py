"""Rooms and offices in the admin, in Chromium: the manager adds a meeting room, books it for a walk-in (who gets a
door code) and for a member from their carnet (the balance drops by the half-days booked, each one a use of the
room), sees the week's board, cancels (the half-days come back), edits, deactivates and reactivates the room, and
replaces the secret address of its calendar, read back with the real `icalendar` parser; a slot already booked is
refused in French with nothing written; plans get their room half-days on the plans page; nothing changes without
the login or the CSRF token; the pages pass the WCAG 2.1 AA audit at the four sizes, in French and English."""

from __future__ import annotations

import datetime as dt
import html
import http.client
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import icalendar
import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from access import bookings, resources
from access.models import Booking, Member, Plan, Resource, Sale, Use
from common.words import Slot
from kiosk.serve import KioskServer
from tests.kiosk.test_accessibility import check, switch_language
from tests.support.axe import SIZES
from tests.support.site import MANAGER_PASSWORD, Site

DAY = dt.timedelta(days=1)


def today(site: Site) -> dt.date:
    return dt.datetime.now(site.config.site.tz).date()


def log_in(page: Page, kiosk: KioskServer, site: Site) -> None:
    site.set_password()
    page.goto(kiosk.url + "/admin/")
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    expect(page.locator("#unlock")).to_be_visible()
    page.click(".admin-nav >> text=Salles")
    expect(page.locator("main h1")).to_have_text("Salles et bureaux")


def fill_room(page: Page, form: str, **values: str) -> None:
    for name, value in values.items():
        if name == "kind":
            page.locator(f'{form} select[name="kind"]').select_option(value)
        else:
            page.locator(f'{form} input[name="{name}"]').fill(value)
    page.locator(f"{form} button.btn-primary").click()


def book(page: Page, first: dt.date, *, member: str = "", name: str = "", **choices: str) -> None:
    form = page.locator("#book")
    chooser = form.locator('select[name="member"]')
    if member:
        value = chooser.locator("option", has_text=member).first.get_attribute("value") or ""
        chooser.select_option(value)
    else:
        chooser.select_option("")
    form.locator('input[name="name"]').fill(name)
    form.locator('input[name="email"]').fill(choices.get("email", ""))
    form.locator('input[name="guests"]').fill(choices.get("guests", ""))
    form.locator('input[name="first"]').fill(first.isoformat())
    form.locator('input[name="days"]').fill(choices.get("days", "1"))
    form.locator('select[name="slots"]').select_option(choices.get("slots", "both"))
    form.locator('select[name="paid_by"]').select_option(choices.get("paid_by", "counter"))
    form.locator("button").click()


def cell(page: Page, day: dt.date, slot: str) -> Locator:
    return page.locator(f'#board td[data-date="{day.isoformat()}"][data-slot="{slot}"]')


def live(site: Site) -> list[Booking]:
    with site.db.read() as s:
        rows = list(s.scalars(select(Booking).where(Booking.cancelled_at.is_(None)).order_by(Booking.local_date)))
        s.expunge_all()
        return rows


def carnet_balance(site: Site, first_name: str, day: dt.date) -> int:
    with site.db.read() as s:
        member_id = s.scalars(select(Member.id).where(Member.first_name == first_name)).one()
        return bookings.room_rights(s, member_id, day, site.config.site.device).carnet_balance


def test_the_manager_keeps_a_room_and_books_it(page: Page, site: Site, kiosk: KioskServer) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, kiosk, site)
    expect(page.locator("#rooms tbody tr")).to_have_text(["Aucune salle ni bureau."])
    entered = {"name": "Salle Jaurès", "kind": "meeting_room", "capacity": "10", "price_halfday": "45"}
    fill_room(page, "#add-room", **entered, price_day="80,50")
    expect(page.locator(".alert-ok")).to_have_text("Salle créée : Salle Jaurès")
    expect(page.locator("main h1")).to_have_text("Salle Jaurès")
    expect(page.locator("#room-summary")).to_contain_text("Salle de réunion · 10 place(s)")
    expect(page.locator("#board tbody tr")).to_have_count(7)
    expect(page.locator("#board td.free")).to_have_count(14)
    with site.db.read() as s:
        room = s.scalars(select(Resource)).one()
        assert (room.price_halfday_cents, room.price_day_cents, room.active) == (4500, 8050, True)
        room_id = room.id

    # A second room of the same name: a French sentence, the form kept, nothing written.
    page.click(".admin-nav >> text=Salles")
    fill_room(page, "#add-room", name="salle jaurès", kind="office")
    expect(page.locator(".alert-error")).to_have_text("une salle s'appelle déjà « salle jaurès »")
    expect(page.locator('#add-room input[name="name"]')).to_have_value("salle jaurès")
    page.locator("#rooms a", has_text="Salle Jaurès").click()

    # A walk-in for tomorrow afternoon, paid at the counter: a 6-digit code to give them.
    tomorrow = today(site) + DAY
    book(page, tomorrow, name="Zoé Lemoine", email="zoe@example.org", slots="afternoon", guests="Ana, Léo")
    said = re.compile(r"^Réservé : 1 demi-journée\(s\)\. À encaisser : 45,00\s€\. Code d'entrée à donner : \d{6}$")
    expect(page.locator(".alert-ok")).to_have_text(said)
    code = (page.locator(".alert-ok").text_content() or "")[-6:]
    zoe = cell(page, tomorrow, "afternoon")
    expect(zoe).to_contain_text("Zoé Lemoine")
    expect(zoe).to_contain_text(f"code {code}")
    expect(zoe).to_contain_text("invités : Ana, Léo")
    [row] = live(site)
    assert (row.origin, row.holder_kind, row.paid_by, row.code) == ("admin", "walk_in", "counter", code)
    assert row.email == "zoe@example.org"
    with site.db.read() as s:
        sale = s.get_one(Sale, row.sale_id)
        assert (sale.amount_cents, sale.provider, sale.paid, sale.buyer_name) == (4500, "counter", False, "Zoé Lemoine")

    # The same half-day again, for a member: refused, nothing written, the form kept.
    book(page, tomorrow, member="Bruno Petit", slots="afternoon", paid_by="carnet")
    expect(page.locator(".alert-error")).to_have_text("Ce créneau est déjà réservé : rien n'a été réservé.")
    expect(page.locator('#book select[name="member"] option:checked')).to_have_text("Bruno Petit (carnet : 10)")
    assert len(live(site)) == 1

    # Bruno from his carnet, two whole days the week after: four half-days off his balance, four uses of the room.
    first = today(site) + 8 * DAY
    before = carnet_balance(site, "Bruno", first)
    book(page, first, member="Bruno Petit", days="2", paid_by="carnet")
    expect(page.locator(".alert-ok")).to_have_text("Réservé : 4 demi-journée(s).")
    expect(cell(page, first, "morning")).to_contain_text("Bruno")
    expect(cell(page, first + DAY, "afternoon")).to_contain_text("carnet")
    assert carnet_balance(site, "Bruno", first) == before - 4
    with site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Use).where(Use.resource_id == room_id)) == 5

    # Cancelled by the manager: the half-days come back to the carnet and the slots are free.
    cell(page, first, "morning").locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Réservation annulée : 4 demi-journée(s) libérée(s).")
    expect(cell(page, first, "morning")).to_have_text("Libre")
    assert carnet_balance(site, "Bruno", first) == before
    assert [b.name for b in live(site)] == ["Zoé Lemoine"]

    # The week's board moves by weeks: from the week after next, a week back is still not this week.
    monday = today(site) - dt.timedelta(days=today(site).weekday())
    page.goto(f"{kiosk.url}/admin/rooms/{room_id}?week={monday + 14 * DAY}")
    page.click("#previous-week")
    expect(page.locator("#board td").first).to_have_attribute("data-date", f"{monday + 7 * DAY}")
    expect(page.locator("#this-week")).to_be_visible()
    page.click("#this-week")
    expect(page.locator("#board td").first).to_have_attribute("data-date", monday.isoformat())

    # The calendar: the address on the page, read by the real parser; a new one revokes it.
    url = page.locator("#feed-url").input_value()
    assert url.startswith(kiosk.url + f"/rooms/{room_id}/") and url.endswith(".ics")
    answer = page.request.get(url)
    assert answer.status == 200
    [event] = icalendar.Calendar.from_ical(answer.body()).walk("VEVENT")
    assert "Zoé Lemoine" in str(event["SUMMARY"]) and b"zoe@example.org" not in answer.body()
    page.click("#new-secret")
    expect(page.locator(".alert-ok")).to_have_text(
        "Nouvelle adresse du calendrier de Salle Jaurès : l'ancienne ne marche plus."
    )
    assert page.locator("#feed-url").input_value() != url
    assert page.request.get(url).status == 404
    assert page.request.get(page.locator("#feed-url").input_value()).status == 200

    # Edited, then deactivated: no booking form; the bookings made stay; reactivated.
    fill_room(page, "#edit-room", name="Salle Jean Jaurès", door_device="porte de la salle !")
    expect(page.locator(".alert-error")).to_have_text(
        "l'identifiant de la porte : lettres, chiffres, - et _, 64 caractères au plus"
    )
    expect(page.locator('#edit-room input[name="name"]')).to_have_value("Salle Jean Jaurès")
    fill_room(page, "#edit-room", name="Salle Jean Jaurès", capacity="12", door_device="salle-1")
    expect(page.locator(".alert-ok")).to_have_text("Salle enregistrée : Salle Jean Jaurès")
    expect(page.locator('#edit-room input[name="price_day"]')).to_have_value("80.50")
    page.locator("#room-active button").click()
    expect(page.locator(".alert-ok")).to_contain_text("Salle Jean Jaurès est désactivée")
    expect(page.locator("#book")).to_have_count(0)
    assert len(live(site)) == 1
    page.locator("#room-active button").click()
    expect(page.locator(".alert-ok")).to_have_text("Salle Jean Jaurès est de nouveau réservable.")

    # A member paying at the desk for a whole day: the day's price to take, no code (the badge opens).
    book(page, today(site) + 9 * DAY, member="Alice Martin")
    expect(page.locator(".alert-ok")).to_have_text(
        re.compile(r"^Réservé : 2 demi-journée\(s\)\. À encaisser : 80,50\s€\.$")
    )
    with site.db.read() as s:
        sale = s.scalars(select(Sale).where(Sale.amount_cents == 8050)).one()
        assert (sale.buyer_name, sale.paid, sale.member_id is not None) == ("Alice Martin", False, True)
    page.click(".admin-nav >> text=Ventes")
    expect(page.locator("#sales tbody tr", has_text="Alice Martin")).to_have_count(1)
    expect(page.locator("#sales tbody tr", has_text="Zoé Lemoine")).to_have_count(1)
    with site.db.read() as s:
        room = s.get_one(Resource, room_id)
        assert (room.name, room.capacity, room.door_device, room.active) == ("Salle Jean Jaurès", 12, "salle-1", True)


def test_plans_include_room_half_days_from_the_plans_page(page: Page, site: Site, kiosk: KioskServer) -> None:
    log_in(page, kiosk, site)
    page.click(".admin-nav >> text=Formules")
    row = page.locator("#plans tbody tr", has_text="Illimité")
    row.locator('input[name="room_half_days"]').fill("6")
    row.locator("form[id^=rooms] button").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule Illimité : demi-journées de salle enregistrées.")
    expect(row.locator('input[name="room_half_days"]')).to_have_value("6")

    form = page.locator("#add-plan")
    form.locator('input[name="name"]').fill("Résident bureau")
    form.locator('select[name="kind"]').select_option("unlimited")
    form.locator('input[name="room_half_days"]').fill("8")
    form.locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule créée : Résident bureau")
    with site.db.read() as s:
        got = {name: rooms for name, rooms in s.execute(select(Plan.name, Plan.room_half_days))}
    assert got["Illimité"] == 6 and got["Résident bureau"] == 8 and got["Carnet 10"] is None

    # Alice's plan now includes six: the booking form says so, and a half-day booked from them leaves five.
    with site.db.write() as s:
        room_id = resources.add_resource(s, resources.ResourceSpec("Bureau 1", "office")).id
    page.goto(f"{kiosk.url}/admin/rooms/{room_id}")
    alice = page.locator('#book select[name="member"] option', has_text="Alice Martin")
    expect(alice).to_have_text("Alice Martin (salle comprise : 6 ce mois-ci)")
    day = today(site) + DAY
    book(page, day, member="Alice Martin", slots="morning", paid_by="included")
    expect(page.locator(".alert-ok")).to_have_text("Réservé : 1 demi-journée(s).")
    if day.month == today(site).month:
        expect(alice).to_have_text("Alice Martin (salle comprise : 5 ce mois-ci)")
    [booked] = live(site)
    assert (booked.paid_by, booked.local_date, booked.slot, booked.name) == ("included", day, "morning", "Alice")


def test_without_login_or_token_nothing_changes(page: Page, site: Site, kiosk: KioskServer) -> None:
    with site.db.write() as s:
        room_id = resources.add_resource(s, resources.ResourceSpec("Bureau 1", "office")).id
    site.set_password()
    page.goto(kiosk.url + f"/admin/rooms/{room_id}")
    assert "/admin/login" in page.url
    token = page.locator('input[name="csrf_token"]').get_attribute("value") or ""
    day = (today(site) + DAY).isoformat()
    booking: dict[str, str | float | bool] = {
        "csrf_token": token,
        "name": "Intrus",
        "first": day,
        "slots": "morning",
        "paid_by": "counter",
    }
    assert page.request.post(f"{kiosk.url}/admin/rooms/{room_id}/book", form=booking).status == 401
    assert page.request.post(f"{kiosk.url}/admin/rooms", form={"csrf_token": token, "name": "X"}).status == 401
    assert page.request.post(f"{kiosk.url}/admin/rooms/{room_id}/secret", form={"csrf_token": token}).status == 401
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    del booking["csrf_token"]
    assert page.request.post(f"{kiosk.url}/admin/rooms/{room_id}/book", form=booking).status == 400
    assert live(site) == []
    # With both, the same request books: the refusals above were the login's and the token's.
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value") or ""
    assert page.request.post(f"{kiosk.url}/admin/rooms/{room_id}/book", form={**booking, "csrf_token": token}).ok
    assert [b.name for b in live(site)] == ["Intrus"]


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_the_room_pages_are_accessible_at_every_size(sized_page: Page, site: Site, kiosk: KioskServer) -> None:
    now = today(site)
    monday = now - dt.timedelta(days=now.weekday())
    with site.db.write() as s:
        room = resources.add_resource(
            s, resources.ResourceSpec("Salle de réunion du rez-de-chaussée", "meeting_room", 12, 4500, 8000, "salle-1")
        )
        resources.add_resource(s, resources.ResourceSpec("Cabine", "phone_box"))
        bruno = s.scalars(select(Member.id).where(Member.first_name == "Bruno")).one()
        stamp = kiosk.kiosk.stamp()
        device = site.config.site.device
        made = ((monday + 5 * DAY, ("morning", "afternoon"), None), (monday + 6 * DAY, ("morning",), bruno))
        for day, slots, who in made:
            bookings.book(
                s,
                resource_id=room.id,
                half_days=[(day, Slot(x)) for x in slots],
                name="Association Les Amis du Bourg",
                origin="admin",
                device_id=device,
                stamp=stamp,
                paid_by="carnet" if who else "counter",
                member_id=who,
                guests=("Ana", "Léo"),
                today=monday,
            )
        room_id = room.id
    page = sized_page
    log_in(page, kiosk, site)
    for lang in ("fr", "en"):
        switch_language(page, lang)
        expect(page.locator("#rooms tbody tr")).to_have_count(2)
        check(page, f"admin-rooms-{lang}", lang)
    page.locator("#rooms a", has_text="Salle de réunion").click()
    expect(page.locator("#board td.booked")).to_have_count(3)
    check(page, "admin-room-en", "en")
    expect(page.locator("#calendar h2")).to_have_text("Calendar")
    switch_language(page, "fr")
    check(page, "admin-room-fr", "fr")
    fill_room(page, "#edit-room", door_device="porte de la salle !")
    expect(page.locator(".alert-error")).to_be_visible()
    check(page, "admin-room-error-fr", "fr")
    page.goto(f"{kiosk.url}/admin/plans")
    check(page, "admin-plans-rooms-fr", "fr")
    assert room_id


def test_simultaneous_bookings_at_the_admin_leave_one(page: Page, site: Site, kiosk: KioskServer) -> None:
    """Ten managers' tabs book the same half-day at once over HTTP: one booking, nine clear refusals."""
    with site.db.write() as s:
        room_id = resources.add_resource(s, resources.ResourceSpec("Bureau 1", "office")).id
    log_in(page, kiosk, site)
    page.goto(f"{kiosk.url}/admin/rooms/{room_id}")
    token = page.locator('#book input[name="csrf_token"]').get_attribute("value") or ""
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    day = (today(site) + 2 * DAY).isoformat()
    host, port = kiosk.url.removeprefix("http://").split(":")
    start = threading.Barrier(10)

    def attempt(n: int) -> tuple[int, str]:
        body = urlencode({"csrf_token": token, "name": f"Visiteur {n}", "first": day, "slots": "afternoon"})
        connection = http.client.HTTPConnection(host, int(port), timeout=20)
        start.wait()
        connection.request("POST", f"/admin/rooms/{room_id}/book", body, {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, "Origin": kiosk.url,
            "Referer": f"{kiosk.url}/admin/rooms/{room_id}",
        })  # fmt: skip
        answer = connection.getresponse()
        text = answer.read().decode("utf-8")
        connection.close()
        return answer.status, text

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(attempt, range(10)))
    statuses = sorted(status for status, _text in answers)
    assert statuses[0] in (302, 303) and statuses[1:] == [409] * 9, statuses
    assert all(
        "Ce créneau est déjà réservé : rien n'a été réservé." in html.unescape(text)
        for status, text in answers
        if status == 409
    )
    [booked] = live(site)
    assert (booked.local_date.isoformat(), booked.slot) == (day, "afternoon")
