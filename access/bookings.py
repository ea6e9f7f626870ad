"""Rooms and offices booked by the half-day: what is free, the one transaction that books, and cancellation.

The appliance is the one writer of its resources' bookings: the touchscreen, the admin and the hub's requests all
come through `book` and `cancel`, in the caller's write transaction. The database allows one live booking per
resource and slot (the partial unique index `ux_bookings_resource_slot`); `book` checks first so that the refusal
is clear, and the index stays the last guard when two writers race.

Every booked half-day is a use of the month (a `Use` row whose holder is the booking row, with its resource), paid
like a pass (counter, voucher), from a carnet (one half-day per booked half-day) or from the room half-days a
member's plan includes each calendar month. A walk-in's booking gets a 6-digit code that opens the entrance for its
slots as the credential "booking:<group>".
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from access.guests import month_of
from access.models import Balance, Booking, Closure, Guest, Member, Pass, Plan, Resource, Subscription, Use
from access.store import (
    Stamp,
    append_event,
    bump_state_version,
    get_meta,
    spent_since_balances,
)
from common.db import new_id
from common.words import SLOTS, BookingPayment, EventKind, PlanKind, Slot

# A walk-in's booking opens the entrance as the credential "booking:<group id>" (its code entered at the kiosk).
BOOKING_CREDENTIAL_PREFIX = "booking:"
# Where the appliance keeps its site id when the caller does not pass one (Use rows are counted per site).
SITE_META = "site_id"
CODE_DIGITS = 6
NAME_MAX = 160
GUESTS_MAX = 400
# Half-days one booking may hold: a fortnight of whole days; longer is a rental the manager arranges.
MAX_HALF_DAYS = 28
HOLDER_KINDS = ("member", "walk_in")
ORIGINS = ("kiosk", "admin", "hub")
CANCEL_RULES = ("day_before", "never")

HalfDay = tuple[dt.date, Slot]


class BookingRefused(ValueError):
    """A booking (or cancellation) that cannot be made; `reason` names why, for the screen to word it.

    Reasons: "taken", "past", "closed", "inactive", "unknown_resource", "name_missing", "name_long", "no_credit",
    "no_right", "no_half_day", "too_long", "payment", "unknown_booking", "cancelled", "too_late_to_cancel",
    "not_cancellable" (the site's rule is "never")."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


# ------------------------------------------------------------------------------------------------ what is free


def availability(
    session: Session, first: dt.date, days: int, resource_ids: Collection[str] | None = None
) -> dict[tuple[str, dt.date, Slot], Booking | None]:
    """Every slot of the active resources (or of `resource_ids`) from `first` for `days` days: its live booking,
    or None when free."""
    last = first + dt.timedelta(days=days - 1)
    if resource_ids is None:
        ids = list(session.scalars(select(Resource.id).where(Resource.active.is_(True)).order_by(Resource.name)))
    else:
        ids = list(resource_ids)
    board: dict[tuple[str, dt.date, Slot], Booking | None] = {}
    for resource_id in ids:
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            for slot in SLOTS:
                board[(resource_id, day, slot)] = None
    if not ids:
        return board
    for booking in session.scalars(
        select(Booking).where(
            Booking.resource_id.in_(ids),
            Booking.local_date >= first,
            Booking.local_date <= last,
            Booking.cancelled_at.is_(None),
        )
    ):
        board[(booking.resource_id, booking.local_date, Slot(booking.slot))] = booking
    return board


def price_cents(resource: Resource, half_days: Iterable[HalfDay]) -> int:
    """What the half-days cost: a day's price for each date booked morning and afternoon (when the resource has
    one), a half-day's price for each other half-day."""
    per_date: dict[dt.date, int] = {}
    for day, _slot in set(half_days):
        per_date[day] = per_date.get(day, 0) + 1
    total = 0
    for count in per_date.values():
        if count == len(SLOTS) and resource.price_day_cents > 0:
            total += resource.price_day_cents
        else:
            total += count * resource.price_halfday_cents
    return total


def group_rows(session: Session, group_id: str) -> list[Booking]:
    """The rows of a booking, in date and slot order (cancelled ones included)."""
    rows = session.scalars(select(Booking).where(Booking.group_id == group_id)).all()
    return sorted(rows, key=lambda b: (b.local_date, SLOTS.index(Slot(b.slot))))


# ------------------------------------------------------------------------------------------ a member's rights


@dataclass(frozen=True, slots=True)
class RoomRights:
    """What a member may book rooms from on a date: their carnet (effective balance) and the room half-days their
    plan includes in that calendar month, with those already booked."""

    carnet_subscription: str | None = None
    carnet_balance: int = 0
    carnet_overdraft: bool = False
    included_subscription: str | None = None
    included_per_month: int = 0
    included_taken: int = 0

    @property
    def included_left(self) -> int:
        return max(0, self.included_per_month - self.included_taken)


def _running(session: Session, member_id: str, day: dt.date) -> list[tuple[Subscription, Plan, Balance | None]]:
    rows = session.execute(
        select(Subscription, Plan, Balance)
        .join(Plan, Subscription.plan_id == Plan.id)
        .outerjoin(Balance, Balance.subscription_id == Subscription.id)
        .where(Subscription.member_id == member_id)
        .order_by(Subscription.valid_from)
    ).all()
    return [
        (sub, plan, balance)
        for sub, plan, balance in rows
        if (sub.valid_from is None or sub.valid_from <= day) and (sub.valid_until is None or sub.valid_until >= day)
    ]


def included_taken(session: Session, subscription_id: str, day: dt.date) -> int:
    """Room half-days of the plan already booked in `day`'s calendar month (live bookings)."""
    first, last = month_of(day)
    taken = session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.subscription_id == subscription_id,
            Booking.paid_by == BookingPayment.INCLUDED,
            Booking.cancelled_at.is_(None),
            Booking.local_date >= first,
            Booking.local_date <= last,
        )
    )
    return int(taken or 0)


