"""Between the database and the pure core: load the access state, durably record events and uses."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from access import notices
from access.closures import MAX_EXTENSION_DAYS, extended_until
from access.guests import GuestCharge
from access.ledger import Bookings, Entitlement, SlotRules, Uses
from access.models import (
    Balance,
    Booking,
    Closure,
    Credential,
    Event,
    Guest,
    Member,
    Meta,
    Pass,
    Plan,
    Resource,
    Sale,
    Subscription,
    Use,
)
from access.policy import AccessState, CredentialInfo, Decision, Holder
from common.db import new_id
from common.words import PASS_KINDS, ClockPolicy, CredentialStatus, EventKind, PlanKind, Slot

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
# Every writer of members, badges, plans or passes bumps this `meta` key in the same transaction; the door polls it,
# so a change reaches the door even when the bus is down.
STATE_VERSION = "state_version"
# The latest trusted time the door has seen (access/clock.py): a Pi without a real-time clock must not go back.
TIME_FLOOR = "time_floor"
# A walk-in's pass opens the door as the credential "pass:<pass id>" (bought now, or re-entry by its code).
PASS_CREDENTIAL_PREFIX = "pass:"
# How far back a week or month pass that closures extended may still run.
MAX_EXTENSION = dt.timedelta(days=MAX_EXTENSION_DAYS)
# A member's guest opens the door as the credential "guest:<guest id>" (the code entered at the touchscreen).
GUEST_CREDENTIAL_PREFIX = "guest:"
# A booking's code opens the door as the credential "booking:<group id>" for its half-days, for the walk-in who
# booked and the party named on it (access/bookings.py gives the code).
BOOKING_CREDENTIAL_PREFIX = "booking:"


def boot_id() -> str:
    """This boot's id: monotonic times are only comparable within one boot."""
    try:
        return BOOT_ID_FILE.read_text().strip().replace("-", "")
    except OSError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class Stamp:
    """When an event happened: UTC wall time, monotonic time, boot, and whether the wall clock is trusted."""

    at: dt.datetime
    mono_ns: int
    boot: str
    clock_ok: bool

    @classmethod
    def now(cls, boot: str, clock_ok: bool = True) -> Stamp:
        return cls(dt.datetime.now(dt.UTC), time.monotonic_ns(), boot, clock_ok)


def next_seq(session: Session, device_id: str) -> int:
    """The device's next sequence number; call inside the write transaction that uses it."""
    last = session.execute(select(func.max(Event.seq)).where(Event.device_id == device_id)).scalar()
    return (last or 0) + 1


# The door's hot path writes with plain SQL on the session's connection: the ORM's per-statement work costs more
# than SQLite's own commit, and a door records every decision. Formats match what the ORM types read back.
_EVENT_SQL = (
    "INSERT INTO events (id, device_id, seq, kind, at, mono_ns, boot_id, clock_ok, data) VALUES (?,?,?,?,?,?,?,?,?)"
)
_OUTBOX_SQL = "INSERT INTO outbox (event_id, device_id, seq) VALUES (?,?,?)"
_USE_SQL = (
    "INSERT INTO uses (holder_id, site_id, local_date, slot, spent, subscription_id, pass_id, event_id, seq)"
    " VALUES (?,?,?,?,?,?,?,?,?)"
)


