"""The half-day slots: DST-correct, exact at the boundaries, one charge per holder and slot."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from access.ledger import Entitlement, SlotRules, Uses, WeeklyHours, apply_charge, charge_for, slot_at
from access.passes import ends_at
from common.words import PlanKind, Slot

PARIS = ZoneInfo("Europe/Paris")
RULES = SlotRules(PARIS)

# Europe/Paris changes its clocks on the last Sunday of March and of October.
DST_DAYS = [dt.date(2026, 3, 29), dt.date(2026, 10, 25), dt.date(2027, 3, 28), dt.date(2027, 10, 31)]


def paris(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, us, tzinfo=PARIS).astimezone(dt.UTC)


instants = st.datetimes(
    min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2030, 12, 31), timezones=st.just(dt.UTC)
)


def test_noon_boundary_is_exact() -> None:
    assert slot_at(paris(2026, 11, 23, 12, 59, 59, 999999), RULES).slot == Slot.MORNING
    assert slot_at(paris(2026, 11, 23, 13), RULES).slot == Slot.AFTERNOON


def test_slot_hours_are_half_open() -> None:
    assert not slot_at(paris(2026, 11, 23, 7, 59, 59), RULES).inside
    assert slot_at(paris(2026, 11, 23, 8), RULES).inside
    assert slot_at(paris(2026, 11, 23, 19, 59, 59), RULES).inside
    assert not slot_at(paris(2026, 11, 23, 20), RULES).inside


@pytest.mark.parametrize("day", DST_DAYS)
def test_dst_days_keep_local_slots(day: dt.date) -> None:
    """On a clock-change day, 08:00 and 13:00 are still the local boundaries, whatever the UTC offset."""
    for hour, slot in ((8, Slot.MORNING), (12, Slot.MORNING), (13, Slot.AFTERNOON), (19, Slot.AFTERNOON)):
        ref = slot_at(paris(day.year, day.month, day.day, hour), RULES)
        assert (ref.date, ref.slot, ref.inside) == (day, slot, True)
    # 24 hours before local 13:00 is 12:00 local in spring (the clocks went forward) and 14:00 in autumn:
    # slots follow the local wall clock, not UTC arithmetic.
    before = slot_at(paris(day.year, day.month, day.day, 13) - dt.timedelta(days=1), RULES)
    assert before.local_time == (dt.time(12) if day.month == 3 else dt.time(14))
    assert before.slot == (Slot.MORNING if day.month == 3 else Slot.AFTERNOON)


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError):
        slot_at(dt.datetime(2026, 11, 23, 9), RULES)


@given(instants)
def test_slot_matches_local_wall_time(now: dt.datetime) -> None:
    ref = slot_at(now, RULES)
    local = now.astimezone(PARIS)
    assert ref.date == local.date()
    assert ref.slot == (Slot.MORNING if local.hour < 13 else Slot.AFTERNOON)
    assert ref.inside == (8 <= local.hour < 20)


@given(st.sampled_from(DST_DAYS), st.integers(0, 24 * 60 * 60 - 1))
def test_dst_day_every_second_has_one_slot(day: dt.date, second: int) -> None:
    """Walk the clock-change days in UTC: local dates and slots only move forward, never twice per slot."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=PARIS).astimezone(dt.UTC)
    now = start + dt.timedelta(seconds=second)
    later = now + dt.timedelta(seconds=1)
    a, b = slot_at(now, RULES), slot_at(later, RULES)
    assert (a.date, a.slot) <= (b.date, b.slot) or (a.date < b.date)


@given(st.lists(instants, min_size=1, max_size=40), st.integers(0, 5), st.booleans())
def test_never_two_uses_and_never_below_zero(moments: list[dt.datetime], start: int, overdraft: bool) -> None:
    uses = Uses()
    carnet = Entitlement("sub", PlanKind.CARNET, balance=start, allow_overdraft=overdraft)
    charged: list[tuple[dt.date, str]] = []
    for now in sorted(moments):
        ref = slot_at(now, RULES)
        charge = charge_for("m1", carnet, ref, uses)
        if charge is None:
            assert (ref.date, ref.slot) in charged  # free only when the slot was already charged
            continue
        if not overdraft and (carnet.balance or 0) <= 0:
            continue  # the policy refuses before charging; see test_policy
        apply_charge("m1", carnet, charge, uses)
        charged.append((ref.date, ref.slot))
    assert len(charged) == len(set(charged))
    assert carnet.balance == start - len(charged)
    if not overdraft:
        assert carnet.balance >= 0


def test_apply_charge_twice_is_refused() -> None:
    uses = Uses()
    carnet = Entitlement("sub", PlanKind.CARNET, balance=3)
    ref = slot_at(paris(2026, 11, 23, 9), RULES)
    charge = charge_for("m1", carnet, ref, uses)
    assert charge is not None
    apply_charge("m1", carnet, charge, uses)
    with pytest.raises(ValueError):
        apply_charge("m1", carnet, charge, uses)
    assert carnet.balance == 2


def test_an_end_at_2359_takes_in_the_last_minute_of_the_day() -> None:
    """A space open all day says so with 23:59 (a time of day has no 24:00): its last minute is open too, for the
    slots, the counter's hours and a late walk-in's pass, and the next day's first moment belongs to the next day."""
    all_day = SlotRules(PARIS, dt.time(0), dt.time(12), dt.time(23, 59))
    last = slot_at(paris(2026, 11, 30, 23, 59, 59, 999999), all_day)
    assert (last.date, last.slot, last.inside) == (dt.date(2026, 11, 30), Slot.AFTERNOON, True)
    first = slot_at(paris(2026, 12, 1, 0), all_day)
    assert (first.date, first.slot, first.inside) == (dt.date(2026, 12, 1), Slot.MORNING, True)
    # An earlier end stays excluded: 20:00 closes at 20:00 sharp.
    assert not slot_at(paris(2026, 11, 30, 20), RULES).inside
    counter = WeeklyHours.parse(["mon 00:00-23:59", "tue 09:00-18:00"])
    assert counter.contains(dt.datetime(2026, 11, 30, 23, 59, 30))  # a Monday
    assert not counter.contains(dt.datetime(2026, 12, 1, 18, 0))
    assert ends_at((dt.date(2026, 11, 30), Slot.AFTERNOON), all_day) == dt.datetime(2026, 12, 1, tzinfo=PARIS)
    assert ends_at((dt.date(2026, 11, 30), Slot.AFTERNOON), RULES) == dt.datetime(2026, 11, 30, 20, tzinfo=PARIS)
