"""The rooms and offices of each site as the hub learns them from events: resources, booked half-days (each a
use, counted apart by kind, in the funders' report's counts too), cancellations, and the answers to the bookings
a manager asked for at the hub.

The site's appliance is the one writer of its bookings (sync/PROTOCOL.md, "Rooms and offices"): the hub copies
what its events say, once per booking row, in the transaction that stores the events.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sync.hub import report_counts
from sync.hub.models import Booking, BookingRequest, Resource, Use
from sync.protocol import Json

BOOKING_KINDS = ("resources", "booking", "booking_cancelled", "booking_refused")
# A request's answer may come after its command expired (delivered just before, booked while the hub gave up).
_OPEN_REQUEST = ("waiting", "expired")


def _event_time(event: Json) -> dt.datetime:
    return dt.datetime.fromisoformat(event["at"][:-1]).replace(tzinfo=dt.UTC)


def record_bookings(session: Session, events: list[Json], problems: list[str | None]) -> None:
    """Apply the resources, bookings, cancellations and refusals that newly stored, well-formed events report, in
    seq order."""
    for event, problem in zip(events, problems, strict=True):
        if problem is not None or event["kind"] not in BOOKING_KINDS:
            continue
        site, data, at = event["site"], event["data"], _event_time(event)
        if event["kind"] == "resources":
            _resources(session, site, event["device"], data["resources"], at)
        elif event["kind"] == "booking":
            _booking(session, event, data, at)
        elif event["kind"] == "booking_cancelled":
            _cancelled(session, site, data, at)
        else:
            session.execute(
                update(BookingRequest)
                .where(
                    BookingRequest.id == data["request"],
                    BookingRequest.site_id == site,
                    BookingRequest.state.in_(_OPEN_REQUEST),
                )
                .values(state="refused", reason=data["reason"])
            )


def _upsert_resource(session: Session, site: str, device: str, values: dict[str, Any], at: dt.datetime) -> None:
    resource = session.get(Resource, (site, values["id"]))
    if resource is None:
        session.add(Resource(site_id=site, device_id=device, updated_at=at, **values))
    else:
        for key, value in values.items():
            setattr(resource, key, value)
        resource.updated_at, resource.device_id = at, device
    session.flush()


def _resources(session: Session, site: str, device: str, resources: list[Json], at: dt.datetime) -> None:
    listed = set()
    for r in resources:
        listed.add(r["id"])
        _upsert_resource(session, site, device, {k: r[k] for k in _RESOURCE_FIELDS}, at)
    # A resource the site no longer lists stays, inactive: its bookings still name it.
    session.execute(
        update(Resource)
        .where(Resource.site_id == site, Resource.device_id == device, Resource.id.not_in(sorted(listed)))
        .values(active=False)
    )


_RESOURCE_FIELDS = ("id", "name", "kind", "capacity", "price_halfday_cents", "price_day_cents", "active")


def _booking(session: Session, event: Json, data: Json, at: dt.datetime) -> None:
    site = event["site"]
    if session.get(Resource, (site, data["resource"])) is None:
        values = {"id": data["resource"], "name": data["resource_name"], "kind": data["resource_kind"]}
        _upsert_resource(session, site, event["device"], values, at)
    stored = []
    for slot in data["slots"]:
        if session.get(Booking, slot["id"]) is not None:
            continue  # already stored: a booking row id is stored once
        stored.append(slot["id"])
        day = dt.date.fromisoformat(slot["date"])
        session.add(
            Booking(
                id=slot["id"],
                group_id=data["group"],
                site_id=site,
                resource_id=data["resource"],
                local_date=day,
                slot=slot["slot"],
                holder_id=data["holder"],
                name=data["name"],
                paid_by=data["paid_by"],
                sale_id=data["sale"],
                origin=data["origin"],
                request_id=data["request"],
                event_id=event["id"],
                at=at,
            )
        )
        session.add(
            Use(
                event_id=slot["id"],
                holder_id=slot["id"],
                site_id=site,
                device_id=event["device"],
                seq=event["seq"],
                local_date=day,
                slot=slot["slot"],
                spent=slot["spent"],
                subscription_id=slot["subscription"],
                pass_id=None,
                at=at,
                resource_id=data["resource"],
                resource_kind=data["resource_kind"],
            )
        )
        session.flush()
    if stored:
        report_counts.fold_in(session, [Use.event_id.in_(stored)])
    if data["request"] is not None:
        session.execute(
            update(BookingRequest)
            .where(
                BookingRequest.id == data["request"],
                BookingRequest.site_id == site,
                BookingRequest.state.in_(_OPEN_REQUEST),
            )
            .values(state="booked", group_id=data["group"], reason=None)
        )


def _cancelled(session: Session, site: str, data: Json, at: dt.datetime) -> None:
    ids = sorted(data["bookings"])
    session.execute(
        update(Booking)
        .where(
            Booking.id.in_(ids),
            Booking.site_id == site,
            Booking.group_id == data["group"],
            Booking.cancelled_at.is_(None),
        )
        .values(cancelled_at=at, cancelled_by=data["by"])
    )
    # The half-days are no longer uses: a carnet gets them back, the month's count loses them.
    report_counts.take_out(session, [Use.event_id.in_(ids), Use.site_id == site, Use.resource_id.is_not(None)])


def expire_requests(session: Session, now: dt.datetime) -> int:
    """Requests whose command expired unanswered: the manager asks again."""
    done = session.execute(
        update(BookingRequest)
        .where(BookingRequest.state == "waiting", BookingRequest.expires <= now)
        .values(state="expired")
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def site_resources(session: Session, site: str) -> list[Resource]:
    return list(
        session.execute(select(Resource).where(Resource.site_id == site).order_by(Resource.kind, Resource.name))
        .scalars()
        .all()
    )


def site_bookings(session: Session, site: str, first: dt.date, last: dt.date) -> list[Booking]:
    """The site's booked half-days from `first` to `last` (cancelled ones included, marked)."""
    return list(
        session.execute(
            select(Booking)
            .where(Booking.site_id == site, Booking.local_date >= first, Booking.local_date <= last)
            .order_by(Booking.local_date, Booking.slot.desc(), Booking.resource_id)
        )
        .scalars()
        .all()
    )


def site_requests(session: Session, site: str, limit: int = 50) -> list[BookingRequest]:
    return list(
        session.execute(
            select(BookingRequest)
            .where(BookingRequest.site_id == site)
            .order_by(BookingRequest.requested_at.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
