"""The appliance's side of the hub's booking requests and of the rooms the hub shows (sync/PROTOCOL.md, "Rooms and
offices"): a `book` command is booked through the same core as the touchscreen and the admin, and answered with the
`booking` event that carries its request id, or a `booking_refused` event; the site's resources go to the hub as a
`resources` event whenever they differ from the list last sent."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import orjson
from sqlalchemy import select

from access import bookings
from access.db import Database
from access.ledger import SlotRules, slot_at
from access.models import Resource
from access.store import Stamp, append_event, get_meta, set_meta
from common.words import Slot
from sync.payloads import MAX_RESOURCES, REFUSAL_LEN, RESOURCE_KINDS

log = logging.getLogger(__name__)

# The digest of the resources list last written as a `resources` event.
RESOURCES_SENT = "resources_sent"


def book_for_hub(db: Database, site: str, device: str, args: dict[str, Any], stamp: Stamp, rules: SlotRules) -> str:
    """Book what a verified `book` command asks, or record why not; returns "booked" or the refusal's reason.

    One write transaction each way: the booking with its event, or the refusal event alone."""
    ref = slot_at(stamp.at, rules)
    half_days = [(dt.date.fromisoformat(h["date"]), Slot(h["slot"])) for h in args["half_days"]]
    try:
        with db.write() as session:
            bookings.book(
                session,
                resource_id=args["resource"],
                half_days=half_days,
                name=args["name"],
                origin="hub",
                device_id=device,
                stamp=stamp,
                paid_by=args["paid_by"],
                member_id=args["member"],
                today=ref.date,
                site_id=site,
                request_id=args["request"],
                not_before=(ref.date, ref.slot),
            )
        return "booked"
    except bookings.BookingRefused as exc:
        reason = exc.reason[:REFUSAL_LEN]
    with db.write() as session:
        append_event(session, device, "booking_refused", {"request": args["request"], "reason": reason}, stamp)
    log.info("réservation %s demandée par le hub refusée : %s", args["request"], reason)
    return reason


def resources_list(db: Database) -> list[dict[str, Any]]:
    """The site's resources as the `resources` event carries them (those the protocol can carry)."""
    with db.read() as session:
        rows = session.execute(select(Resource).order_by(Resource.name)).scalars().all()
        return [
            {
                "id": r.id,
                "name": r.name[:120],
                "kind": r.kind,
                "capacity": max(0, r.capacity),
                "price_halfday_cents": max(0, r.price_halfday_cents),
                "price_day_cents": max(0, r.price_day_cents),
                "active": r.active,
            }
            for r in rows
            if r.kind in RESOURCE_KINDS
        ][:MAX_RESOURCES]


def send_resources(db: Database, device: str, stamp: Stamp) -> bool:
    """Write a `resources` event when the list differs from the one last sent; True when one was written."""
    listed = resources_list(db)
    digest = hashlib.sha256(orjson.dumps(listed)).hexdigest()
    with db.read() as session:
        if _already_said(get_meta(session, RESOURCES_SENT), digest, listed):
            return False
    with db.write() as session:
        if _already_said(get_meta(session, RESOURCES_SENT), digest, listed):  # another agent was quicker
            return False
        append_event(session, device, "resources", {"resources": listed}, stamp)
        set_meta(session, RESOURCES_SENT, digest)
    return True


def _already_said(sent: str | None, digest: str, listed: list[dict[str, Any]]) -> bool:
    # A site without rooms, that never had any, has nothing to tell the hub.
    return sent == digest or (sent is None and not listed)
