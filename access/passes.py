"""What a walk-in's pass covers, as pure code: from its kind, the instant it is bought, the site's slots and its
closure days, the span of half-days it opens the door for.

The rules, as the touchscreen says them to the buyer:
- A half-day pass covers the current half-day; a day pass the current half-day and the next one (bought in the
  afternoon: this afternoon and the next morning).
- A week pass covers 7 calendar days counting the day of purchase (bought on a Wednesday: to the next Tuesday
  evening); a month pass runs to the day before the same day next month, or to the last day of next month when
  that day does not exist (bought on 31 January: to 28 or 29 February). They start with the current half-day.
- Bought late: when less than `late_minutes` remain of the current half-day, the rest of it is given free and the
  pass starts with the next half-day (a half-day pass bought at 12:30 covers the afternoon too; a week pass bought
  at 19:30 starts the next morning). Nobody pays for ten minutes of a half-day.
- Closed days are given back: a half-day or day pass skips them; a week or month pass ends later by as many open
  days as closures fell inside it (access/closures.py, the one rule for time-limited rights).

No database, no clock: the instant (UTC-aware), the rules and the closures are arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from access.closures import extended_until
from access.ledger import SlotRules, end_instant, slot_at
from common.periods import months_end
from common.words import SLOTS, PlanKind, Slot

# Minutes of a half-day below which a pass bought in it starts with the next half-day (the rest given free).
LATE_MINUTES = 60
DAY = dt.timedelta(days=1)
WEEK_DAYS = 7
# Closures one after another further than this: the next open half-day is not looked for past it.
MAX_SKIP_DAYS = 366

HalfDay = tuple[dt.date, Slot]


@dataclass(frozen=True, slots=True)
class PassSpan:
    """The half-days a pass opens for: `first_slots` of `first_date` to `last_slots` of `last_date`, every day
    between whole (as `Pass.valid_date`, `slots`, `valid_until`, `until_slots` store it)."""

    kind: PlanKind
    first_date: dt.date
    first_slots: tuple[Slot, ...]
    last_date: dt.date
    last_slots: tuple[Slot, ...]

    def covers(self, date: dt.date, slot: Slot) -> bool:
        """Whether the pass opens in the half-day (`date`, `slot`)."""
        if not self.first_date <= date <= self.last_date:
            return False
        if date == self.first_date and slot not in self.first_slots:
            return False
        return not (date == self.last_date and slot not in self.last_slots)

    def half_days(self, closures: Collection[dt.date] = ()) -> list[HalfDay]:
        """The half-days covered, in order, closed days left out (the door refuses on them)."""
        days: list[HalfDay] = []
        date = self.first_date
        while date <= self.last_date:
            if date not in closures:
                days.extend((date, slot) for slot in SLOTS if self.covers(date, slot))
            date += DAY
        return days

    @property
    def single_day(self) -> bool:
        return self.first_date == self.last_date


def span_of(
    kind: PlanKind,
    now: dt.datetime,
    rules: SlotRules,
    closures: Collection[dt.date] = (),
    late_minutes: int = LATE_MINUTES,
) -> PassSpan:
    """What a pass of `kind` bought at the instant `now` (UTC-aware) covers (see the module's rules)."""
    if kind not in (PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY, PlanKind.PASS_WEEK, PlanKind.PASS_MONTH):
        raise ValueError(f"not a pass: {kind!r}")
    start, gift = start_of(now, rules, closures, late_minutes)
    if kind in (PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY):
        paid = [start] if kind == PlanKind.PASS_HALFDAY else [start, next_open(start, closures)]
        covered = ([gift] if gift is not None else []) + paid
        first, last = covered[0][0], covered[-1][0]
        return PassSpan(
            kind,
            first,
            tuple(s for d, s in covered if d == first),
            last,
            tuple(s for d, s in covered if d == last),
        )
    # A week or a month counts from the first half-day paid for as if no day were closed: the closed days in it,
    # the first ones too, are given back at its end, so that buying later never ends sooner.
    first_date = start_of(now, rules, (), late_minutes)[0][0]
    nominal = first_date + dt.timedelta(days=WEEK_DAYS - 1) if kind == PlanKind.PASS_WEEK else month_end(first_date)
    last_date = extended_until(first_date, nominal, closures)
    # Bought late, the span begins with the half-day given free (the days between, if closed, the door refuses).
    begin = gift if gift is not None else start
    return PassSpan(kind, begin[0], SLOTS[SLOTS.index(begin[1]) :], last_date, SLOTS)


def start_of(
    now: dt.datetime, rules: SlotRules, closures: Collection[dt.date] = (), late_minutes: int = LATE_MINUTES
) -> tuple[HalfDay, HalfDay | None]:
    """The first half-day a pass bought at `now` is paid for, and the half-day given free before it (bought late).

    Late means strictly less than `late_minutes` of real time left before the half-day ends (a DST night changes
    nothing: the slots' boundaries are in the day). Before the morning opens, the pass starts that morning; after
    the afternoon closes, with the next open morning; a closed day is never a first paid half-day.
    """
    ref = slot_at(now, rules)
    gift: HalfDay | None = None
    if ref.inside:
        current: HalfDay = (ref.date, ref.slot)
        if ends_at(current, rules) - now < dt.timedelta(minutes=late_minutes):
            start = next_half_day(current)
            gift = current if ref.date not in closures else None
        else:
            start = current
    elif ref.local_time < rules.morning_start:
        start = (ref.date, Slot.MORNING)
    else:
        start = next_half_day((ref.date, Slot.AFTERNOON))
    return first_open(start, closures), gift


def ends_at(half_day: HalfDay, rules: SlotRules) -> dt.datetime:
    """The instant (aware, in the site's zone) the half-day ends."""
    date, slot = half_day
    return end_instant(date, rules.noon if slot == Slot.MORNING else rules.afternoon_end, rules.tz)


def next_half_day(half_day: HalfDay) -> HalfDay:
    date, slot = half_day
    return (date, Slot.AFTERNOON) if slot == Slot.MORNING else (date + DAY, Slot.MORNING)


def first_open(half_day: HalfDay, closures: Collection[dt.date]) -> HalfDay:
    """`half_day` if its date is open, else the morning of the next open date."""
    date = half_day[0]
    if date not in closures:
        return half_day
    for _ in range(MAX_SKIP_DAYS):
        date += DAY
        if date not in closures:
            return (date, Slot.MORNING)
    return (date, Slot.MORNING)


def next_open(half_day: HalfDay, closures: Collection[dt.date]) -> HalfDay:
    """The open half-day after `half_day`."""
    return first_open(next_half_day(half_day), closures)


def month_end(first: dt.date) -> dt.date:
    """The last day of a month from `first`: the day before the same day next month, or the last day of next month
    when that day does not exist (31 January -> 28 or 29 February)."""
    return months_end(first, 1)  # the one rule for a month, shared with renewals (common/periods.py)
