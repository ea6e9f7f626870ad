"""A resource's calendar feed (kiosk/ical.py), read back with the real `icalendar` parser: its bookings as events at
the site's slot hours, a morning and an afternoon of one booking as one event, names with commas and accents kept,
lines folded at 75 octets with CRLF ends; never an e-mail nor a walk-in's door code; cancelled bookings gone. Behind
its secret only: a wrong secret, an unknown resource and a replaced secret answer 404, the same as any page that
does not exist; from the site's network without a login, like the wall display."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import icalendar
import pytest
from flask import Flask
from flask.testing import FlaskClient

from access import resources
from access.models import Booking
from common.db import new_id, utcnow
from kiosk.app import create_app
from kiosk.ical import LINE_OCTETS, escape, fold
from tests.support.kiosk import TEST_TUNING
from tests.support.site import Site

DAY = dt.timedelta(days=1)
LONG_NAME = "Salle « Les Tilleuls », rez-de-chaussée ; à côté de la cuisine partagée"


@pytest.fixture
def site(new_site: Callable[..., Site]) -> Site:
    """The sample site with its usual slots: morning 08:00-13:00, afternoon 13:00-20:00."""
    return new_site()


@pytest.fixture
def app(site: Site) -> Iterator[Flask]:
    application = create_app(site.config, connect_bus=False, tuning=TEST_TUNING)
    yield application
    application.extensions["halfday.kiosk"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def today(site: Site) -> dt.date:
    return dt.datetime.now(site.config.site.tz).date()


def add_room(site: Site, name: str = LONG_NAME) -> tuple[str, str]:
    with site.db.write() as s:
        room = resources.add_resource(s, resources.ResourceSpec(name, "meeting_room", 8, 4000, 7000))
        return room.id, room.feed_secret


def booked(
    site: Site, room_id: str, day: dt.date, slots: tuple[str, ...], name: str, **fields: str | None
) -> list[str]:
    """Rows of one booking, as access/bookings.py leaves them; the feed reads only the table."""
    group = new_id()
    ids = []
    with site.db.write() as s:
        for slot in slots:
            row = Booking(
                group_id=group,
                resource_id=room_id,
                local_date=day,
                slot=slot,
                holder_kind=str(fields.get("holder_kind") or "walk_in"),
                member_id=None,
                name=name,
                email=fields.get("email"),
                code=fields.get("code"),
                guests=fields.get("guests"),
                paid_by="counter",
                origin="admin",
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def at(site: Site, day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=site.config.site.tz).astimezone(dt.UTC)


def test_the_feed_is_a_calendar_of_the_bookings(site: Site, client: FlaskClient) -> None:
    room, secret = add_room(site)
    now = today(site)
    booked(site, room, now, ("afternoon",), "Zoé", email="zoe@example.org", code="271828")
    booked(site, room, now + DAY, ("morning", "afternoon"), "Association Les Amis, du Bourg; ex-Café")
    booked(site, room, now + 2 * DAY, ("morning",), "Jérôme", guests="Ana,Léo")
    gone = booked(site, room, now + 3 * DAY, ("morning",), "Annulé")
    with site.db.write() as s:
        row = s.get(Booking, gone[0])
        assert row is not None
        row.cancelled_at = utcnow()
    other, _ = add_room(site, "Bureau 2")
    booked(site, other, now, ("morning",), "Ailleurs")

    answer = client.get(f"/rooms/{room}/{secret}.ics")
    assert answer.status_code == 200
    assert answer.content_type == "text/calendar; charset=utf-8"
    raw = answer.data
    text = raw.decode("utf-8")

    # The file's form: CRLF everywhere, no line longer than 75 octets, and the long name folded.
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= LINE_OCTETS
    assert "\r\n " in text

    cal = icalendar.Calendar.from_ical(raw)
    assert str(cal["VERSION"]) == "2.0"
    # The parser keeps an X- property as it came, escaped; SUMMARY and LOCATION, TEXT it knows, come back whole.
    assert str(cal["X-WR-CALNAME"]) == escape(LONG_NAME)
    events = sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("DTSTART"))
    assert [str(e["SUMMARY"]).split(" : ", 1)[1] for e in events] == [
        "Zoé",
        "Association Les Amis, du Bourg; ex-Café",
        "Jérôme",
    ]
    assert all(str(e["SUMMARY"]).startswith(LONG_NAME) for e in events)
    assert {str(e["LOCATION"]) for e in events} == {LONG_NAME}
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in events] == [
        (at(site, now, 13), at(site, now, 20)),
        (at(site, now + DAY, 8), at(site, now + DAY, 20)),  # a morning and an afternoon: one event
        (at(site, now + 2 * DAY, 8), at(site, now + 2 * DAY, 13)),
    ]
    assert str(events[2]["DESCRIPTION"]).endswith("Ana,Léo")
    assert len({str(e["UID"]) for e in events}) == 3
    # What the feed never gives: an e-mail, a door code, another room's bookings, a cancelled one.
    for secret_thing in ("zoe@example.org", "271828", "Ailleurs", "Annulé"):
        assert secret_thing not in text


def test_a_wrong_or_replaced_secret_finds_nothing(site: Site, client: FlaskClient, app: Flask) -> None:
    room, secret = add_room(site, "Bureau des Consultants")
    booked(site, room, today(site), ("morning",), "Marc")
    assert client.get(f"/rooms/{room}/{secret}.ics").status_code == 200
    unknown = client.get(f"/rooms/{new_id()}/{secret}.ics")
    wrong = client.get(f"/rooms/{room}/{secret[:-1]}x.ics")
    assert unknown.status_code == wrong.status_code == 404
    assert wrong.data == unknown.data  # the answer does not tell a room that exists from one that does not
    assert b"Marc" not in wrong.data

    with site.db.write() as s:
        fresh = resources.renew_feed_secret(s, room).feed_secret
    assert fresh != secret and len(fresh) >= 40
    assert client.get(f"/rooms/{room}/{secret}.ics").status_code == 404
    assert b"Marc" in client.get(f"/rooms/{room}/{fresh}.ics").data

    # From a laptop on the site's network, with no login, like the wall display (the touchscreen's pages refuse).
    laptop = app.test_client()
    laptop.environ_base["REMOTE_ADDR"] = "192.168.1.50"
    assert laptop.get(f"/rooms/{room}/{fresh}.ics").status_code == 200
    assert laptop.get("/").status_code == 403


def test_text_is_escaped_and_folded_whole() -> None:
    assert escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    line = "SUMMARY:" + "é" * 80
    parts = list(fold(line))
    assert all(len(p.encode("utf-8")) <= LINE_OCTETS for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == line