def _utc_text(at: dt.datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("naive datetime refused: store UTC-aware datetimes only")
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def append_events(
    session: Session,
    device_id: str,
    items: list[tuple[str, dict[str, Any], Stamp]],
    event_ids: list[str] | None = None,
) -> list[tuple[str, int]]:
    """Append events and their outbox rows in the caller's transaction; returns [(event id, seq)]. The ids are new
    unless given (events the door journaled while the ledger could not be written)."""
    if not items:
        return []
    first = next_seq(session, device_id)
    chosen = event_ids if event_ids is not None else [new_id() for _ in items]
    ids = [(event_id, first + i) for i, event_id in enumerate(chosen)]
    conn = session.connection()
    conn.exec_driver_sql(
        _EVENT_SQL,
        [
            (
                event_id,
                device_id,
                seq,
                kind,
                _utc_text(stamp.at),
                stamp.mono_ns,
                stamp.boot,
                int(stamp.clock_ok),
                json.dumps(data, separators=(",", ":")),
            )
            for (event_id, seq), (kind, data, stamp) in zip(ids, items, strict=True)
        ],
    )
    conn.exec_driver_sql(_OUTBOX_SQL, [(event_id, device_id, seq) for event_id, seq in ids])
    return ids


def append_event(session: Session, device_id: str, kind: str, data: dict[str, Any], stamp: Stamp) -> tuple[str, int]:
    """Append one event and its outbox row in the caller's transaction; returns (event id, seq)."""
    return append_events(session, device_id, [(kind, data, stamp)])[0]


def entry_data(decision: Decision) -> dict[str, Any]:
    """The wire form of an entry decision (sync/PROTOCOL.md, kind "entry")."""
    entitlement = decision.entitlement
    charge = decision.charge
    use = None
    if charge is not None:
        use = {
            "date": charge.date.isoformat(),
            "slot": charge.slot,
            "spent": charge.spent,
            "subscription": None if charge.is_pass else charge.entitlement_id,
            "pass": charge.entitlement_id if charge.is_pass else None,
        }
    return {
        "uid": decision.credential,
        "holder": decision.holder_id,
        "first_name": decision.first_name,
        "granted": decision.granted,
        "reason": decision.reason.value,
        "plan": entitlement.kind if entitlement is not None else None,
        "balance": decision.balance,
        "use": use,
    }


def record_entries(
    session: Session,
    site_id: str,
    device_id: str,
    entries: list[tuple[Decision, Stamp]],
    low_carnet: int | None = None,
    event_ids: list[str] | None = None,
) -> list[tuple[str, int]]:
    """Record taps' decisions: events, outbox rows and uses, in the caller's one transaction. With `low_carnet` (the
    mail config's threshold), an entry that takes a carnet down to it queues a notice in the same transaction. The
    event ids are new unless given (the door names each entry when it decides, so a retry writes it once)."""
    items: list[tuple[str, dict[str, Any], Stamp]] = [(EventKind.ENTRY, entry_data(d), stamp) for d, stamp in entries]
    ids = append_events(session, device_id, items, event_ids)
    uses = []
    for (decision, stamp), (event_id, seq) in zip(entries, ids, strict=True):
        charge = decision.charge
        if decision.granted and charge is not None and decision.holder_id is not None:
            subscription = None if charge.is_pass else charge.entitlement_id
            pass_id = charge.entitlement_id if charge.is_pass else None
            uses.append(
                (
                    decision.holder_id,
                    site_id,
                    charge.date.isoformat(),
                    charge.slot,
                    charge.spent,
                    subscription,
                    pass_id,
                    event_id,
                    seq,
                )
            )
            left = charge.balance_after
            if left is not None and subscription is not None and notices.carnet_is_low(charge.spent, left, low_carnet):
                notices.low_carnet(session, subscription, left, stamp.at, event_id)
    if uses:
        session.connection().exec_driver_sql(_USE_SQL, uses)
    return ids


def record_entry(session: Session, site_id: str, device_id: str, decision: Decision, stamp: Stamp) -> tuple[str, int]:
    """Record one tap's decision: the event, its outbox row and any use, in the caller's one transaction."""
    return record_entries(session, site_id, device_id, [(decision, stamp)])[0]


@dataclass(frozen=True)
class Rescued:
    """An event the door decided on while its ledger was unreadable, kept in its rescue journal."""

    event_id: str
    kind: str
    data: dict[str, Any]
    stamp: Stamp


# Ids looked up at once when replaying (well under SQLite's limit on a statement's parameters).
_REPLAY_CHUNK = 500
_REPLAY_USE_SQL = _USE_SQL.replace("INSERT INTO", "INSERT OR IGNORE INTO")


def known_events(session: Session, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` the ledger already holds (a write whose outcome was not known, a replay cut short)."""
    known: set[str] = set()
    for start in range(0, len(event_ids), _REPLAY_CHUNK):
        chunk = event_ids[start : start + _REPLAY_CHUNK]
        known.update(session.scalars(select(Event.id).where(Event.id.in_(chunk))))
    return known


def recorded_use(kind: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The holder and the half-day use an entry's recorded data describes (None: not a granted entry with a use):
    what a replay writes, and what a door that did not decide the entry spends in its state."""
    use, holder = data.get("use"), data.get("holder")
    if kind == EventKind.ENTRY and data.get("granted") and use and holder:
        return holder, use
    return None


def replay_events(session: Session, site_id: str, device_id: str, rescued: list[Rescued]) -> int:
    """Write journaled events into the ledger, in the caller's transaction: each once (an event already there, from
    a replay cut short, is skipped), an entry with the half-day use its data describes. Returns how many were new."""
    known = known_events(session, [r.event_id for r in rescued])
    fresh = [r for r in rescued if r.event_id not in known]
    ids = append_events(session, device_id, [(r.kind, r.data, r.stamp) for r in fresh], [r.event_id for r in fresh])
    uses = []
    for record, (event_id, seq) in zip(fresh, ids, strict=True):
        found = recorded_use(record.kind, record.data)
        if found is not None:
            holder, use = found
            row = (holder, site_id, use["date"], use["slot"], use["spent"], use["subscription"], use["pass"])
            uses.append((*row, event_id, seq))
    if uses:
        # A slot the restored ledger already counts is not counted twice.
        session.connection().exec_driver_sql(_REPLAY_USE_SQL, uses)
    return len(fresh)


def load_state(
    session: Session,
    rules: SlotRules,
    site_id: str,
    device_id: str,
    today: dt.date,
    clock_policy: ClockPolicy = ClockPolicy.MEMBERS,
    room: str | None = None,
) -> AccessState:
    """Build the in-memory access state from the database, as of the local date `today`; `room` names the resource
    whose own door decides on it (None: the site's entrance)."""
    state = AccessState(rules=rules, clock_policy=clock_policy)
    for holder_id, first_name, active, staff in session.execute(
        select(Member.id, Member.first_name, Member.active, Member.staff)
    ):
        state.holders[holder_id] = Holder(holder_id, first_name, active, staff=staff)
    spent_after = spent_since_balances(session, device_id)
    # Columns, not ORM objects: a site's roster of thousands of members is read again after every change the hub
    # sends, and building an object per row was most of the door's reload (bench.roster).
    rows = session.execute(
        select(
            Subscription.id,
            Subscription.member_id,
            Subscription.valid_from,
            Subscription.valid_until,
            Plan.kind,
            Plan.hours_start,
            Plan.hours_end,
            Plan.weekdays,
            Plan.allow_overdraft,
            Balance.amount,
        )
        .join(Plan, Subscription.plan_id == Plan.id)
        .outerjoin(Balance, Balance.subscription_id == Subscription.id)
    )
    for sub_id, member_id, valid_from, valid_until, kind, start, end, weekdays, overdraft, balance in rows:
        holder = state.holders.get(member_id)
        if holder is None:
            continue
        amount = None
        if kind == PlanKind.CARNET:
            amount = (balance or 0) - spent_after.get(sub_id, 0)
        holder.entitlements.append(
            Entitlement(
                id=sub_id,
                kind=PlanKind(kind),
                valid_from=valid_from,
                valid_until=valid_until,
                hours_start=start,
                hours_end=end,
                weekdays=weekdays,
                allow_overdraft=overdraft,
                balance=amount,
            )
        )
    # A week or month pass may run later than sold when closures were entered since (apply_closures, below).
    ends = func.coalesce(Pass.valid_until, Pass.valid_date)
    long_kinds = [PlanKind.PASS_WEEK.value, PlanKind.PASS_MONTH.value]
    sold: dict[str, dt.datetime] = {}
    for p, sold_kind in session.execute(
        select(Pass, Sale.plan_kind)
        .join(Sale, Sale.id == Pass.sale_id)
        .where(
            or_(ends >= today, and_(Sale.plan_kind.in_(long_kinds), ends >= today - MAX_EXTENSION)),
            Pass.stopped_at.is_(None),
        )
    ):
        sold[p.id] = p.created_at
        entitlement = pass_entitlement(p, sold_kind)
        state.holders[p.id] = Holder(p.id, p.holder_name.split(" ")[0], True, [entitlement])
        # The kiosk admits a walk-in by the pass itself (bought now, or re-entry by its code).
        key = PASS_CREDENTIAL_PREFIX + p.id
        state.credentials[key] = CredentialInfo(key, p.id, True, member=False)
    load_guests(session, state, today)
    load_bookings(session, state, today, room)
    for value, owner_member, owner_pass, status in session.execute(
        select(Credential.value, Credential.member_id, Credential.pass_id, Credential.status)
    ):
        owner = owner_member or owner_pass
        if owner is not None:
            active = status == CredentialStatus.ACTIVE
            state.credentials[value] = CredentialInfo(value, owner, active, member=owner_member is not None)
    uses = Uses()
    for use_holder, local_date, slot in session.execute(
        select(Use.holder_id, Use.local_date, Use.slot).where(Use.site_id == site_id, Use.local_date >= today)
    ):
        uses.add(use_holder, local_date, Slot(slot))
    state.uses = uses
    apply_closures(state, load_closures(session), closures_since_sales(session, sold))
    for pass_id in sold:
        # A pass over by today, even given its closures back, opens nothing: the door forgets it.
        if all(e.valid_until is not None and e.valid_until < today for e in state.holders[pass_id].entitlements):
            del state.holders[pass_id]
            del state.credentials[PASS_CREDENTIAL_PREFIX + pass_id]
    return state


def pass_entitlement(p: Pass, sold_kind: str) -> Entitlement:
    """A walk-in's pass as the policy reads it: its span, from `slots` of its first day to `until_slots` of its
    last (a one-day pass has only `slots`)."""
    slots = frozenset(Slot(s) for s in p.slots.split(","))
    until = p.valid_until or p.valid_date
    until_slots = frozenset(Slot(s) for s in p.until_slots.split(",")) if p.until_slots else slots
    kind = PlanKind(sold_kind) if sold_kind in PASS_KINDS else PlanKind.PASS_HALFDAY
    return Entitlement(p.id, kind, p.valid_date, until, slots=slots, until_slots=until_slots)


def load_guests(session: Session, state: AccessState, today: dt.date) -> None:
    """Members' guests of `today` and later, into `state` (after their members): each opens by its code on its date
    only. A guest charged to the carnet holds the member's own carnet entitlement, the same object, so the half-day
    the guest spends lowers the balance the member's next tap is decided on; an included guest is counted on the
    member's plan and spends nothing."""
    for guest_id, member_id, sub_id, name, day, charge in session.execute(
        select(Guest.id, Guest.member_id, Guest.subscription_id, Guest.name, Guest.valid_date, Guest.charge).where(
            Guest.valid_date >= today
        )
    ):
        member = state.holders.get(member_id)
        if member is None or sub_id is None:
            continue
        plan = [e for e in member.entitlements if e.id == sub_id]
        if charge == GuestCharge.CARNET:
            rights = plan
        else:
            # Counted on the member's plan, within its days and hours, spending nothing.
            rights = [
                Entitlement(sub_id, PlanKind.UNLIMITED, day, day, e.hours_start, e.hours_end, e.weekdays) for e in plan
            ]
        state.holders[guest_id] = Holder(guest_id, name.split(" ")[0], member.active, rights, day=day)
        key = GUEST_CREDENTIAL_PREFIX + guest_id
        state.credentials[key] = CredentialInfo(key, guest_id, True, member=False)


def load_bookings(session: Session, state: AccessState, today: dt.date, room: str | None = None) -> None:
    """The bookings of `today` and later not cancelled, of active resources, into `state` (after the members): a
    member's opens by their badge; a booking's code ("booking:<group>") opens for the walk-in and the party named
    on it. With `room` (a resource's name), the state is that resource's own door's: its bookings only."""
    query = (
        select(
            Booking.group_id,
            Booking.resource_id,
            Booking.local_date,
            Booking.slot,
            Booking.holder_kind,
            Booking.member_id,
            Booking.name,
            Booking.code,
        )
        .join(Resource, Resource.id == Booking.resource_id)
        .where(Booking.cancelled_at.is_(None), Booking.local_date >= today, Resource.active.is_(True))
    )
    if room is not None:
        # A name the database does not hold opens for nobody but staff: "" is no resource's id.
        state.room = session.scalar(select(Resource.id).where(Resource.name == room)) or ""
        query = query.where(Booking.resource_id == state.room)
    bookings = Bookings()
    for group, resource, day, slot, kind, member_id, name, code in session.execute(query):
        if member_id is not None and member_id in state.holders:
            bookings.add(member_id, resource, day, Slot(slot))
        if kind == "walk_in" or code is not None:
            if group not in state.holders:
                state.holders[group] = Holder(group, name.split(" ")[0], True)
                key = BOOKING_CREDENTIAL_PREFIX + group
                state.credentials[key] = CredentialInfo(key, group, True, member=False)
            bookings.add(group, resource, day, Slot(slot))
    state.bookings = bookings


def load_closures(session: Session) -> frozenset[dt.date]:
    """The site's closed local dates (its holiday calendar), past and coming."""
    return frozenset(session.scalars(select(Closure.date)))


def apply_closures(
    state: AccessState, closures: frozenset[dt.date], since_sale: Mapping[str, frozenset[dt.date]] | None = None
) -> None:
    """Give the site's closed days to the state, and back to time-limited rights: a dated subscription or a week or
    month pass ends later by the open days that closures took from it (access/closures.py). Done once here, so
    that `decide` only looks today up.

    A pass's span as sold already gave back the closures known then (access/passes.py): `since_sale` names, per
    pass, the closures entered after its sale, the only ones given back here. A half-day or day pass is for its
    half-days: a closure refuses it rather than moving it to other days."""
    state.closures = closures
    if not closures:
        return
    for holder in state.holders.values():
        for e in holder.entitlements:
            if e.valid_from is None or e.valid_until is None:
                continue
            given: Collection[dt.date] = closures
            if e.is_pass:
                if e.kind not in (PlanKind.PASS_WEEK, PlanKind.PASS_MONTH):
                    continue
                given = (since_sale or {}).get(e.id, closures)
            e.valid_until = extended_until(e.valid_from, e.valid_until, given)


def closures_since_sales(session: Session, sold: Mapping[str, dt.datetime]) -> dict[str, frozenset[dt.date]]:
    """Per pass (id -> when it was sold), the closures entered after its sale."""
    entered = list(session.execute(select(Closure.date, Closure.created_at)))
    return {pass_id: frozenset(day for day, at in entered if at > sold_at) for pass_id, sold_at in sold.items()}


def effective_until(valid_from: dt.date | None, valid_until: dt.date | None, session: Session) -> dt.date | None:
    """A subscription's last day once closed days are given back, as the door applies it (for pages, lists and
    notices that say when a plan ends)."""
    if valid_from is None or valid_until is None:
        return valid_until
    return extended_until(valid_from, valid_until, load_closures(session))


def spent_since_balances(session: Session, device_id: str) -> dict[str, int]:
    """Half-days spent at this device after each carnet balance was last set (and so not yet counted in it)."""
    rows = session.execute(
        select(Use.subscription_id, func.sum(Use.spent))
        .join(Balance, Balance.subscription_id == Use.subscription_id)
        .join(Event, Event.id == Use.event_id)
        .where(Event.device_id == device_id, Use.seq > Balance.as_of_seq)
        .group_by(Use.subscription_id)
    )
    return {sub_id: int(total or 0) for sub_id, total in rows if sub_id is not None}


def state_version(session: Session) -> int:
    """A counter bumped by every change to members, badges, plans or passes."""
    return int(get_meta(session, STATE_VERSION) or 0)


def bump_state_version(session: Session) -> None:
    """Tell the door, through the database, that what it decides on has changed (same transaction)."""
    set_meta(session, STATE_VERSION, str(state_version(session) + 1))


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return row.value if row is not None else None


def set_meta(session: Session, key: str, value: str) -> None:
    session.merge(Meta(key=key, value=value))
