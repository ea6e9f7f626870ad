"""The access policy, as pure code: `decide(credential, now, state)` says who may come in and what it costs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from access.ledger import (
    Bookings,
    Charge,
    Entitlement,
    SlotRef,
    SlotRules,
    Uses,
    apply_charge,
    before_end,
    charge_for,
    slot_at,
)
from common.weekdays import allows
from common.words import SLOTS, ClockPolicy, PlanKind


class Reason(StrEnum):
    GRANTED = "granted"
    UNKNOWN = "unknown"
    REVOKED = "revoked"
    INACTIVE = "inactive"
    NO_PLAN = "no_plan"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    OUTSIDE_HOURS = "outside_hours"
    OUTSIDE_WEEKDAYS = "outside_weekdays"
    NO_CREDIT = "no_credit"
    CLOCK_UNSURE = "clock_unsure"
    # The site is closed today (a date of its holiday calendar): members and passes are refused...
    CLOSED = "closed"
    # ...and staff come in, granted without a half-day counted (granted, like GRANTED).
    STAFF = "staff"
    # A booking of this half-day lets its holder in (granted, like GRANTED); the booking's own use counts it, so
    # the entry charges nothing.
    BOOKED = "booked"
    # At a room's own door: no booking of that room for this half-day.
    NO_BOOKING = "no_booking"


# When no entitlement admits the holder, the refusal that tells them the most useful thing wins.
_REFUSAL_ORDER = (
    Reason.NO_CREDIT,
    Reason.OUTSIDE_HOURS,
    Reason.OUTSIDE_WEEKDAYS,
    Reason.NOT_YET_VALID,
    Reason.EXPIRED,
    Reason.CLOCK_UNSURE,
    Reason.NO_PLAN,
)


@dataclass(slots=True)
class Holder:
    """A member, or a walk-in holding a pass, or a member's guest, with their rights to enter."""

    id: str
    first_name: str
    active: bool = True
    entitlements: list[Entitlement] = field(default_factory=list)
    # A member's guest opens on this local date only, whatever the member's rights it is charged to (access/guests.py).
    day: dt.date | None = None
    staff: bool = False  # opens on the site's closed days, never charged for them


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    value: str
    holder_id: str
    active: bool = True
    member: bool = True  # a member's badge (False: a card or code that a walk-in's pass lent)


@dataclass(slots=True)
class AccessState:
    """Everything `decide` needs, loaded once from the database and kept up to date by the door."""

    rules: SlotRules
    credentials: dict[str, CredentialInfo] = field(default_factory=dict)
    holders: dict[str, Holder] = field(default_factory=dict)
    uses: Uses = field(default_factory=Uses)
    clock_policy: ClockPolicy = ClockPolicy.MEMBERS
    # The site's closed local dates (its holiday calendar). Time-limited rights were already extended past them
    # when the state was loaded (access/closures.py), so `decide` only looks the day up.
    closures: frozenset[dt.date] = frozenset()
    # The booked half-days of today and later (not cancelled) that open the doors for their holders.
    bookings: Bookings = field(default_factory=Bookings)
    # The resource whose own door this is (its id; "" when the configured one is not in the database, so that
    # only staff come in); None: the site's entrance.
    room: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    reason: Reason
    credential: str
    holder_id: str | None = None
    first_name: str | None = None
    entitlement: Entitlement | None = None
    charge: Charge | None = None
    slot: SlotRef | None = None
    clock_ok: bool = True

    @property
    def balance(self) -> int | None:
        """Half-days left on the carnet after this entry, if the entry was on a carnet."""
        if self.charge is not None:
            return self.charge.balance_after
        return self.entitlement.balance if self.entitlement is not None else None


