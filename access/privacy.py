"""Personal data at the door (PRIVACY.md): retention run daily, and a member's erasure on request.

Retention takes from what has had its time everything that names a person or a badge, and keeps what billing and
the report need: the `uses` rows whole, the sales' amounts, kinds and dates. It works in small transactions (a Pi's
SD card, a door that must keep writing) and may run again at any time: what is done is not done twice. Events the
hub has not acknowledged (the outbox) are never touched by retention: the hub must first receive them as they were.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from access.models import (
    BadgeHistory,
    Booking,
    Credential,
    Erasure,
    Event,
    Guest,
    HubRequest,
    Member,
    Notice,
    Outbox,
    Pass,
    Sale,
)
from access.store import bump_state_version, get_meta, set_meta
from common.db import Database
from common.privacy import (
    BATCH,
    WALK_IN_PSEUDONYM,
    Cutoffs,
    PrivacyConfig,
    erased_name,
    scrubbed_data,
    unnamed_data,
)

# Per device, the highest event `seq` retention has scrubbed up to (meta key prefix).
SCRUBBED_SEQ = "privacy_scrubbed_seq:"
_SCRUB_SQL = "UPDATE events SET data = ? WHERE id = ?"
GUEST_PSEUDONYM = "Invité·e"


@dataclass
class Retention:
    """What one run changed, by kind of row."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def apply_retention(db: Database, now: dt.datetime, config: PrivacyConfig, batch: int = BATCH) -> Retention:
    """Run every retention rule to the end, `batch` rows per transaction; idempotent."""
    cutoffs = Cutoffs.at(now, config)
    done = Retention()
    steps: list[tuple[str, Callable[[Session, Cutoffs, int], int]]] = [
        ("events", scrub_events),
        ("sales", pseudonymise_sales),
        ("passes", pseudonymise_passes),
        ("pass_cards", forget_pass_cards),
        ("guests", pseudonymise_guests),
        ("bookings", pseudonymise_bookings),
        ("notices", delete_sent_notices),
        ("hub_requests", delete_old_requests),
    ]
    for name, step in steps:
        while True:
            with db.write() as session:
                n = step(session, cutoffs, batch)
            done.add(name, n)
            if n < batch:
                break
    return done


