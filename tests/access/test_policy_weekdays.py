"""Plans valid on some weekdays only: the day is the site's local date, its boundaries are midnight, and a member
with another right that admits today still gets in."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from access.ledger import Entitlement, SlotRules
from access.policy import AccessState, CredentialInfo, Holder, Reason, apply, decide
from common.words import ClockPolicy, PlanKind

PARIS = ZoneInfo("Europe/Paris")
# Week 48 of 2026: Monday the 23rd to Sunday the 29th, then Monday the 30th.
MON, TUE, FRI, SAT, SUN, NEXT_MON = 23, 24, 27, 28, 29, 30
MIDNIGHT, JUST_BEFORE_MIDNIGHT = dt.time(0, 0), dt.time(23, 58)


def paris(day: int, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(dt.date(2026, 11, day), at, tzinfo=PARIS).astimezone(dt.UTC)


def state_with(*entitlements: Entitlement) -> AccessState:
    state = AccessState(rules=SlotRules(PARIS))
    state.holders["m1"] = Holder("m1", "Alice", True, list(entitlements))
    state.credentials["A1B2C3D4"] = CredentialInfo("A1B2C3D4", "m1")
    return state


def tap(state: AccessState, now: dt.datetime, *, clock_ok: bool = True) -> Reason:
    decision = decide("A1B2C3D4", now, state, clock_ok=clock_ok)
    apply(decision, state)
    return decision.reason


def whole_day(
    weekdays: str | None,
    kind: PlanKind = PlanKind.UNLIMITED,
    *,
    balance: int | None = None,
    valid_until: dt.date | None = None,
) -> Entitlement:
    """A plan on `weekdays` whose hours cover the whole day, so that only the days decide around midnight."""
    return Entitlement(
        kind.value,
        kind,
        valid_until=valid_until,
        hours_start=dt.time(0, 0),
        hours_end=dt.time(23, 59),
        weekdays=weekdays,
        balance=balance,
    )


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (FRI, JUST_BEFORE_MIDNIGHT, Reason.GRANTED),  # the last minute of the week's last day
        (SAT, MIDNIGHT, Reason.OUTSIDE_WEEKDAYS),  # the day after, from its first minute
        (SAT, dt.time(10), Reason.OUTSIDE_WEEKDAYS),
        (SUN, JUST_BEFORE_MIDNIGHT, Reason.OUTSIDE_WEEKDAYS),  # Sunday to its end
        (NEXT_MON, MIDNIGHT, Reason.GRANTED),  # Monday from its first minute
        (MON, dt.time(10), Reason.GRANTED),
    ],
)
def test_weekdays_only_from_midnight_to_midnight(day: int, at: dt.time, expected: Reason) -> None:
    assert tap(state_with(whole_day("12345")), paris(day, at)) == expected


def test_the_day_is_the_sites_local_date_not_utcs() -> None:
    weekdays = whole_day("12345")
    # Monday 00:30 in Paris is still Sunday in UTC; Saturday 00:30 in Paris is still Friday in UTC.
    monday_early, saturday_early = paris(NEXT_MON, dt.time(0, 30)), paris(SAT, dt.time(0, 30))
    assert monday_early.weekday() == 6 and saturday_early.weekday() == 4
    assert tap(state_with(weekdays), monday_early) == Reason.GRANTED
    assert tap(state_with(weekdays), saturday_early) == Reason.OUTSIDE_WEEKDAYS


@pytest.mark.parametrize(
    ("weekdays", "granted_on"),
    [
        ("6", {SAT}),  # Saturday only: not the day before, not the day after
        ("7", {SUN}),  # Sunday only: the week's end, not the Monday after
        ("1", {MON, NEXT_MON}),  # Monday only: not the Sunday before
        ("67", {SAT, SUN}),
        ("17", {MON, SUN, NEXT_MON}),  # a run across the week's end
        (None, {MON, TUE, FRI, SAT, SUN, NEXT_MON}),  # every day
    ],
)
def test_a_plan_admits_exactly_its_days(weekdays: str | None, granted_on: set[int]) -> None:
    for day in (MON, TUE, FRI, SAT, SUN, NEXT_MON):
        expected = Reason.GRANTED if day in granted_on else Reason.OUTSIDE_WEEKDAYS
        assert tap(state_with(whole_day(weekdays)), paris(day, dt.time(10))) == expected, (weekdays, day)


def test_a_plan_with_hours_and_weekdays_needs_both() -> None:
    office = Entitlement("s", PlanKind.UNLIMITED, hours_start=dt.time(9), hours_end=dt.time(17), weekdays="12345")
    assert tap(state_with(office), paris(MON, dt.time(9))) == Reason.GRANTED
    assert tap(state_with(office), paris(MON, dt.time(16, 59))) == Reason.GRANTED
    assert tap(state_with(office), paris(MON, dt.time(8, 59))) == Reason.OUTSIDE_HOURS
    assert tap(state_with(office), paris(MON, dt.time(17))) == Reason.OUTSIDE_HOURS
    # On a day it does not cover no hour would do: the day is what the member is told.
    assert tap(state_with(office), paris(SAT, dt.time(10))) == Reason.OUTSIDE_WEEKDAYS
    assert tap(state_with(office), paris(SAT, dt.time(19))) == Reason.OUTSIDE_WEEKDAYS


def test_a_member_with_two_plans_gets_in_on_the_one_valid_today() -> None:
    weekdays = whole_day("12345")
    weekends = whole_day("67", PlanKind.CARNET, balance=3)
    state = state_with(weekdays, weekends)
    saturday = decide("A1B2C3D4", paris(SAT, dt.time(10)), state)
    assert saturday.granted and saturday.entitlement is weekends and saturday.balance == 2
    apply(saturday, state)
    monday = decide("A1B2C3D4", paris(NEXT_MON, dt.time(10)), state)
    # The carnet is not spent on a Monday: the weekday plan admits.
    assert monday.granted and monday.entitlement is weekdays and monday.balance is None
    apply(monday, state)
    assert weekends.balance == 2


def test_the_most_useful_refusal_wins_across_plans() -> None:
    weekdays = whole_day("12345")
    used_up = whole_day(None, PlanKind.CARNET, balance=0)
    # A carnet to top up helps more on a Saturday than "not today".
    assert tap(state_with(weekdays, used_up), paris(SAT, dt.time(10))) == Reason.NO_CREDIT
    mornings = Entitlement("m", PlanKind.UNLIMITED, hours_start=dt.time(8), hours_end=dt.time(13))
    # Another plan that admits today at other hours: come back at another hour.
    assert tap(state_with(weekdays, mornings), paris(SAT, dt.time(15))) == Reason.OUTSIDE_HOURS
    ended = whole_day(None, valid_until=dt.date(2026, 11, 1))
    assert tap(state_with(weekdays, ended), paris(SAT, dt.time(10))) == Reason.OUTSIDE_WEEKDAYS
    # Dates come before days: an ended weekday plan says it has ended, whatever the day.
    assert tap(state_with(whole_day("12345", valid_until=dt.date(2026, 11, 1))), paris(MON, dt.time(10))) == (
        Reason.EXPIRED
    )


def test_an_unsure_clock_treats_days_like_hours() -> None:
    # Under the "members" policy an open-ended member plan decides without dates, days or hours: the day of a
    # clock that cannot be trusted is no better than its hour.
    state = state_with(whole_day("12345"))
    state.clock_policy = ClockPolicy.MEMBERS
    assert tap(state, paris(SAT, dt.time(3)), clock_ok=False) == Reason.GRANTED
    state = state_with(whole_day("12345"))
    assert tap(state, paris(SAT, dt.time(3)), clock_ok=True) == Reason.OUTSIDE_WEEKDAYS