def decide(credential: str, now: dt.datetime, state: AccessState, *, clock_ok: bool = True) -> Decision:
    """Decide on one tap of `credential` at the instant `now` (UTC-aware). Changes nothing."""
    info = state.credentials.get(credential)
    if info is None:
        return Decision(False, Reason.UNKNOWN, credential, clock_ok=clock_ok)
    holder = state.holders.get(info.holder_id)
    if holder is None:
        return Decision(False, Reason.UNKNOWN, credential, clock_ok=clock_ok)
    if not info.active:
        return _refuse(Reason.REVOKED, credential, holder, clock_ok)
    if not holder.active:
        return _refuse(Reason.INACTIVE, credential, holder, clock_ok)
    if not clock_ok and state.clock_policy == ClockPolicy.NOBODY:
        return _refuse(Reason.CLOCK_UNSURE, credential, holder, clock_ok)

    ref = slot_at(now, state.rules)
    if state.room is not None:
        return _room_door(credential, holder, ref, state, clock_ok)
    if holder.day is not None:
        refusal = _guest_day(holder.day, ref, clock_ok, state.clock_policy)
        if refusal is not None:
            return _refuse(refusal, credential, holder, clock_ok, ref)
    # A closed day is only known from a trusted clock; with an unsure one, the rules below decide as any day.
    if clock_ok and ref.date in state.closures:
        if holder.staff:
            return Decision(True, Reason.STAFF, credential, holder.id, holder.first_name, slot=ref)
        return _refuse(Reason.CLOSED, credential, holder, clock_ok, ref)
    refusals: set[Reason] = set()
    booked = _booked(holder.id, ref, state, clock_ok)
    if booked is None:
        return Decision(True, Reason.BOOKED, credential, holder.id, holder.first_name, slot=ref, clock_ok=clock_ok)
    if booked is not Reason.NO_BOOKING:
        refusals.add(booked)
    reentry = state.uses.has(holder.id, ref.date, ref.slot)
    best: Entitlement | None = None
    for entitlement in holder.entitlements:
        refusal = _check(entitlement, ref, reentry, clock_ok, state.clock_policy)
        if refusal is not None:
            refusals.add(refusal)
        elif best is None or _preference(entitlement) < _preference(best):
            best = entitlement
    if best is None:
        reason = next((r for r in _REFUSAL_ORDER if r in refusals), Reason.NO_PLAN)
        return _refuse(reason, credential, holder, clock_ok, ref)
    charge = charge_for(holder.id, best, ref, state.uses)
    return Decision(True, Reason.GRANTED, credential, holder.id, holder.first_name, best, charge, ref, clock_ok)


def apply(decision: Decision, state: AccessState) -> bool:
    """Bring `state` up to date with a decision acted on: the use it records and the half-day it spends.

    `state` may be the one the decision was taken on, or one loaded afresh from the database that may already hold
    the decision (then nothing changes). Returns whether anything changed.
    """
    charge, holder_id = decision.charge, decision.holder_id
    if charge is None or holder_id is None or state.uses.has(holder_id, charge.date, charge.slot):
        return False
    holder = state.holders.get(holder_id)
    held = holder.entitlements if holder is not None else []
    entitlement = next((e for e in held if e.id == charge.entitlement_id), None)
    apply_charge(holder_id, entitlement, charge, state.uses)
    return True


def _refuse(reason: Reason, credential: str, holder: Holder, clock_ok: bool, ref: SlotRef | None = None) -> Decision:
    return Decision(False, reason, credential, holder.id, holder.first_name, slot=ref, clock_ok=clock_ok)


def _booked(holder_id: str, ref: SlotRef, state: AccessState, clock_ok: bool) -> Reason | None:
    """None when a booking of this half-day (of the door's room, at a room's door) admits the holder; otherwise
    why the holder's bookings do not: NO_BOOKING when they hold none that could."""
    if not state.bookings.covers(holder_id, ref.date, ref.slot, state.room):
        if state.room is not None:
            return Reason.NO_BOOKING
        later = state.bookings.later(holder_id, ref.date, ref.slot)
        if later is None:
            return Reason.NO_BOOKING
        return Reason.NOT_YET_VALID if later else Reason.EXPIRED
    # A booking is for dates and hours: a clock not trusted cannot say it is the booked half-day.
    if not clock_ok and state.clock_policy != ClockPolicy.EVERYONE:
        return Reason.CLOCK_UNSURE
    return None if ref.inside else Reason.OUTSIDE_HOURS