def scrub_events(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """Events older than the access log's limit lose what names a person or a badge, in `seq` order per device,
    stopping at the first one the hub has not acknowledged (the outbox holds the newest events of a device)."""
    changed = 0
    for (device,) in session.execute(select(Event.device_id).distinct()).all():
        mark = int(get_meta(session, SCRUBBED_SEQ + device) or 0)
        rows = session.execute(
            select(Event.id, Event.seq, Event.kind, Event.at, Event.data, Outbox.event_id)
            .outerjoin(Outbox, Outbox.event_id == Event.id)
            .where(Event.device_id == device, Event.seq > mark)
            .order_by(Event.seq)
            .limit(batch - changed)
        ).all()
        cleaned: list[tuple[str, str]] = []
        for event_id, seq, kind, at, data, unsent in rows:
            if at >= cutoffs.access_log or unsent is not None:
                break
            clean = scrubbed_data(kind, data) if isinstance(data, dict) else None
            if clean is not None:
                cleaned.append((json.dumps(clean, separators=(",", ":")), event_id))
            mark = seq
            changed += 1
        if cleaned:
            # One statement for the batch, as the door writes its events (access/store.py): a statement per row
            # through the ORM held the ledger's lock nearly two seconds a batch on a laptop (bench.privacy).
            session.connection().exec_driver_sql(_SCRUB_SQL, cleaned)
        set_meta(session, SCRUBBED_SEQ + device, str(mark))
        if changed >= batch:
            break
    return changed


def pseudonymise_sales(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """Sales stay (accounting records) without their buyer's name and e-mail once the walk-in's time is over."""
    ids = session.scalars(
        select(Sale.id)
        .where(
            Sale.created_at < cutoffs.walk_in,
            or_(Sale.buyer_email.is_not(None), Sale.buyer_name != WALK_IN_PSEUDONYM),
        )
        .limit(batch)
    ).all()
    if ids:
        session.execute(update(Sale).where(Sale.id.in_(ids)).values(buyer_name=WALK_IN_PSEUDONYM, buyer_email=None))
    return len(ids)


def _ended_before(cutoff: dt.datetime) -> Any:
    """Passes whose last day is before the cut-off's date."""
    return func.coalesce(Pass.valid_until, Pass.valid_date) < cutoff.date()


def pseudonymise_passes(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    ids = session.scalars(
        select(Pass.id)
        .where(Pass.created_at < cutoffs.walk_in, _ended_before(cutoffs.walk_in))
        .where(Pass.holder_name != WALK_IN_PSEUDONYM)
        .limit(batch)
    ).all()
    if ids:
        session.execute(update(Pass).where(Pass.id.in_(ids)).values(holder_name=WALK_IN_PSEUDONYM))
    return len(ids)


def forget_pass_cards(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """A card a walk-in linked to a pass names them as a badge does: it goes with the access log."""
    ended = select(Pass.id).where(_ended_before(cutoffs.access_log))
    ids = session.scalars(select(Credential.id).where(Credential.pass_id.in_(ended)).limit(batch)).all()
    if ids:
        session.execute(delete(Credential).where(Credential.id.in_(ids)))
        bump_state_version(session)
    return len(ids)


def pseudonymise_guests(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    ids = session.scalars(
        select(Guest.id).where(Guest.valid_date < cutoffs.walk_in.date(), Guest.name != GUEST_PSEUDONYM).limit(batch)
    ).all()
    if ids:
        session.execute(update(Guest).where(Guest.id.in_(ids)).values(name=GUEST_PSEUDONYM))
    return len(ids)


def pseudonymise_bookings(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """A walk-in's booking loses their name and e-mail; any booking, the first names of the guests it named."""
    old = Booking.local_date < cutoffs.walk_in.date()
    walk_in = (Booking.holder_kind == "walk_in") & ((Booking.name != WALK_IN_PSEUDONYM) | Booking.email.is_not(None))
    ids = session.scalars(select(Booking.id).where(old, or_(walk_in, Booking.guests.is_not(None))).limit(batch)).all()
    if ids:
        session.execute(update(Booking).where(Booking.id.in_(ids)).values(guests=None))
        session.execute(
            update(Booking)
            .where(Booking.id.in_(ids), Booking.holder_kind == "walk_in")
            .values(name=WALK_IN_PSEUDONYM, email=None)
        )
    return len(ids)


def delete_sent_notices(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    ids = session.scalars(select(Notice.id).where(Notice.sent_at < cutoffs.notices).limit(batch)).all()
    if ids:
        session.execute(delete(Notice).where(Notice.id.in_(ids)))
    return len(ids)


def delete_old_requests(session: Session, cutoffs: Cutoffs, batch: int) -> int:
    """Answered change requests (names, badges typed at the desk) go with the access log: the hub has the result."""
    ids = session.scalars(
        select(HubRequest.id)
        .where(HubRequest.answered_at.is_not(None), HubRequest.created_at < cutoffs.access_log)
        .limit(batch)
    ).all()
    if ids:
        session.execute(delete(HubRequest).where(HubRequest.id.in_(ids)))
    return len(ids)


# ---------------------------------------------------------------------------------------------- erasure


class EraseRefused(ValueError):
    """An erasure that cannot be made (French, for the manager)."""


def erase_member(session: Session, member_id: str, now: dt.datetime, origin: str) -> bool:
    """Erase a member in the caller's transaction: their name, e-mail and badges go from every table, their ids
    stay so that their half-days, balances and sales still count. False when they were erased here already."""
    if session.get(Erasure, member_id) is not None:
        return False
    member = session.get(Member, member_id)
    if member is None and origin == "desk":
        raise EraseRefused("membre inconnu")
    pseudonym = erased_name(member_id)
    if member is not None:
        member.first_name = pseudonym
        member.last_name = ""
        member.email = None
        member.active = False
        member.monthly_statement = False
    badges = set(session.scalars(select(Credential.value).where(Credential.member_id == member_id)))
    badges |= set(session.scalars(select(BadgeHistory.value).where(BadgeHistory.member_id == member_id)))
    session.execute(delete(Credential).where(Credential.member_id == member_id))
    session.execute(delete(BadgeHistory).where(BadgeHistory.member_id == member_id))
    _scrub_member_events(session, member_id, badges)
    session.execute(update(Sale).where(Sale.member_id == member_id).values(buyer_name=pseudonym, buyer_email=None))
    session.execute(
        update(Booking).where(Booking.member_id == member_id).values(name=pseudonym, email=None, guests=None)
    )
    session.execute(update(Guest).where(Guest.member_id == member_id).values(name=GUEST_PSEUDONYM))
    session.execute(delete(Notice).where(Notice.member_id == member_id))
    for request in session.scalars(select(HubRequest).where(HubRequest.member_id == member_id)):
        request.data = {**request.data, **_request_blanks(request.data, pseudonym)}
    session.add(Erasure(member_id=member_id, erased_at=now, origin=origin))
    bump_state_version(session)
    return True


def _request_blanks(data: dict[str, Any], pseudonym: str) -> dict[str, Any]:
    blanks: dict[str, Any] = {"first_name": pseudonym, "last_name": "", "email": None, "uid": ""}
    return {k: v for k, v in blanks.items() if k in data}


def _scrub_member_events(session: Session, member_id: str, badges: set[str]) -> None:
    """Every event naming the member or one of their badges: scrubbed; one the hub has not yet received keeps the
    member's id and half-day (the hub must count it) but loses their name and badge."""
    holder = func.json_extract(Event.data, "$.holder")
    uid = func.json_extract(Event.data, "$.uid")
    named = or_(holder == member_id, uid.in_(list(badges))) if badges else holder == member_id
    rows = session.execute(
        select(Event.id, Event.kind, Event.data, exists().where(Outbox.event_id == Event.id)).where(named)
    ).all()
    for event_id, kind, data, unsent in rows:
        clean = unnamed_data(kind, data) if unsent else scrubbed_data(kind, data)
        if clean is not None:
            session.execute(update(Event).where(Event.id == event_id).values(data=clean))


def erased_ids(session: Session) -> set[str]:
    return set(session.scalars(select(Erasure.member_id)))
