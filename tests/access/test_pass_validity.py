"""What a walk-in's pass covers (access/passes.py), as properties over any instant of the year: DST nights in
Europe/Paris, month ends (31st, February, leap years) and closure days; the late rule at its exact boundaries; and
the door's policy agreeing with the span at every instant."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from access.ledger import Entitlement, SlotRules, slot_at
from access.passes import PassSpan, ends_at, month_end, span_of, start_of
from access.policy import AccessState, CredentialInfo, Holder, Reason, decide
from common.words import SLOTS, PlanKind, Slot

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
RULES = SlotRules(PARIS)  # 08:00-13:00-20:00
LATE = 60
DAY = dt.timedelta(days=1)
KINDS = (PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY, PlanKind.PASS_WEEK, PlanKind.PASS_MONTH)


def last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


# The days around each change of time, and month ends, are drawn as often as any other day.
DST_DAYS = [last_sunday(y, m) + dt.timedelta(days=k) for y in range(2024, 2031) for m in (3, 10) for k in (-1, 0, 1)]
MONTH_ENDS = [
    dt.date(y, m, calendar.monthrange(y, m)[1]) - dt.timedelta(days=k)
    for y in range(2024, 2031)
    for m in range(1, 13)
    for k in (0, 1, 2)
]
days = st.one_of(
    st.sampled_from(DST_DAYS), st.sampled_from(MONTH_ENDS), st.dates(dt.date(2024, 1, 1), dt.date(2030, 12, 31))
)
opening = st.times(dt.time(8, 0), dt.time(19, 59, 59, 999999))
kinds = st.sampled_from(KINDS)


def instant(date: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(date, time, tzinfo=PARIS).astimezone(dt.UTC)


@st.composite
def closures_near(draw: st.DrawFn, date: dt.date) -> frozenset[dt.date]:
    """Closure days in the 40 days after `date` (never `date` itself: a closed day sells nothing)."""
    offsets = draw(st.frozensets(st.integers(1, 40), max_size=12))
    return frozenset(date + dt.timedelta(days=k) for k in offsets)


def late(now: dt.datetime) -> bool:
    ref = slot_at(now, RULES)
    return ends_at((ref.date, ref.slot), RULES) - now < dt.timedelta(minutes=LATE)


def open_days(first: dt.date, last: dt.date, closures: frozenset[dt.date]) -> int:
    return sum(1 for k in range((last - first).days + 1) if first + dt.timedelta(days=k) not in closures)


@settings(max_examples=400)
@given(kinds, days, opening, st.data())
def test_a_pass_bought_in_opening_hours_opens_at_once(
    kind: PlanKind, date: dt.date, time: dt.time, data: st.DataObject
) -> None:
    now = instant(date, time)
    closures = data.draw(closures_near(slot_at(now, RULES).date))
    span = span_of(kind, now, RULES, closures, LATE)
    ref = slot_at(now, RULES)
    assert span.covers(ref.date, ref.slot)
    assert span.first_date == ref.date and span.first_slots[0] == ref.slot  # nothing before it is sold


@settings(max_examples=400)
@given(st.sampled_from((PlanKind.PASS_HALFDAY, PlanKind.PASS_DAY)), days, opening, st.data())
def test_half_day_and_day_passes_cover_their_half_days_on_open_days_plus_the_rest_given_when_late(
    kind: PlanKind, date: dt.date, time: dt.time, data: st.DataObject
) -> None:
    now = instant(date, time)
    closures = data.draw(closures_near(slot_at(now, RULES).date))
    span = span_of(kind, now, RULES, closures, LATE)
    paid = 1 if kind == PlanKind.PASS_HALFDAY else 2
    covered = span.half_days(closures)
    assert len(covered) == paid + late(now)
    assert not any(d in closures for d, _slot in covered)
    # Consecutive open half-days: nothing skipped but closed days.
    for (d1, s1), (d2, s2) in itertools.pairwise(covered):
        between = [d1 + dt.timedelta(days=k) for k in range(1, (d2 - d1).days)]
        assert all(d in closures for d in between)
        assert (d1, s1) < (d2, s2) if d1 != d2 else (s1, s2) == (Slot.MORNING, Slot.AFTERNOON)


@settings(max_examples=400)
@given(st.sampled_from((PlanKind.PASS_WEEK, PlanKind.PASS_MONTH)), days, opening, st.data())
def test_week_and_month_passes_give_back_every_closed_day(
    kind: PlanKind, date: dt.date, time: dt.time, data: st.DataObject
) -> None:
    now = instant(date, time)
    closures = data.draw(closures_near(slot_at(now, RULES).date))
    span = span_of(kind, now, RULES, closures, LATE)
    # Counted from the first half-day paid for as if no day were closed (a closed one is given back like the rest).
    (first_paid, _slot), _gift = start_of(now, RULES, (), LATE)
    nominal = first_paid + dt.timedelta(days=6) if kind == PlanKind.PASS_WEEK else month_end(first_paid)
    assert open_days(first_paid, span.last_date, closures) == (nominal - first_paid).days + 1
    assert span.last_date not in closures and span.last_slots == SLOTS


@given(days, opening)
def test_a_week_runs_seven_calendar_days_with_the_day_of_purchase(date: dt.date, time: dt.time) -> None:
    now = instant(date, time)
    span = span_of(PlanKind.PASS_WEEK, now, RULES, (), LATE)
    first_paid = start_of(now, RULES, (), LATE)[0][0]
    assert span.last_date == first_paid + dt.timedelta(days=6)
    assert span.last_date.weekday() == (first_paid.weekday() + 6) % 7  # bought on a Wednesday: to the Tuesday


@given(st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
def test_a_month_ends_the_day_before_the_same_day_next_month_or_at_the_end_of_next_month(first: dt.date) -> None:
    last = month_end(first)
    following = last + DAY
    next_month = (first.month % 12) + 1
    days_in_next = calendar.monthrange(first.year + (first.month == 12), next_month)[1]
    if first.day <= days_in_next:
        assert (following.day, following.month) == (first.day, next_month)
    else:
        assert (last.day, last.month) == (days_in_next, next_month)
    assert 28 <= (last - first).days + 1 <= 31


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28)),
        (dt.date(2028, 1, 31), dt.date(2028, 2, 29)),  # leap year
        (dt.date(2028, 1, 29), dt.date(2028, 2, 28)),
        (dt.date(2026, 1, 29), dt.date(2026, 2, 28)),
        (dt.date(2026, 3, 31), dt.date(2026, 4, 30)),
        (dt.date(2026, 12, 15), dt.date(2027, 1, 14)),
        (dt.date(2026, 2, 28), dt.date(2026, 3, 27)),
    ],
)
def test_month_ends(first: dt.date, last: dt.date) -> None:
    assert month_end(first) == last


@settings(max_examples=300)
@given(kinds, days, opening, st.integers(1, 600), st.data())
def test_buying_later_never_ends_sooner(
    kind: PlanKind, date: dt.date, time: dt.time, minutes: int, data: st.DataObject
) -> None:
    now = instant(date, time)
    closures = data.draw(closures_near(slot_at(now, RULES).date))
    later = now + dt.timedelta(minutes=minutes)
    a, b = span_of(kind, now, RULES, closures, LATE), span_of(kind, later, RULES, closures, LATE)
    assert (a.last_date, SLOTS.index(a.last_slots[-1])) <= (b.last_date, SLOTS.index(b.last_slots[-1]))


@settings(max_examples=200)
@given(days, st.sampled_from((Slot.MORNING, Slot.AFTERNOON)), kinds)
def test_the_late_rule_turns_exactly_at_late_minutes_before_the_end(date: dt.date, slot: Slot, kind: PlanKind) -> None:
    end = ends_at((date, slot), RULES).astimezone(dt.UTC)
    on_time = end - dt.timedelta(minutes=LATE)
    just_late = on_time + dt.timedelta(microseconds=1)
    assert start_of(on_time, RULES, (), LATE) == ((date, slot), None)
    start, gift = start_of(just_late, RULES, (), LATE)
    assert gift == (date, slot) and start == (
        (date, Slot.AFTERNOON) if slot == Slot.MORNING else (date + DAY, Slot.MORNING)
    )
    last_instant = end - dt.timedelta(microseconds=1)
    assert span_of(kind, last_instant, RULES, (), LATE).covers(date, slot)


def test_the_rules_as_the_screen_says_them() -> None:
    wednesday = dt.date(2026, 12, 2)

    def at(hour: int, minute: int = 0, day: dt.date = wednesday) -> dt.datetime:
        return instant(day, dt.time(hour, minute))

    half = PlanKind.PASS_HALFDAY
    assert span_of(half, at(9), RULES) == PassSpan(half, wednesday, (Slot.MORNING,), wednesday, (Slot.MORNING,))
    # Bought at 12:30: the rest of the morning is given and the afternoon is the half-day paid for.
    assert span_of(half, at(12, 30), RULES).half_days() == [(wednesday, Slot.MORNING), (wednesday, Slot.AFTERNOON)]
    # A day pass bought in the afternoon: this afternoon and the next morning.
    assert span_of(PlanKind.PASS_DAY, at(14), RULES).half_days() == [
        (wednesday, Slot.AFTERNOON),
        (wednesday + DAY, Slot.MORNING),
    ]
    # A week pass bought on a Wednesday: to the next Tuesday evening.
    week = span_of(PlanKind.PASS_WEEK, at(10), RULES)
    assert (week.last_date, week.last_slots) == (dt.date(2026, 12, 8), SLOTS)
    assert not week.covers(dt.date(2026, 12, 9), Slot.MORNING)
    # At 19:30 a week starts the next morning, this evening given.
    late_week = span_of(PlanKind.PASS_WEEK, at(19, 30), RULES)
    assert (late_week.first_date, late_week.first_slots, late_week.last_date) == (
        wednesday,
        (Slot.AFTERNOON,),
        dt.date(2026, 12, 9),
    )
    # 31 January: to the end of February.
    month = span_of(PlanKind.PASS_MONTH, at(10, day=dt.date(2027, 1, 31)), RULES)
    assert month.last_date == dt.date(2027, 2, 28)


# ---------------------------------------------------------------------------------------------- the door agrees


def door_state(span: PassSpan) -> AccessState:
    entitlement = Entitlement(
        "p1",
        span.kind,
        span.first_date,
        span.last_date,
        slots=frozenset(span.first_slots),
        until_slots=frozenset(span.last_slots),
    )
    state = AccessState(rules=RULES)
    state.holders["p1"] = Holder("p1", "Zoé", True, [entitlement])
    state.credentials["pass:p1"] = CredentialInfo("pass:p1", "p1", True, member=False)
    return state


@settings(max_examples=300)
@given(kinds, days, opening, st.integers(0, 45 * 24 * 60), st.booleans())
def test_the_door_opens_exactly_in_the_half_days_the_pass_covers(
    kind: PlanKind, date: dt.date, time: dt.time, minutes_after: int, before: bool
) -> None:
    now = instant(date, time)
    span = span_of(kind, now, RULES, (), LATE)
    tap = now + dt.timedelta(minutes=minutes_after) * (-1 if before else 1)
    ref = slot_at(tap, RULES)
    decision = decide("pass:p1", tap, door_state(span))
    assert decision.granted == (ref.inside and span.covers(ref.date, ref.slot))
    if not ref.inside:
        return
    if (ref.date, SLOTS.index(ref.slot)) < (span.first_date, SLOTS.index(span.first_slots[0])):
        assert decision.reason == Reason.NOT_YET_VALID
    elif (ref.date, SLOTS.index(ref.slot)) > (span.last_date, SLOTS.index(span.last_slots[-1])):
        assert decision.reason == Reason.EXPIRED
