"""The hub's page of a site's rooms and offices: its resources, the coming week's bookings, a booking requested
here shown "demandée" until the site answers (réservée, or refusée with why), only to the site's managers; the
month's usage apart by place. On SQLite and PostgreSQL with Flask's client, and in Chromium at every size with
axe-core's WCAG 2.1 AA audit."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect
from sqlalchemy import select

from sync.hub import admin
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import BookingRequest, Command
from sync.payloads import validate_batch
from tests.support.hub import add_admin, add_manager, hub_app, post, sign_in
from tests.sync.devicesim import make_event
from tests.sync.test_hub_accessibility import Audit, HubServer
from tests.sync.test_hub_accessibility import sign_in as browser_sign_in

SITE, DEVICE = "site-a", "door-1"
ROOM, OFFICE = "1" * 32, "2" * 32


class Door:
    """The site's door as the hub hears it: events with the next seq each time."""

    def __init__(self, db: HubDatabase) -> None:
        self.db, self.seq = db, 0

    def say(self, kind: str, data: dict[str, Any]) -> None:
        self.seq += 1
        event = make_event(SITE, DEVICE, self.seq, kind, data)
        Ingestor(self.db, gap_wait_s=0).ingest(
            validate_batch({"v": 1, "site": SITE, "device": DEVICE, "events": [event]})
        )