def room_rights(session: Session, member_id: str, day: dt.date, device_id: str) -> RoomRights:
    """The member's carnet and included room half-days as they stand for a booking on `day`."""
    running = _running(session, member_id, day)
    carnet = next(((s, p, b) for s, p, b in running if p.kind == PlanKind.CARNET and b is not None), None)
    included = next(((s, p) for s, p, _b in running if (p.room_half_days or 0) > 0), None)
    balance = 0
    if carnet is not None and carnet[2] is not None:
        balance = carnet[2].amount - spent_since_balances(session, device_id).get(carnet[0].id, 0)
    return RoomRights(
        carnet_subscription=carnet[0].id if carnet else None,
        carnet_balance=balance,
        carnet_overdraft=bool(carnet and carnet[1].allow_overdraft),
        included_subscription=included[0].id if included else None,
        included_per_month=(included[1].room_half_days or 0) if included else 0,
        included_taken=included_taken(session, included[0].id, day) if included else 0,
    )


def _charges(
    session: Session, member_id: str | None, paid_by: str, half_days: list[HalfDay], today: dt.date, device_id: str
) -> list[tuple[str | None, int]]:
    """Per half-day, the subscription it is taken from and the carnet half-days it spends (0 or 1)."""
    if paid_by in (BookingPayment.COUNTER, BookingPayment.VOUCHER):
        return [(None, 0)] * len(half_days)
    if member_id is None:
        raise BookingRefused("no_right")
    if paid_by == BookingPayment.CARNET:
        rights = room_rights(session, member_id, today, device_id)
        sub_id = rights.carnet_subscription
        if sub_id is None:
            raise BookingRefused("no_right")
        sub = session.get(Subscription, sub_id)
        if sub is not None and sub.valid_until is not None and any(d > sub.valid_until for d, _s in half_days):
            raise BookingRefused("no_right")  # the carnet ends before the booking
        if rights.carnet_balance < len(half_days) and not rights.carnet_overdraft:
            raise BookingRefused("no_credit", balance=rights.carnet_balance)
        return [(sub_id, 1)] * len(half_days)
    if paid_by == BookingPayment.INCLUDED:
        chosen: list[tuple[str | None, int]] = []
        wanted: dict[tuple[str, dt.date], int] = {}
        for day, _slot in half_days:
            plan = next(((s, p) for s, p, _b in _running(session, member_id, day) if (p.room_half_days or 0) > 0), None)
            if plan is None:
                raise BookingRefused("no_right")
            sub, p = plan
            month = (sub.id, month_of(day)[0])
            wanted[month] = wanted.get(month, 0) + 1
            if included_taken(session, sub.id, day) + wanted[month] > (p.room_half_days or 0):
                raise BookingRefused("no_credit")
            chosen.append((sub.id, 0))
        return chosen
    raise BookingRefused("payment")