def _room_door(credential: str, holder: Holder, ref: SlotRef, state: AccessState, clock_ok: bool) -> Decision:
    """At a room's own door: staff, and the holders of a booking of that room for this half-day; nobody else, and
    nothing is counted (the booking's own use is the count)."""
    if holder.staff:
        return Decision(True, Reason.STAFF, credential, holder.id, holder.first_name, slot=ref, clock_ok=clock_ok)
    if clock_ok and ref.date in state.closures:
        return _refuse(Reason.CLOSED, credential, holder, clock_ok, ref)
    booked = _booked(holder.id, ref, state, clock_ok)
    if booked is not None:
        return _refuse(booked, credential, holder, clock_ok, ref)
    return Decision(True, Reason.BOOKED, credential, holder.id, holder.first_name, slot=ref, clock_ok=clock_ok)


def _guest_day(day: dt.date, ref: SlotRef, clock_ok: bool, clock_policy: ClockPolicy) -> Reason | None:
    """Why a guest's code does not open at `ref`: another day, or a date read from a clock not trusted."""
    if not clock_ok and clock_policy != ClockPolicy.EVERYONE:
        return Reason.CLOCK_UNSURE
    if ref.date < day:
        return Reason.NOT_YET_VALID
    return Reason.EXPIRED if ref.date > day else None


def _check(e: Entitlement, ref: SlotRef, reentry: bool, clock_ok: bool, clock_policy: ClockPolicy) -> Reason | None:
    """Why `e` does not admit an entry in `ref`, or None if it does."""
    if not clock_ok and clock_policy == ClockPolicy.MEMBERS:
        # Dates, days and hours come from a clock we cannot trust: only open-ended member plans decide.
        if e.is_pass or e.valid_until is not None:
            return Reason.CLOCK_UNSURE
        return _credit(e, reentry)
    if e.valid_from is not None and ref.date < e.valid_from:
        return Reason.NOT_YET_VALID
    if e.valid_until is not None and ref.date > e.valid_until:
        return Reason.EXPIRED
    if e.is_pass:
        refusal = _pass_slot(e, ref)
        if refusal is not None:
            return refusal
    # The day before the hours: on a day the plan does not cover, no hour would do.
    if not allows(e.weekdays, ref.date):
        return Reason.OUTSIDE_WEEKDAYS
    if not _within_hours(e, ref):
        return Reason.OUTSIDE_HOURS
    return _credit(e, reentry)


def _pass_slot(e: Entitlement, ref: SlotRef) -> Reason | None:
    """Why a pass does not open in the slot of a date inside its span: the first day opens from its first slot,
    the last day up to its last slot, the days between whole."""
    allowed = set(SLOTS)
    if ref.date == e.valid_from:
        allowed &= e.slots
    if ref.date == e.valid_until:
        allowed &= e.until_slots
    if ref.slot in allowed:
        return None
    # A morning-only pass is over in the afternoon; an afternoon-only pass has not begun in the morning.
    first = min((SLOTS.index(s) for s in e.slots), default=len(SLOTS))
    before_first = ref.date == e.valid_from and SLOTS.index(ref.slot) < first
    return Reason.NOT_YET_VALID if before_first else Reason.EXPIRED


def _within_hours(e: Entitlement, ref: SlotRef) -> bool:
    if e.hours_start is None or e.hours_end is None:
        return ref.inside
    return e.hours_start <= ref.local_time and before_end(ref.local_time, e.hours_end)


def _credit(e: Entitlement, reentry: bool) -> Reason | None:
    if reentry or not e.charges or e.allow_overdraft:
        return None
    return None if (e.balance or 0) > 0 else Reason.NO_CREDIT


def _preference(e: Entitlement) -> int:
    """Which right to use when several admit: unlimited first, then a pass, then a carnet."""
    if e.kind == PlanKind.UNLIMITED:
        return 0
    if e.is_pass:
        return 1
    return 2 if (e.balance or 0) > 0 else 3
