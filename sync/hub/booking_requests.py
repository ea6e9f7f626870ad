"""A booking asked for at the hub: checked against the manager's sites and the resource the site reported, kept as
a request ("demandée") and sent to the door whose ledger holds the resource as a signed `book` command; the site's
`booking` or `booking_refused` event answers it (sync/hub/bookings.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from common.db import utcnow
from common.words import SLOTS
from sync.hub.admin import HubError, _command, _door_in_service, _member_for
from sync.hub.audit import Actor
from sync.hub.db import HubDatabase
from sync.hub.models import BookingRequest, Resource
from sync.payloads import PAID_BY, book_args
from sync.protocol import MAX_COMMAND_TTL_S, ProtocolError

# The command's life: a door away longer than this never books it; the request shows "expired" and is asked again.
BOOK_TTL_S = MAX_COMMAND_TTL_S
# The most half-days one request asks for (access.bookings.MAX_HALF_DAYS: the appliance refuses more).
MAX_REQUEST_HALF_DAYS = 28
WALK_IN_PAYMENTS = ("counter", "voucher")


def request_booking(
    db: HubDatabase,
    site_id: str,
    resource_id: str,
    half_days: list[tuple[dt.date, str]],
    name: str,
    *,
    actor: Actor,
    member_id: str | None = None,
    paid_by: str = "counter",
    now: dt.datetime | None = None,
) -> str:
    """Keep the request and queue its `book` command; returns the request's id. HubError says what is wrong:
    "forbidden", "unknown_resource", "bad_booking", "unknown_member", "unknown_device"."""
    now = now or utcnow()
    with db.write() as session:
        resource = _bookable(session, actor, site_id, resource_id)
        if member_id is not None:
            member_id = _member_for(session, actor, member_id).id
        elif paid_by not in WALK_IN_PAYMENTS:
            raise HubError("bad_booking", "payment")
        if paid_by not in PAID_BY or not 0 < len(half_days) <= MAX_REQUEST_HALF_DAYS:
            raise HubError("bad_booking", "half_days")
        assert resource.device_id is not None
        _door_in_service(session, actor, site_id, resource.device_id)
        ordered = sorted(set(half_days), key=lambda h: (h[0], SLOTS.index(h[1])))
        request = BookingRequest(
            site_id=site_id,
            device_id=resource.device_id,
            resource_id=resource_id,
            half_days={"half_days": [[d.isoformat(), s] for d, s in ordered]},
            name=" ".join(name.split()),
            member_id=member_id,
            paid_by=paid_by,
            account_id=actor.account_id,
            requested_at=now,
            expires=now + dt.timedelta(seconds=BOOK_TTL_S),
        )
        session.add(request)
        session.flush()
        args = {
            "request": request.id,
            "resource": resource_id,
            "half_days": [{"date": d.isoformat(), "slot": s} for d, s in ordered],
            "name": request.name,
            "member": member_id,
            "paid_by": paid_by,
        }
        try:
            book_args(args)
        except ProtocolError as exc:
            raise HubError("bad_booking", str(exc)) from None
        _command(session, site_id, resource.device_id, "book", BOOK_TTL_S, args, now, actor)
        return request.id


def _bookable(session: Session, actor: Actor, site_id: str, resource_id: str) -> Resource:
    if not actor.may_manage(site_id):
        raise HubError("forbidden", site_id)
    resource = session.get(Resource, (site_id, resource_id))
    if resource is None or not resource.active or resource.device_id is None:
        raise HubError("unknown_resource", resource_id)
    return resource