# ------------------------------------------------------------------------------------------------------ booking


def new_booking_code(session: Session, first: dt.date, last: dt.date) -> str:
    """A random 6-digit code that no live booking, pass nor guest of the dates [first, last] has, so that a code
    entered at the touchscreen names one visitor."""
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        clash = (
            session.scalar(
                select(Booking.id).where(
                    Booking.code == code,
                    Booking.cancelled_at.is_(None),
                    Booking.local_date >= first,
                    Booking.local_date <= last,
                )
            )
            or session.scalar(
                select(Pass.id).where(
                    Pass.code == code,
                    Pass.valid_date <= last,
                    func.coalesce(Pass.valid_until, Pass.valid_date) >= first,
                )
            )
            or session.scalar(
                select(Guest.id).where(Guest.code == code, Guest.valid_date >= first, Guest.valid_date <= last)
            )
        )
        if clash is None:
            return code


def _check_half_days(
    half_days: list[tuple[dt.date, Slot]], today: dt.date, not_before: HalfDay | None
) -> list[HalfDay]:
    if not half_days:
        raise BookingRefused("no_half_day")
    clean = sorted({(day, Slot(slot)) for day, slot in half_days}, key=lambda h: (h[0], SLOTS.index(h[1])))
    if len(clean) > MAX_HALF_DAYS:
        raise BookingRefused("too_long")
    for day, slot in clean:
        if day < today:
            raise BookingRefused("past")
        if not_before is not None and (day, SLOTS.index(slot)) < (not_before[0], SLOTS.index(not_before[1])):
            raise BookingRefused("past")
    return clean


def _site_id(session: Session, site_id: str | None) -> str:
    return site_id if site_id is not None else (get_meta(session, SITE_META) or "")


