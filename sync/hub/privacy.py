"""Personal data at the hub (PRIVACY.md): retention run by the workers once a day, a member's export and erasure.

The same rules as at the doors: the access log loses names and badges after its months (the uses stay, their time
reduced to the half-day), walk-ins' names and e-mails on sales and bookings after theirs, and an erased member keeps
their id (uses, balances, top-ups still count) but nothing that names them. Every door hears of an erasure through
the roster (sync/PROTOCOL.md, "Erased members").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, inspect, or_, select, update
from sqlalchemy.orm import Session

from common.privacy import (
    BATCH,
    WALK_IN_PSEUDONYM,
    Cutoffs,
    PrivacyConfig,
    Row,
    erased_name,
    scrubbed_data,
)
from common.words import Slot
from sync.hub.admin import HubError, _member_for, touch_rosters
from sync.hub.audit import Actor, record
from sync.hub.db import HubDatabase
from sync.hub.models import (
    AuditEntry,
    Booking,
    BookingRequest,
    ChangeRequest,
    Credential,
    DeviceCursor,
    Enrolment,
    Event,
    Member,
    Plan,
    Sale,
    Subscription,
    TopUp,
    Use,
)
from sync.hub.reports import balances

# The kinds of event that may name a member, and the keys of a change request or an audit entry that name a person.
NAMING_KINDS = ("entry", "enrol", "booking")
PERSONAL_FIELDS = ("first_name", "last_name", "email", "uid", "badge", "name")


def apply_retention(db: HubDatabase, now: dt.datetime, config: PrivacyConfig, batch: int = BATCH) -> dict[str, int]:
    """Run every retention rule to the end, `batch` rows per transaction; idempotent. What changed, by kind."""
    cutoffs = Cutoffs.at(now, config)
    done: dict[str, int] = {}
    steps: list[tuple[str, Callable[[Session, Cutoffs, int], int]]] = [
        ("events", scrub_events),
        ("sales", pseudonymise_sales),
        ("bookings", pseudonymise_bookings),
        ("booking_requests", pseudonymise_booking_requests),
        ("change_requests", delete_old_requests),
        ("late_events", scrub_late_events),
    ]
    for name, step in steps:
        while True:
            with db.write() as session:
                n = step(session, cutoffs, batch)
            if n:
                done[name] = done.get(name, 0) + n
            if n < batch:
                break
    return done


def half_day_time(day: dt.date, slot: str) -> dt.datetime:
    """What a use's time becomes once the access log has had its time: its date and half-day, no more."""
    return dt.datetime.combine(day, dt.time(12 if slot == Slot.AFTERNOON else 0), dt.UTC)


