"""The access policy: every reason, re-entry for free, a new slot charges, no credit below zero."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from access.ledger import Entitlement, SlotRules
from access.policy import AccessState, CredentialInfo, Holder, Reason, apply, decide
from common.words import ClockPolicy, PlanKind, Slot

PARIS = ZoneInfo("Europe/Paris")


def paris(d: int, h: int, mi: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, d, h, mi, tzinfo=PARIS).astimezone(dt.UTC)


def state_with(*entitlements: Entitlement, active: bool = True, badge_active: bool = True) -> AccessState:
    state = AccessState(rules=SlotRules(PARIS))
    state.holders["m1"] = Holder("m1", "Alice", active, list(entitlements))
    state.credentials["A1B2C3D4"] = CredentialInfo("A1B2C3D4", "m1", badge_active)
    return state


def tap(state: AccessState, now: dt.datetime, *, clock_ok: bool = True) -> Reason:
    decision = decide("A1B2C3D4", now, state, clock_ok=clock_ok)
    apply(decision, state)
    return decision.reason


def test_unknown_badge() -> None:
    decision = decide("DEADBEEF", paris(23, 9), state_with(Entitlement("s", PlanKind.UNLIMITED)))
    assert (decision.granted, decision.reason) == (False, Reason.UNKNOWN)


def test_revoked_and_inactive() -> None:
    assert tap(state_with(Entitlement("s", PlanKind.UNLIMITED), badge_active=False), paris(23, 9)) == Reason.REVOKED
    assert tap(state_with(Entitlement("s", PlanKind.UNLIMITED), active=False), paris(23, 9)) == Reason.INACTIVE


def test_carnet_charges_once_per_slot() -> None:
    carnet = Entitlement("s", PlanKind.CARNET, balance=2)
    state = state_with(carnet)
    first = decide("A1B2C3D4", paris(23, 9), state)
    assert first.granted and first.charge is not None and first.charge.spent == 1
    assert first.balance == 1
    apply(first, state)
    again = decide("A1B2C3D4", paris(23, 12, 30), state)
    assert again.granted and again.charge is None  # re-entry in the same slot is free
    assert tap(state, paris(23, 14)) == Reason.GRANTED  # the afternoon charges again
    assert carnet.balance == 0
    assert tap(state, paris(23, 15)) == Reason.GRANTED  # still the afternoon: free
    no_credit = decide("A1B2C3D4", paris(24, 9), state)
    assert (no_credit.granted, no_credit.reason) == (False, Reason.NO_CREDIT)
    assert no_credit.first_name == "Alice"  # the screen says whose carnet is used up


def test_overdraft_allowed_goes_below_zero() -> None:
    carnet = Entitlement("s", PlanKind.CARNET, balance=0, allow_overdraft=True)
    state = state_with(carnet)
    assert tap(state, paris(23, 9)) == Reason.GRANTED
    assert carnet.balance == -1


def test_unlimited_is_counted_not_charged() -> None:
    state = state_with(Entitlement("s", PlanKind.UNLIMITED))
    decision = decide("A1B2C3D4", paris(23, 9), state)
    assert decision.granted and decision.charge is not None and decision.charge.spent == 0


def test_validity_dates() -> None:
    plan = Entitlement("s", PlanKind.UNLIMITED, valid_from=dt.date(2026, 11, 10), valid_until=dt.date(2026, 11, 20))
    assert tap(state_with(plan), paris(9, 9)) == Reason.NOT_YET_VALID
    assert tap(state_with(plan), paris(10, 9)) == Reason.GRANTED
    assert tap(state_with(plan), paris(20, 19, 59)) == Reason.GRANTED
    assert tap(state_with(plan), paris(21, 8)) == Reason.EXPIRED


def test_outside_hours() -> None:
    assert tap(state_with(Entitlement("s", PlanKind.UNLIMITED)), paris(23, 7, 59)) == Reason.OUTSIDE_HOURS
    assert tap(state_with(Entitlement("s", PlanKind.UNLIMITED)), paris(23, 20)) == Reason.OUTSIDE_HOURS
    late = Entitlement("s", PlanKind.UNLIMITED, hours_start=dt.time(7), hours_end=dt.time(22))
    assert tap(state_with(late), paris(23, 21)) == Reason.GRANTED
    afternoons = Entitlement("s", PlanKind.UNLIMITED, hours_start=dt.time(13), hours_end=dt.time(20))
    assert tap(state_with(afternoons), paris(23, 12, 59)) == Reason.OUTSIDE_HOURS
    # A plan "00:00-23:59" is open all day, its last minute too.
    always = Entitlement("s", PlanKind.UNLIMITED, hours_start=dt.time(0), hours_end=dt.time(23, 59))
    assert tap(state_with(always), paris(23, 23, 59)) == Reason.GRANTED
    assert tap(state_with(late), paris(23, 22)) == Reason.OUTSIDE_HOURS


def test_passes_by_slot() -> None:
    day = dt.date(2026, 11, 23)
    morning = Entitlement("p", PlanKind.PASS_HALFDAY, day, day, slots=frozenset({Slot.MORNING}))
    afternoon = Entitlement("p", PlanKind.PASS_HALFDAY, day, day, slots=frozenset({Slot.AFTERNOON}))
    assert tap(state_with(morning), paris(23, 9)) == Reason.GRANTED
    assert tap(state_with(morning), paris(23, 14)) == Reason.EXPIRED
    assert tap(state_with(afternoon), paris(23, 9)) == Reason.NOT_YET_VALID
    assert tap(state_with(afternoon), paris(22, 14)) == Reason.NOT_YET_VALID
    assert tap(state_with(afternoon), paris(24, 14)) == Reason.EXPIRED


def test_best_refusal_and_best_right() -> None:
    empty = Entitlement("c", PlanKind.CARNET, balance=0)
    old = Entitlement("u", PlanKind.UNLIMITED, valid_until=dt.date(2026, 1, 1))
    assert tap(state_with(empty, old), paris(23, 9)) == Reason.NO_CREDIT
    carnet = Entitlement("c", PlanKind.CARNET, balance=5)
    unlimited = Entitlement("u", PlanKind.UNLIMITED)
    state = state_with(carnet, unlimited)
    decision = decide("A1B2C3D4", paris(23, 9), state)
    assert decision.entitlement is unlimited  # never spend a carnet when an unlimited plan admits
    assert tap(state_with(), paris(23, 9)) == Reason.NO_PLAN


@pytest.mark.parametrize(
    ("policy", "plan", "expected"),
    [
        (ClockPolicy.MEMBERS, Entitlement("s", PlanKind.UNLIMITED), Reason.GRANTED),
        (
            ClockPolicy.MEMBERS,
            Entitlement("s", PlanKind.UNLIMITED, valid_until=dt.date(2027, 1, 1)),
            Reason.CLOCK_UNSURE,
        ),
        (ClockPolicy.MEMBERS, Entitlement("p", PlanKind.PASS_DAY), Reason.CLOCK_UNSURE),
        (
            ClockPolicy.EVERYONE,
            Entitlement("p", PlanKind.PASS_DAY, dt.date(2026, 11, 23), dt.date(2026, 11, 23)),
            Reason.GRANTED,
        ),
        (ClockPolicy.NOBODY, Entitlement("s", PlanKind.UNLIMITED), Reason.CLOCK_UNSURE),
    ],
)
def test_clock_unsure_policy(policy: ClockPolicy, plan: Entitlement, expected: Reason) -> None:
    state = state_with(plan)
    state.clock_policy = policy
    # 03:00 local: a wrong clock; members without an end date still get in under "members".
    assert tap(state, paris(23, 9) if policy == "everyone" else paris(23, 3), clock_ok=False) == expected


taps = st.lists(
    st.datetimes(min_value=dt.datetime(2026, 3, 27), max_value=dt.datetime(2026, 4, 3), timezones=st.just(dt.UTC)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200)
@given(taps, st.integers(0, 8), st.booleans())
def test_policy_invariants(moments: list[dt.datetime], start: int, overdraft: bool) -> None:
    """Over any sequence of taps (across the spring DST change): at most one use per slot, balance consistent."""
    carnet = Entitlement("c", PlanKind.CARNET, balance=start, allow_overdraft=overdraft)
    state = state_with(carnet)
    charged = 0
    for now in sorted(moments):
        decision = decide("A1B2C3D4", now, state)
        if decision.granted and decision.charge is not None:
            charged += decision.charge.spent
        apply(decision, state)
        if not decision.granted:
            assert decision.reason in (Reason.NO_CREDIT, Reason.OUTSIDE_HOURS)
    assert len(state.uses.seen) == charged
    assert carnet.balance == start - charged
    if not overdraft:
        assert carnet.balance >= 0