def book(
    session: Session,
    *,
    resource_id: str,
    half_days: list[tuple[dt.date, Slot]],
    name: str,
    origin: str,
    device_id: str,
    stamp: Stamp,
    paid_by: str,
    member_id: str | None = None,
    email: str | None = None,
    guests: Iterable[str] = (),
    sale_id: str | None = None,
    today: dt.date,
    site_id: str | None = None,
    request_id: str | None = None,
    not_before: HalfDay | None = None,
) -> list[Booking]:
    """Book `half_days` of the resource, all or none, in the caller's write transaction (BookingRefused naming why
    not). Writes the rows, their uses (spending from a carnet or the plan's room half-days), ONE "booking" event
    with its outbox row, and bumps the state version. A walk-in's booking (no `member_id`) gets a 6-digit code.

    `site_id` is the site the uses count in (pass the config's; by default the `meta` key "site_id");
    `request_id` the hub's request this booking answers; `not_before` the current half-day (earlier ones of
    today are past)."""
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise BookingRefused("unknown_resource")
    if not resource.active:
        raise BookingRefused("inactive")
    clean_name = " ".join(name.split())
    if not clean_name:
        raise BookingRefused("name_missing")
    if len(clean_name) > NAME_MAX:
        raise BookingRefused("name_long")
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    if paid_by not in set(BookingPayment):
        raise BookingRefused("payment")
    slots = _check_half_days(half_days, today, not_before)
    dates = sorted({d for d, _s in slots})
    if session.scalar(select(Closure.date).where(Closure.date.in_(dates)).limit(1)) is not None:
        raise BookingRefused("closed")
    if member_id is not None:
        member = session.get(Member, member_id)
        if member is None or not member.active:
            raise BookingRefused("no_right")
    taken = session.scalars(
        select(Booking).where(
            Booking.resource_id == resource_id,
            Booking.cancelled_at.is_(None),
            tuple_(Booking.local_date, Booking.slot).in_([(d, str(s)) for d, s in slots]),
        )
    ).all()
    if taken:
        raise BookingRefused("taken", half_days=[(b.local_date, Slot(b.slot)) for b in taken])
    charges = _charges(session, member_id, paid_by, slots, today, device_id)
    guest_names = ", ".join(" ".join(g.split()) for g in guests if g.strip())[:GUESTS_MAX] or None
    group_id = new_id()
    code = new_booking_code(session, dates[0], dates[-1]) if member_id is None else None
    rows = [
        Booking(
            id=new_id(),
            group_id=group_id,
            resource_id=resource_id,
            local_date=day,
            slot=str(slot),
            holder_kind="member" if member_id is not None else "walk_in",
            member_id=member_id,
            name=clean_name,
            email=email or None,
            code=code,
            guests=guest_names,
            paid_by=str(paid_by),
            sale_id=sale_id,
            subscription_id=sub_id,
            origin=origin,
            created_at=stamp.at,
        )
        for (day, slot), (sub_id, _spent) in zip(slots, charges, strict=True)
    ]
    try:
        with session.begin_nested():
            session.add_all(rows)
    except IntegrityError:
        # Another writer booked one of these slots since the check: the partial unique index said no.
        raise BookingRefused("taken") from None
    data = {
        "group": group_id,
        "resource": resource.id,
        "resource_kind": resource.kind,
        "resource_name": resource.name,
        "holder": member_id,
        "name": clean_name.split(" ")[0],
        "paid_by": str(paid_by),
        "sale": sale_id,
        "origin": origin,
        "request": request_id,
        "slots": [
            {
                "id": row.id,
                "date": row.local_date.isoformat(),
                "slot": row.slot,
                "spent": spent,
                "subscription": sub_id,
            }
            for row, (sub_id, spent) in zip(rows, charges, strict=True)
        ],
    }
    event_id, seq = append_event(session, device_id, EventKind.BOOKING, data, stamp)
    site = _site_id(session, site_id)
    session.add_all(
        Use(
            holder_id=row.id,
            site_id=site,
            local_date=row.local_date,
            slot=row.slot,
            spent=spent,
            subscription_id=sub_id,
            pass_id=None,
            event_id=event_id,
            seq=seq,
            resource_id=resource.id,
        )
        for row, (sub_id, spent) in zip(rows, charges, strict=True)
    )
    bump_state_version(session)
    session.flush()
    return rows


# -------------------------------------------------------------------------------------------------- cancelling


def may_cancel(rows: list[Booking], today: dt.date, rule: str) -> bool:
    """Whether the holder may still cancel: the site's rule allows it and the booking's first live half-day is
    after `today` (until the day before)."""
    live = [b for b in rows if b.cancelled_at is None]
    return rule == "day_before" and bool(live) and min(b.local_date for b in live) > today