def scrub_events(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """Each door's events older than the access log's limit, in seq order from where the last run stopped, lose
    what names a person or a badge; their uses keep the date and half-day but not the minute of the entry."""
    changed = 0
    for cursor in session.scalars(select(DeviceCursor).order_by(DeviceCursor.site_id, DeviceCursor.device_id)):
        rows = session.execute(
            select(Event.id, Event.seq, Event.kind, Event.at, Event.data)
            .where(
                Event.site_id == cursor.site_id,
                Event.device_id == cursor.device_id,
                Event.seq > cursor.scrubbed_seq,
                Event.seq <= cursor.seq,
            )
            .order_by(Event.seq)
            .limit(batch - changed)
        ).all()
        cleaned: list[dict[str, Any]] = []
        entries: list[str] = []
        for event_id, seq, kind, at, data in rows:
            if at >= cutoffs.access_log:
                break
            clean = scrubbed_data(kind, data) if isinstance(data, dict) else None
            if clean is not None:
                cleaned.append({"id": event_id, "data": clean})
            if kind == "entry":
                entries.append(event_id)
            cursor.scrubbed_seq = seq
            changed += 1
        # By primary key, one statement for the batch (executemany), not one round trip per row.
        if cleaned:
            session.execute(update(Event), cleaned)
        if entries:
            coarse = [
                {"event_id": event_id, "at": half_day_time(day, slot)}
                for event_id, day, slot in session.execute(
                    select(Use.event_id, Use.local_date, Use.slot).where(Use.event_id.in_(entries))
                )
            ]
            if coarse:
                session.execute(update(Use), coarse)
        if changed >= batch:
            break
    return changed


def scrub_late_events(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """Events of a member erased lately that a door sent before its roster told it (it was offline): scrubbed
    here. Within the access log's months only: older events are scrubbed by retention anyway."""
    erased: dict[str, dt.datetime] = {
        member_id: at
        for member_id, at in session.execute(
            select(Member.id, Member.erased_at).where(Member.erased_at >= cutoffs.access_log)
        )
        if at is not None
    }
    if not erased:
        return 0
    since = min(erased.values())
    cleaned: list[dict[str, Any]] = []
    for event_id, kind, data in session.execute(
        select(Event.id, Event.kind, Event.data).where(Event.kind.in_(NAMING_KINDS), Event.received_at >= since)
    ):
        if isinstance(data, dict) and data.get("holder") in erased:
            clean = scrubbed_data(kind, data)
            if clean is not None:
                cleaned.append({"id": event_id, "data": clean})
                if len(cleaned) == batch:
                    break
    if cleaned:
        session.execute(update(Event), cleaned)
    return len(cleaned)


def pseudonymise_sales(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    ids = session.scalars(
        select(Sale.id)
        .where(Sale.at < cutoffs.walk_in, or_(Sale.name != WALK_IN_PSEUDONYM, Sale.email != ""))
        .limit(batch)
    ).all()
    if ids:
        session.execute(update(Sale).where(Sale.id.in_(ids)).values(name=WALK_IN_PSEUDONYM, email=""))
    return len(ids)


def pseudonymise_bookings(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    ids = session.scalars(
        select(Booking.id)
        .where(
            Booking.holder_id.is_(None),
            Booking.local_date < cutoffs.walk_in.date(),
            Booking.name != WALK_IN_PSEUDONYM,
        )
        .limit(batch)
    ).all()
    if ids:
        session.execute(update(Booking).where(Booking.id.in_(ids)).values(name=WALK_IN_PSEUDONYM))
    return len(ids)


def pseudonymise_booking_requests(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    ids = session.scalars(
        select(BookingRequest.id)
        .where(
            BookingRequest.member_id.is_(None),
            BookingRequest.requested_at < cutoffs.walk_in,
            BookingRequest.name != WALK_IN_PSEUDONYM,
        )
        .limit(batch)
    ).all()
    if ids:
        session.execute(update(BookingRequest).where(BookingRequest.id.in_(ids)).values(name=WALK_IN_PSEUDONYM))
    return len(ids)


def delete_old_requests(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """Doors resend a change request only until it is answered: after the access log's months its stored reply
    (with the names and badge typed at the desk) serves nobody."""
    ids = session.scalars(
        select(ChangeRequest.id).where(ChangeRequest.received_at < cutoffs.access_log).limit(batch)
    ).all()
    if ids:
        session.execute(delete(ChangeRequest).where(ChangeRequest.id.in_(ids)))
    return len(ids)


# ---------------------------------------------------------------------------------------------- erasure


def erase_member(db: HubDatabase, member_id: str, *, actor: Actor, now: dt.datetime | None = None) -> str:
    """Erase a member on request: name, e-mail and badges gone from every table, their id kept so that their
    half-days, balances and top-ups still count; every door is told by the next roster. The pseudonym they keep.
    A network admin may erase anyone; a site manager, the members created for their sites."""
    now = now or dt.datetime.now(dt.UTC)
    with db.write() as session:
        member = _member_for(session, actor, member_id)
        # An erasure reaches every site: a site manager may erase only a member created for a site of theirs.
        if actor.sites is not None and member.home_site_id not in actor.sites:
            raise HubError("forbidden", "seul un administrateur du réseau efface un membre de plusieurs sites")
        if member.erased_at is not None:
            raise HubError("already_erased")
        pseudonym = erased_name(member_id)
        badges = set(session.scalars(select(Credential.value).where(Credential.member_id == member_id)))
        member.first_name, member.last_name, member.email = pseudonym, "", None
        member.active = False
        member.erased_at = now
        session.execute(delete(Credential).where(Credential.member_id == member_id))
        _scrub_events(session, member_id, badges)
        session.execute(update(Booking).where(Booking.holder_id == member_id).values(name=pseudonym))
        session.execute(update(BookingRequest).where(BookingRequest.member_id == member_id).values(name=pseudonym))
        for request in session.scalars(select(ChangeRequest)):
            if isinstance(request.data, dict) and request.data.get("member_id") == member_id:
                request.data = _blanked(request.data)
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.target == f"member:{member_id}")):
            entry.before = _blanked(entry.before) if entry.before else entry.before
            entry.after = _blanked(entry.after) if entry.after else entry.after
        record(session, actor, "member.erase", f"member:{member_id}", site_id=member.home_site_id, at=now)
        touch_rosters(session, members=[member_id])
        return pseudonym


def _blanked(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if k in PERSONAL_FIELDS else v) for k, v in values.items()}


def _scrub_events(session: Session, member_id: str, badges: set[str]) -> None:
    """The member's events, and those of their badges (refused taps, enrolments): a full read of those kinds, which
    an erasure (a rare request) may afford; the hub keeps no index on event data for its ingestion's sake."""
    for event_id, kind, data in session.execute(
        select(Event.id, Event.kind, Event.data).where(Event.kind.in_(NAMING_KINDS))
    ):
        if not isinstance(data, dict):
            continue
        if data.get("holder") != member_id and data.get("uid") not in badges:
            continue
        clean = scrubbed_data(kind, data)
        if clean is not None:
            session.execute(update(Event).where(Event.id == event_id).values(data=clean))


# ---------------------------------------------------------------------------------------------- export


def _row(obj: Any) -> Row:
    return {c.key: getattr(obj, c.key) for c in inspect(obj).mapper.column_attrs}


def member_export(session: Session, member_id: str, actor: Actor) -> dict[str, list[Row]]:
    """Everything the hub holds about a member the actor may see (HubError otherwise), one section per table."""
    member = _member_for(session, actor, member_id)
    subscriptions = session.execute(
        select(Subscription, Plan.name)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(Subscription.member_id == member_id)
        .order_by(Subscription.created_at)
    ).all()
    left = balances(session, [s.id for s, _name in subscriptions])
    badges = list(session.scalars(select(Credential).where(Credential.member_id == member_id)))
    values = {b.value for b in badges}
    access_log = [
        {"site": site, "at": at, "granted": data.get("granted"), "reason": data.get("reason"), "badge": data.get("uid")}
        for site, at, data in session.execute(
            select(Event.site_id, Event.at, Event.data).where(Event.kind == "entry").order_by(Event.at)
        )
        if isinstance(data, dict) and (data.get("holder") == member_id or data.get("uid") in values)
    ]
    return {
        "member": [_row(member)],
        "badges": [_row(b) for b in badges],
        "subscriptions": [_row(s) | {"plan": name, "balance": left.get(s.id)} for s, name in subscriptions],
        "top_ups": [_row(t) for t in session.scalars(select(TopUp).where(TopUp.member_id == member_id))],
        "uses": [
            _row(u)
            for u in session.scalars(select(Use).where(Use.holder_id == member_id).order_by(Use.local_date, Use.slot))
        ],
        "access_log": access_log,
        "bookings": [_row(b) for b in session.scalars(select(Booking).where(Booking.holder_id == member_id))],
        "booking_requests": [
            _row(r) for r in session.scalars(select(BookingRequest).where(BookingRequest.member_id == member_id))
        ],
        "enrolments": [_row(e) for e in session.scalars(select(Enrolment).where(Enrolment.member_id == member_id))],
        "audit": [
            _row(a)
            for a in session.scalars(
                select(AuditEntry).where(AuditEntry.target == f"member:{member_id}").order_by(AuditEntry.id)
            )
        ],
    }
