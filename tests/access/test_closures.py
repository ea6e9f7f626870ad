"""Closure days: the door refuses members and passes on a day the site is closed, staff still open and are not
charged, and a time-limited right gets back the open days closures took from it (`extended_until`)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from access.closures import MAX_EXTENSION_DAYS, extended_until
from access.ledger import Entitlement, SlotRules
from access.policy import AccessState, CredentialInfo, Holder, Reason, apply, decide
from common.words import ClockPolicy, PlanKind

PARIS = ZoneInfo("Europe/Paris")
CHRISTMAS = dt.date(2026, 12, 25)  # a Friday
DAY = dt.timedelta(days=1)


def paris(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS).astimezone(dt.UTC)


def site(*closed: dt.date) -> AccessState:
    """A site closed on `closed`: Alice on a carnet of 3, Bob on a month, Chloé on staff with no plan, a day pass."""
    state = AccessState(rules=SlotRules(PARIS), closures=frozenset(closed))
    state.holders["alice"] = Holder("alice", "Alice", True, [Entitlement("s-alice", PlanKind.CARNET, balance=3)])
    month = Entitlement("s-bob", PlanKind.UNLIMITED, valid_from=dt.date(2026, 12, 1), valid_until=dt.date(2026, 12, 31))
    state.holders["bob"] = Holder("bob", "Bob", True, [month])
    state.holders["chloe"] = Holder("chloe", "Chloé", True, [], staff=True)
    carnet = Entitlement("s-dan", PlanKind.CARNET, balance=2)
    state.holders["dan"] = Holder("dan", "Dan", True, [carnet], staff=True)
    day_pass = Entitlement("p1", PlanKind.PASS_DAY, CHRISTMAS, CHRISTMAS)
    state.holders["p1"] = Holder("p1", "Eve", True, [day_pass])
    for uid, holder in (("A1", "alice"), ("B2", "bob"), ("C3", "chloe"), ("D4", "dan"), ("pass:p1", "p1")):
        state.credentials[uid] = CredentialInfo(uid, holder, member=not uid.startswith("pass:"))
    return state


@pytest.mark.parametrize("uid", ["A1", "B2", "pass:p1"])
def test_a_closed_day_refuses_members_and_passes_all_day(uid: str) -> None:
    state = site(CHRISTMAS)
    for hour, minute in ((0, 0), (9, 0), (12, 59), (13, 0), (19, 59), (23, 59)):
        decision = decide(uid, paris(CHRISTMAS, hour, minute), state)
        assert (decision.granted, decision.reason, decision.charge) == (False, Reason.CLOSED, None)
    assert not state.uses.seen


def test_the_closed_day_ends_at_midnight_local_time() -> None:
    state = site(CHRISTMAS)
    assert decide("A1", paris(CHRISTMAS - DAY, 23, 59), state).reason == Reason.OUTSIDE_HOURS  # open day, late
    assert decide("A1", paris(CHRISTMAS - DAY, 19, 0), state).reason == Reason.GRANTED
    assert decide("A1", paris(CHRISTMAS, 0, 0), state).reason == Reason.CLOSED
    assert decide("A1", paris(CHRISTMAS + DAY, 8, 0), state).reason == Reason.GRANTED


def test_staff_open_on_a_closed_day_and_nothing_is_charged() -> None:
    state = site(CHRISTMAS)
    for uid, holder in (("C3", "chloe"), ("D4", "dan")):
        for hour in (7, 10, 15, 22):
            decision = decide(uid, paris(CHRISTMAS, hour), state)
            assert (decision.granted, decision.reason, decision.holder_id) == (True, Reason.STAFF, holder)
            assert decision.charge is None and decision.entitlement is None
            assert apply(decision, state) is False
    assert not state.uses.seen
    assert state.holders["dan"].entitlements[0].balance == 2


def test_staff_follow_their_plan_on_open_days() -> None:
    state = site(CHRISTMAS)
    open_day = CHRISTMAS + DAY
    assert decide("C3", paris(open_day, 10), state).reason == Reason.NO_PLAN
    decision = decide("D4", paris(open_day, 10), state)
    assert (decision.reason, decision.balance) == (Reason.GRANTED, 1)


def test_a_revoked_staff_badge_or_inactive_staff_stays_out_on_a_closed_day() -> None:
    state = site(CHRISTMAS)
    state.credentials["C3"] = CredentialInfo("C3", "chloe", active=False)
    state.holders["dan"].active = False
    assert decide("C3", paris(CHRISTMAS, 10), state).reason == Reason.REVOKED
    assert decide("D4", paris(CHRISTMAS, 10), state).reason == Reason.INACTIVE
    assert decide("FF", paris(CHRISTMAS, 10), state).reason == Reason.UNKNOWN


def test_with_an_unsure_clock_the_date_is_unknown_so_closures_do_not_decide() -> None:
    state = site(CHRISTMAS)
    # The open-ended carnet decides as on any day; the dated month and the pass need a trusted clock.
    assert decide("A1", paris(CHRISTMAS, 10), state, clock_ok=False).reason == Reason.GRANTED
    assert decide("B2", paris(CHRISTMAS, 10), state, clock_ok=False).reason == Reason.CLOCK_UNSURE
    assert decide("C3", paris(CHRISTMAS, 10), state, clock_ok=False).reason == Reason.NO_PLAN
    state.clock_policy = ClockPolicy.NOBODY
    assert decide("C3", paris(CHRISTMAS, 10), state, clock_ok=False).reason == Reason.CLOCK_UNSURE


def test_a_weekday_plan_on_a_closed_weekday_says_closed_and_on_a_weekend_says_weekdays() -> None:
    weekdays = Entitlement("s-w", PlanKind.UNLIMITED, weekdays="12345")
    saturday = dt.date(2026, 12, 26)
    state = AccessState(rules=SlotRules(PARIS), closures=frozenset({CHRISTMAS, saturday}))
    state.holders["w"] = Holder("w", "Wanda", True, [weekdays])
    state.credentials["W1"] = CredentialInfo("W1", "w")
    assert decide("W1", paris(CHRISTMAS, 10), state).reason == Reason.CLOSED
    assert decide("W1", paris(saturday + DAY, 10), state).reason == Reason.OUTSIDE_WEEKDAYS
    assert decide("W1", paris(saturday + 2 * DAY, 10), state).reason == Reason.GRANTED


# extended_until: the open days a right covers


dates = st.dates(dt.date(2023, 1, 1), dt.date(2030, 12, 31))


def open_days(first: dt.date, last: dt.date, closures: frozenset[dt.date]) -> int:
    return sum(1 for i in range((last - first).days + 1) if first + i * DAY not in closures)


@st.composite
def rights_and_closures(draw: st.DrawFn) -> tuple[dt.date, dt.date, frozenset[dt.date]]:
    """A right of one day to two months and closures in and around it, often in runs (a fortnight in August)."""
    start = draw(dates)
    end = start + dt.timedelta(days=draw(st.integers(0, 62)))
    near = st.dates(start - dt.timedelta(days=10), end + dt.timedelta(days=40))
    days = set(draw(st.lists(near, max_size=20)))
    for first, length in draw(st.lists(st.tuples(near, st.integers(1, 21)), max_size=3)):
        days.update(first + i * DAY for i in range(length))
    return start, end, frozenset(days)


@given(rights_and_closures())
def test_a_right_never_ends_before_its_end_and_keeps_as_many_open_days_as_it_had_days(
    case: tuple[dt.date, dt.date, frozenset[dt.date]],
) -> None:
    start, end, closures = case
    extended = extended_until(start, end, closures)
    assert extended >= end
    span = (end - start).days + 1
    if extended < end + dt.timedelta(days=MAX_EXTENSION_DAYS):
        assert open_days(start, extended, closures) == span
    if extended > end:
        # The shortest such span: it ends on an open day, and a day earlier would be short of one.
        assert extended not in closures
        assert open_days(start, extended - DAY, closures) == span - 1


@st.composite
def months_with_closed_ends(draw: st.DrawFn) -> tuple[dt.date, dt.date, frozenset[dt.date]]:
    """A month's plan from the 1st to the month's last day (28th to 31st, leap Februaries too), with closures among
    the last days of the month and the first days of the next."""
    year, month = draw(st.integers(2023, 2032)), draw(st.integers(1, 12))
    start = dt.date(year, month, 1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - DAY
    edge = st.dates(end - dt.timedelta(days=4), end + dt.timedelta(days=4))
    return start, end, frozenset(draw(st.sets(edge, max_size=9)))


@given(months_with_closed_ends())
def test_a_month_with_closed_days_at_its_end_runs_into_the_next_month_by_as_many_open_days(
    case: tuple[dt.date, dt.date, frozenset[dt.date]],
) -> None:
    start, end, closures = case
    extended = extended_until(start, end, closures)
    owed = sum(1 for d in closures if start <= d <= end)
    assert open_days(start, extended, closures) == (end - start).days + 1
    # Only days after the month's end are added, and never more than the closed days plus those met on the way.
    assert extended - end <= dt.timedelta(days=owed + sum(1 for d in closures if d > end))
    assert (extended == end) == (owed == 0)


@given(rights_and_closures(), st.sets(dates, max_size=10))
def test_closures_outside_a_right_and_its_extension_change_nothing(
    case: tuple[dt.date, dt.date, frozenset[dt.date]], more: set[dt.date]
) -> None:
    start, end, closures = case
    extended = extended_until(start, end, closures)
    before = {d for d in more if d < start}
    assert extended_until(start, end, closures | before) == extended
    if not any(start <= d <= end for d in closures):
        assert extended == end


@given(rights_and_closures(), dates)
def test_one_more_closure_never_shortens_a_right(
    case: tuple[dt.date, dt.date, frozenset[dt.date]], day: dt.date
) -> None:
    start, end, closures = case
    assert extended_until(start, end, closures | {day}) >= extended_until(start, end, closures)


@pytest.mark.parametrize(
    ("start", "end", "closed", "expected"),
    [
        # A January month with New Year's Day closed runs into February.
        (dt.date(2027, 1, 1), dt.date(2027, 1, 31), [dt.date(2027, 1, 1)], dt.date(2027, 2, 1)),
        # A February month: the 28th of a common year, the 29th of a leap year, then into March.
        (dt.date(2027, 2, 1), dt.date(2027, 2, 28), [dt.date(2027, 2, 10)], dt.date(2027, 3, 1)),
        (dt.date(2028, 2, 1), dt.date(2028, 2, 28), [dt.date(2028, 2, 10)], dt.date(2028, 2, 29)),
        (dt.date(2028, 2, 1), dt.date(2028, 2, 29), [dt.date(2028, 2, 29)], dt.date(2028, 3, 1)),
        # A closure met while extending extends again: the 31st and 1st closed after a closed 15th.
        (
            dt.date(2026, 12, 1),
            dt.date(2026, 12, 30),
            [dt.date(2026, 12, 15), dt.date(2026, 12, 31), dt.date(2027, 1, 1)],
            dt.date(2027, 1, 2),
        ),
        # A week pass from a Wednesday with the Friday closed: the next Wednesday too.
        (dt.date(2026, 12, 2), dt.date(2026, 12, 8), [dt.date(2026, 12, 4)], dt.date(2026, 12, 9)),
        # Across the end of summer time (the last Sunday of October): dates, not hours, are counted.
        (dt.date(2026, 10, 20), dt.date(2026, 10, 26), [dt.date(2026, 10, 25)], dt.date(2026, 10, 27)),
        # A one-day right on a closed day moves to the next open day; a closed span before it changes nothing.
        (CHRISTMAS, CHRISTMAS, [CHRISTMAS, CHRISTMAS + DAY], CHRISTMAS + 2 * DAY),
        (CHRISTMAS, CHRISTMAS, [CHRISTMAS - DAY], CHRISTMAS),
    ],
)
def test_extended_until_over_month_ends_february_and_runs(
    start: dt.date, end: dt.date, closed: list[dt.date], expected: dt.date
) -> None:
    assert extended_until(start, end, frozenset(closed)) == expected


def test_a_calendar_closed_for_ever_stops_the_extension() -> None:
    start, end = dt.date(2026, 12, 1), dt.date(2026, 12, 31)
    everything = frozenset(start + i * DAY for i in range(400))
    assert extended_until(start, end, everything) == end + dt.timedelta(days=MAX_EXTENSION_DAYS)