def cancel(
    session: Session,
    group_id: str,
    *,
    device_id: str,
    stamp: Stamp,
    today: dt.date,
    by_manager: bool,
    rule: str,
) -> list[Booking]:
    """Cancel a booking's live half-days in the caller's write transaction; returns the rows cancelled. Their uses
    go, carnet half-days come back (as a top-up gives them), room half-days of the plan are free again; writes a
    "booking_cancelled" event and bumps the state version. A holder may cancel until the day before when `rule`
    is "day_before"; the manager always."""
    if rule not in CANCEL_RULES:
        raise ValueError(f"unknown cancel rule {rule!r}")
    rows = group_rows(session, group_id)
    if not rows:
        raise BookingRefused("unknown_booking")
    live = [b for b in rows if b.cancelled_at is None]
    if not live:
        raise BookingRefused("cancelled")
    if not by_manager:
        if rule == "never":
            raise BookingRefused("not_cancellable")
        if not may_cancel(rows, today, rule):
            raise BookingRefused("too_late_to_cancel")
    ids = [b.id for b in live]
    uses = session.scalars(select(Use).where(Use.holder_id.in_(ids))).all()
    spent_by_sub: dict[str, int] = {}
    for use in uses:
        if use.spent and use.subscription_id is not None:
            spent_by_sub[use.subscription_id] = spent_by_sub.get(use.subscription_id, 0) + use.spent
    # The effective balances before the uses go: the given-back half-days are added to them, as a top-up does,
    # whether or not the hub's roster had already counted the spending.
    before = spent_since_balances(session, device_id)
    balances = {
        b.subscription_id: b
        for b in session.scalars(select(Balance).where(Balance.subscription_id.in_(list(spent_by_sub))))
    }
    effective = {sub: balances[sub].amount - before.get(sub, 0) for sub in balances}
    for use in uses:
        session.delete(use)
    for b in live:
        b.cancelled_at = stamp.at
    session.flush()
    data = {"group": group_id, "bookings": ids, "by": "manager" if by_manager else "holder"}
    _event_id, seq = append_event(session, device_id, EventKind.BOOKING_CANCELLED, data, stamp)
    for sub, balance in balances.items():
        balance.amount = effective[sub] + spent_by_sub[sub]
        balance.as_of_seq = seq
    bump_state_version(session)
    session.flush()
    return live


# ------------------------------------------------------------------------------------------------ for the door


def booking_for_code(session: Session, code: str, day: dt.date, slot: Slot) -> list[Booking]:
    """The live rows of the walk-in's booking whose code is `code`, if it holds the half-day (`day`, `slot`);
    an empty list otherwise (a code of another slot answers like a wrong one)."""
    code = code.strip().replace(" ", "")
    if len(code) != CODE_DIGITS or not code.isdigit():
        return []
    hit = session.scalar(
        select(Booking.group_id).where(
            Booking.code == code,
            Booking.cancelled_at.is_(None),
            Booking.local_date == day,
            Booking.slot == str(slot),
        )
    )
    if hit is None:
        return []
    return [b for b in group_rows(session, hit) if b.cancelled_at is None]


def live_bookings(session: Session, first: dt.date, last: dt.date | None = None) -> list[Booking]:
    """Live bookings with a half-day in [first, last] (last None: from `first` on), in date order."""
    where = [Booking.cancelled_at.is_(None), Booking.local_date >= first]
    if last is not None:
        where.append(Booking.local_date <= last)
    return list(session.scalars(select(Booking).where(and_(*where)).order_by(Booking.local_date, Booking.slot)))


def member_bookings(session: Session, member_id: str, first: dt.date) -> list[list[Booking]]:
    """A member's live bookings from `first` on, grouped (each group in date and slot order)."""
    groups: dict[str, list[Booking]] = {}
    for b in session.scalars(
        select(Booking).where(
            Booking.member_id == member_id,
            Booking.cancelled_at.is_(None),
            Booking.local_date >= first,
        )
    ):
        groups.setdefault(b.group_id, []).append(b)
    return sorted(
        (sorted(g, key=lambda b: (b.local_date, SLOTS.index(Slot(b.slot)))) for g in groups.values()),
        key=lambda g: (g[0].local_date, SLOTS.index(Slot(g[0].slot))),
    )


def member_bookings_named(session: Session, member_id: str, first: dt.date) -> list[tuple[list[Booking], str]]:
    """A member's live bookings from `first` on, each with its resource's name (for their account)."""
    groups = member_bookings(session, member_id, first)
    ids = {g[0].resource_id for g in groups}
    names = {rid: name for rid, name in session.execute(select(Resource.id, Resource.name).where(Resource.id.in_(ids)))}
    return [(g, names.get(g[0].resource_id, "?")) for g in groups]