def rooms(door: Door) -> None:
    door.say(
        "resources",
        {
            "resources": [
                {
                    "id": ROOM,
                    "name": "Salle de réunion du premier étage, côté jardin",
                    "kind": "meeting_room",
                    "capacity": 12,
                    "price_halfday_cents": 4500,
                    "price_day_cents": 8000,
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
        },
    )


def booked(door: Door, resource: str, kind: str, day: dt.date, slot: str, name: str, request: str | None) -> None:
    door.say(
        "booking",
        {
            "group": uuid.uuid4().hex,
            "resource": resource,
            "resource_kind": kind,
            "resource_name": "x",
            "holder": None,
            "name": name,
            "paid_by": "counter",
            "sale": None,
            "origin": "hub" if request else "kiosk",
            "request": request,
            "slots": [
                {"id": uuid.uuid4().hex, "date": day.isoformat(), "slot": slot, "spent": 0, "subscription": None}
            ],
        },
    )


def site_today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo("Europe/Paris")).date()


def last_request(db: HubDatabase) -> BookingRequest:
    with db.read() as s:
        return s.execute(select(BookingRequest).order_by(BookingRequest.requested_at.desc())).scalars().first()  # type: ignore[return-value]


@pytest.fixture
def client(hub_db: HubDatabase) -> FlaskClient:
    add_admin(hub_db)
    return hub_app(hub_db).test_client()


def test_a_booking_asked_at_the_hub_shows_requested_then_the_sites_answer(
    client: FlaskClient, hub_db: HubDatabase
) -> None:
    admin.add_site(hub_db, SITE, "Le Local")
    admin.add_site(hub_db, "site-b", "La Fabrique")
    door = Door(hub_db)
    rooms(door)
    sign_in(client)
    page = client.get(f"/sites/{SITE}/rooms").get_data(as_text=True)
    assert "Salle de réunion du premier étage, côté jardin" in page and "Bureau 1" in page
    day = site_today() + dt.timedelta(days=1)
    path = f"/sites/{SITE}/rooms"
    form: dict[str, object] = {
        "resource": ROOM,
        "date": day.isoformat(),
        "slots": "day",
        "name": "Paul",
        "paid_by": "counter",
    }
    shown = post(client, path, form, page=path).get_data(as_text=True)
    assert "Réservation demandée au site" in shown and "demandée" in shown
    first = last_request(hub_db)
    assert first.half_days == {"half_days": [[day.isoformat(), "morning"], [day.isoformat(), "afternoon"]]}
    with hub_db.read() as s:
        command = s.execute(select(Command).where(Command.name == "book")).scalar_one()
    assert (command.site_id, command.device_id, command.args["request"]) == (SITE, DEVICE, first.id)
    door.say("booking_refused", {"request": first.id, "reason": "taken"})
    shown = client.get(path).get_data(as_text=True)
    assert "refusée : déjà réservé sur ce créneau" in shown
    post(client, path, {**form, "slots": "morning", "name": "Inès"}, page=path)
    second = last_request(hub_db)
    booked(door, ROOM, "meeting_room", day, "morning", "Inès", second.id)
    shown = client.get(path).get_data(as_text=True)
    assert "réservée" in shown and "Inès" in shown
    # Nothing asked of a room the site did not report, nor without a name.
    refused = post(client, path, {**form, "resource": "9" * 32}, page=path).get_data(as_text=True)
    assert "Refusé" in refused
    refused = post(client, path, {**form, "name": " "}, page=path).get_data(as_text=True)
    assert "Refusé" in refused
    with hub_db.read() as s:
        assert len(s.execute(select(BookingRequest)).scalars().all()) == 2
    # A manager of another site neither sees nor books this site's rooms.
    add_manager(hub_db, "camille", ["site-b"])
    theirs = client.application.test_client()
    sign_in(theirs, "camille")
    assert theirs.get(path).status_code == 404
    assert post(theirs, path, form, page="/").status_code == 404
    # The month's usage shows the booked half-day apart, and together with the rest.
    usage = client.get(f"/usage?month={day:%Y-%m}").get_data(as_text=True)
    assert "Par lieu" in usage
    assert 'data-label="Salle de réunion" class="num">1</td>' in usage
    assert 'data-label="Bureaux" class="num">0</td>' in usage


@pytest.fixture
def served(tmp_path: Any) -> Iterator[tuple[str, HubDatabase]]:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    db.create_all()
    add_admin(db)
    admin.add_site(db, SITE, "Tiers-lieu de Marcillac-Vallon, la Grange")
    door = Door(db)
    rooms(door)
    today = site_today()
    booked(door, ROOM, "meeting_room", today, "afternoon", "Marie-Ange-Bénédicte", None)
    booked(door, OFFICE, "office", today + dt.timedelta(days=2), "morning", "Jean-Baptiste", None)
    server = HubServer(db)
    yield server.url, db
    server.stop()
    db.dispose()


@pytest.mark.parametrize("sized_page", ["touchscreen", "laptop", "tv", "phone"], indirect=True)
def test_the_rooms_page_passes_the_audit_at_every_size(sized_page: Page, served: tuple[str, HubDatabase]) -> None:
    page, (url, db) = sized_page, served
    audit = Audit(page)
    browser_sign_in(page, url, "admin")
    audit.visit(f"{url}/sites/{SITE}", "site-with-rooms-fr")
    page.click("text=Salles et bureaux : réservations")
    expect(page.locator("main h1")).to_contain_text("Salles et bureaux")
    audit.check("rooms-fr")
    page.select_option("select[name=resource]", OFFICE)
    page.fill("input[name=name]", "Éléonore")
    page.select_option("select[name=slots]", "day")
    page.click("main form button")
    expect(page.locator(".flash")).to_contain_text("Réservation demandée au site")
    expect(page.locator("td.state-waiting")).to_have_text("demandée")
    audit.check("rooms-requested-fr")
    asked = last_request(db)
    assert (asked.resource_id, asked.name, len(asked.half_days["half_days"])) == (OFFICE, "Éléonore", 2)
    audit.visit(f"{url}/usage?month={site_today():%Y-%m}", "usage-by-place-fr")
    page.click("header nav a[lang='en']")
    audit.visit(f"{url}/sites/{SITE}/rooms", "rooms-en")
    expect(page.locator("main h1")).to_contain_text("Rooms and offices")
    expect(page.locator("td.state-waiting")).to_have_text("requested")
    audit.passed()
