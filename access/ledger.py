"""The half-day ledger, as pure code: which slot a moment falls in, and what an entry charges.

No database and no clock here: the moment, the state and the rules are arguments, so every rule (DST days,
slot boundaries, re-entry, overdraft) can be tested directly.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from common.words import PASS_KINDS, SLOTS, PlanKind, Slot

# A time of day cannot say 24:00: an end of 23:59 (the site's afternoon, a plan's hours, the counter's hours) means
# up to midnight, so that a space open all day takes a tap or a sale in its last minute too.
END_OF_DAY = dt.time(23, 59)


def before_end(t: dt.time, end: dt.time) -> bool:
    """Whether the local time `t` comes before the end `end` of a period (an end of 23:59 is midnight)."""
    return t < end or end == END_OF_DAY


def end_instant(day: dt.date, end: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The instant a period of `day` ending at `end` ends (aware, in `tz`): at 23:59, the next midnight."""
    if end == END_OF_DAY:
        return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return dt.datetime.combine(day, end, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class SlotRules:
    """The site's half-day slots in local time, and its time zone."""

    tz: ZoneInfo
    morning_start: dt.time = dt.time(8, 0)
    noon: dt.time = dt.time(13, 0)
    afternoon_end: dt.time = dt.time(20, 0)


@dataclass(frozen=True, slots=True)
class SlotRef:
    """A half-day of the site: its local date and slot. `inside` is False before or after the slot hours."""

    date: dt.date
    slot: Slot
    inside: bool
    local_time: dt.time


def slot_at(now: dt.datetime, rules: SlotRules) -> SlotRef:
    """The half-day that the instant `now` (UTC-aware) falls in, in the site's time zone.

    Morning is [morning_start, noon), afternoon is [noon, afternoon_end) (to midnight at 23:59). Before the morning
    an entry belongs to the morning, after the afternoon to the afternoon, so a plan whose hours run later still
    charges one slot.
    """
    if now.tzinfo is None:
        raise ValueError("slot_at needs an aware datetime")
    local = now.astimezone(rules.tz)
    t = local.time().replace(tzinfo=None)
    slot = Slot.MORNING if t < rules.noon else Slot.AFTERNOON
    inside = rules.morning_start <= t and before_end(t, rules.afternoon_end)
    return SlotRef(local.date(), slot, inside, t)


@dataclass(slots=True)
class Entitlement:
    """One right to enter: a member's subscription to a plan, or a walk-in's pass."""

    id: str  # subscription id or pass id
    kind: PlanKind
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    hours_start: dt.time | None = None
    hours_end: dt.time | None = None
    weekdays: str | None = None  # the ISO weekdays admitted ("12345"), None: every day (common/weekdays.py)
    allow_overdraft: bool = False
    balance: int | None = None  # carnet: half-days left (effective: after this device's unsent uses)
    slots: frozenset[Slot] = frozenset(SLOTS)  # a pass's slots of its first date (`valid_from`)
    until_slots: frozenset[Slot] = frozenset(SLOTS)  # a pass's slots of its last date (`valid_until`)

    @property
    def charges(self) -> bool:
        return self.kind == PlanKind.CARNET

    @property
    def is_pass(self) -> bool:
        return self.kind in PASS_KINDS


@dataclass(frozen=True, slots=True)
class Charge:
    """What an entry costs: the use of (holder, date, slot) and the half-days it spends (0 or 1)."""

    date: dt.date
    slot: Slot
    spent: int
    entitlement_id: str
    is_pass: bool
    balance_after: int | None


@dataclass(slots=True)
class Uses:
    """The (holder, local date, slot) uses already recorded at this site."""

    seen: set[tuple[str, dt.date, Slot]] = field(default_factory=set)

    def has(self, holder_id: str, date: dt.date, slot: Slot) -> bool:
        return (holder_id, date, slot) in self.seen

    def add(self, holder_id: str, date: dt.date, slot: Slot) -> None:
        self.seen.add((holder_id, date, slot))


@dataclass(slots=True)
class Bookings:
    """The booked half-days a door opens for: per (holder, local date, slot), the resources booked. The holder is
    a member's id, or a booking's group id for the code that covers its walk-in and its party."""

    held: dict[tuple[str, dt.date, Slot], set[str]] = field(default_factory=dict)
    # Each holder's last booked half-day (date, slot's rank): a refusal outside the bookings looks it up, on the
    # door's hot path, instead of going through every booking.
    last: dict[str, tuple[dt.date, int]] = field(default_factory=dict)

    def add(self, holder_id: str, resource_id: str, date: dt.date, slot: Slot) -> None:
        self.held.setdefault((holder_id, date, slot), set()).add(resource_id)
        half_day = (date, SLOTS.index(slot))
        current = self.last.get(holder_id)
        if current is None or half_day > current:
            self.last[holder_id] = half_day

    def covers(self, holder_id: str, date: dt.date, slot: Slot, resource_id: str | None = None) -> bool:
        """Whether the holder booked that half-day: of `resource_id`, or of any resource when it is None."""
        booked = self.held.get((holder_id, date, slot))
        if not booked:
            return False
        return resource_id is None or resource_id in booked

    def later(self, holder_id: str, date: dt.date, slot: Slot) -> bool | None:
        """Whether the holder's last booked half-day is still to come (True) or past (False), None when the holder
        booked nothing: what a refusal outside the bookings says."""
        last = self.last.get(holder_id)
        if last is None:
            return None
        return last > (date, SLOTS.index(slot))

    def items(self) -> list[tuple[str, str, dt.date, Slot]]:
        return sorted((h, r, d, s) for (h, d, s), rs in self.held.items() for r in rs)


def charge_for(holder_id: str, entitlement: Entitlement, ref: SlotRef, uses: Uses) -> Charge | None:
    """The charge of a granted entry, or None for a re-entry in a slot already used (free)."""
    if uses.has(holder_id, ref.date, ref.slot):
        return None
    spent = 1 if entitlement.charges else 0
    balance_after = None if entitlement.balance is None else entitlement.balance - spent
    return Charge(ref.date, ref.slot, spent, entitlement.id, entitlement.is_pass, balance_after)


def apply_charge(holder_id: str, entitlement: Entitlement | None, charge: Charge, uses: Uses) -> None:
    """Record a charge in the in-memory state: the use, and the half-day it spends from `entitlement` (None when
    the right is no longer held: the use still counts)."""
    if uses.has(holder_id, charge.date, charge.slot):
        raise ValueError("a slot is never charged twice")
    uses.add(holder_id, charge.date, charge.slot)
    if entitlement is not None and entitlement.balance is not None:
        entitlement.balance -= charge.spent


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """Hours of the week in the site's local time, e.g. when staff is present or when the counter sells.

    Written as in the config: "mon 09:00-12:00", or a run of days, "mon-fri 08:00-20:00"."""

    periods: tuple[tuple[int, dt.time, dt.time], ...] = ()  # (weekday 0 = Monday, start, end)

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> WeeklyHours:
        """ValueError naming the item that is not "day[-day] HH:MM-HH:MM"."""
        periods: list[tuple[int, dt.time, dt.time]] = []
        for item in items:
            try:
                days, hours = item.split()
                first, _, last = days.partition("-")
                start_text, end_text = hours.split("-")
                start, end = dt.time.fromisoformat(start_text), dt.time.fromisoformat(end_text)
                span = range(DAYS.index(first), DAYS.index(last or first) + 1)
            except ValueError:
                raise ValueError(item) from None
            if not start < end or not span:
                raise ValueError(item)
            periods.extend((day, start, end) for day in span)
        return cls(tuple(periods))

    def contains(self, local: dt.datetime) -> bool:
        """Whether the local moment falls in one of the periods."""
        t = local.time().replace(tzinfo=None)
        return any(day == local.weekday() and start <= t and before_end(t, end) for day, start, end in self.periods)
