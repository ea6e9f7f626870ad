"""A resource's bookings as a read-only iCalendar feed (RFC 5545), for the manager's calendar application.

The URL holds the resource's secret (`/rooms/<resource id>/<secret>.ics`): anyone on the site's network who has
it reads the bookings, like the wall display, and nobody else; a wrong secret is a 404 like an unknown resource,
so that the answer tells nothing. The manager's "new secret" revokes the old URL. The feed gives the booker's
name and the guests' first names, never an e-mail nor a walk-in's door code.

Written by hand: the text is simple, and the tests read it back with the `icalendar` package.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from flask import Blueprint, Response, abort
from sqlalchemy import select

from access.ledger import SlotRules, end_instant
from access.models import Booking, Resource
from common.i18n import _
from common.words import Slot
from kiosk.context import current_kiosk

bp = Blueprint("ical", __name__)

# Past bookings the feed still gives: the last three months are what a manager looks back on; older ones would
# only make every calendar refresh longer.
PAST_DAYS = 92
# RFC 5545 3.1: lines are folded at 75 octets; a continuation line starts with one space.
LINE_OCTETS = 75
PRODID = "-//halfday//rooms//FR"


@dataclass(frozen=True)
class Stay:
    """One event of the calendar: the half-days of one booking that follow each other on one day."""

    uid: str
    group: str
    date: dt.date
    first: Slot
    last: Slot
    name: str
    guests: str | None
    created_at: dt.datetime


def escape(text: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and new lines escaped."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def fold(line: str) -> Iterator[str]:
    """A content line cut into lines of 75 octets at most, never inside a UTF-8 character."""
    chunk = ""
    size = 0
    limit = LINE_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            yield chunk
            chunk, size, limit = " ", 1, LINE_OCTETS
        chunk += char
        size += width
    yield chunk


def utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def stays(bookings: Iterable[Booking]) -> list[Stay]:
    """The bookings (live ones) as events: a morning and an afternoon of the same booking and day make one."""
    found: list[Stay] = []
    ordered = sorted(bookings, key=lambda b: (b.local_date, b.slot != Slot.MORNING, b.group_id))
    for b in ordered:
        last = found[-1] if found else None
        if (
            last is not None
            and last.group == b.group_id
            and last.date == b.local_date
            and last.last == Slot.MORNING
            and b.slot == Slot.AFTERNOON
        ):
            found[-1] = dataclasses.replace(last, last=Slot.AFTERNOON)
            continue
        uid = f"{b.group_id}-{b.local_date:%Y%m%d}-{b.slot}"
        found.append(Stay(uid, b.group_id, b.local_date, Slot(b.slot), Slot(b.slot), b.name, b.guests, b.created_at))
    return found


def _bounds(stay: Stay, rules: SlotRules) -> tuple[dt.datetime, dt.datetime]:
    start = rules.morning_start if stay.first == Slot.MORNING else rules.noon
    end = rules.noon if stay.last == Slot.MORNING else rules.afternoon_end
    return (
        dt.datetime.combine(stay.date, start, tzinfo=rules.tz),
        end_instant(stay.date, end, rules.tz),
    )


def calendar(resource: Resource, bookings: Iterable[Booking], rules: SlotRules, now: dt.datetime) -> str:
    """The feed's text: one VEVENT per stay, times in UTC, CRLF line ends, folded lines."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(resource.name)}",
    ]
    for stay in stays(bookings):
        start, end = _bounds(stay, rules)
        summary = _("%(room)s : %(name)s", room=resource.name, name=stay.name)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{stay.uid}@halfday",
            f"DTSTAMP:{utc_stamp(now)}",
            f"CREATED:{utc_stamp(stay.created_at)}",
            f"DTSTART:{utc_stamp(start)}",
            f"DTEND:{utc_stamp(end)}",
            f"SUMMARY:{escape(summary)}",
            f"LOCATION:{escape(resource.name)}",
        ]
        if stay.guests:
            guests = _("Invités : %(names)s", names=stay.guests)
            lines.append(f"DESCRIPTION:{escape(guests)}")
        lines += ["TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in fold(line))


@bp.get("/<resource_id>/<secret>.ics")
def feed(resource_id: str, secret: str) -> Response:
    kiosk = current_kiosk()
    now = kiosk.now()
    since = now.astimezone(kiosk.config.site.tz).date() - dt.timedelta(days=PAST_DAYS)
    with kiosk.db.read() as s:
        resource = s.get(Resource, resource_id)
        if resource is None or not hmac.compare_digest(resource.feed_secret.encode(), secret.encode()):
            abort(404)
        booked = s.scalars(
            select(Booking).where(
                Booking.resource_id == resource.id,
                Booking.cancelled_at.is_(None),
                Booking.local_date >= since,
            )
        ).all()
        text = calendar(resource, booked, kiosk.config.site.rules, now)
    response = Response(text, content_type="text/calendar; charset=utf-8")
    # The URL is the secret: no cache on the way keeps a copy that outlives a revoked URL.
    response.headers["Cache-Control"] = "no-store"
    return response
