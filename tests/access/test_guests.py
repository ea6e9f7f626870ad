"""Members' guests: what a guest's visit is charged to (pure rules), and the door's decision on a guest's code
from the state the door loads (the member's carnet shared, the code good on its day only)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from access.admin import (
    AdminError,
    MemberSpec,
    PlanSpec,
    add_member,
    add_plan,
    deactivate_member,
    set_guest_half_days,
)
from access.config import Config
from access.db import Database
from access.guests import (
    GUESTS_PER_DAY,
    GuestCharge,
    GuestRefused,
    GuestRights,
    charge_guest,
    check_guest_name,
    month_of,
)
from access.models import Guest, Plan, Use
from access.policy import Reason, apply, decide
from access.snapshot import state_data, state_from_data
from access.store import GUEST_CREDENTIAL_PREFIX, Stamp, load_state, record_entry
from kiosk.account import guest_rights, register_guest

# Monday 23 November 2026, 09:30 in Paris.
MORNING = dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)
AFTERNOON = dt.datetime(2026, 11, 23, 13, 30, tzinfo=dt.UTC)
NEXT_MORNING = MORNING + dt.timedelta(days=1)
TODAY = dt.date(2026, 11, 23)
BADGE = "2B3C4D5E"


# ---------------------------------------------------------------------------------------------- pure rules


def test_included_half_days_come_first_then_the_carnet() -> None:
    rights = GuestRights("sub-u", 2, 1, "sub-c", 5)
    assert (charge_guest(rights).charge, charge_guest(rights).subscription_id) == (GuestCharge.INCLUDED, "sub-u")
    used_up = GuestRights("sub-u", 2, 2, "sub-c", 5)
    assert (charge_guest(used_up).charge, charge_guest(used_up).subscription_id) == (GuestCharge.CARNET, "sub-c")


@pytest.mark.parametrize(
    ("rights", "reason"),
    [
        (GuestRights(carnet_subscription="sub-c", carnet_balance=0), "carnet_empty"),
        (GuestRights("sub-u", 2, 2), "included_used"),
        (GuestRights(), "no_right"),
        (GuestRights("sub-u", 2, 0, guests_today=GUESTS_PER_DAY), "too_many"),
    ],
)
def test_a_guest_without_a_right_to_charge_is_refused(rights: GuestRights, reason: str) -> None:
    with pytest.raises(GuestRefused) as refused:
        charge_guest(rights)
    assert refused.value.reason == reason


def test_an_overdraft_carnet_takes_a_guest_at_zero() -> None:
    rights = GuestRights(carnet_subscription="sub-c", carnet_balance=0, carnet_overdraft=True)
    assert charge_guest(rights).charge == GuestCharge.CARNET


@pytest.mark.parametrize(
    ("day", "first", "last"),
    [
        (dt.date(2026, 2, 14), dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2028, 2, 29), dt.date(2028, 2, 1), dt.date(2028, 2, 29)),
        (dt.date(2026, 12, 31), dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
        (dt.date(2026, 1, 31), dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
    ],
)
def test_included_half_days_count_per_calendar_month(day: dt.date, first: dt.date, last: dt.date) -> None:
    assert month_of(day) == (first, last)


def test_a_guest_name_is_cleaned_and_checked() -> None:
    assert check_guest_name("  Jeanne   Dupont ") == "Jeanne Dupont"
    for bad, reason in (("   ", "name_missing"), ("x" * 81, "name_long")):
        with pytest.raises(GuestRefused) as refused:
            check_guest_name(bad)
        assert refused.value.reason == reason


# ---------------------------------------------------------------------------------------------- the plan setting


def test_a_plans_guest_half_days_are_set_when_added_and_changed(db: Database) -> None:
    with db.write() as s:
        add_plan(s, PlanSpec("Mois", "unlimited", guest_half_days=4))
        add_plan(s, PlanSpec("Carnet 10", "carnet", 10))
    with db.write() as s:
        set_guest_half_days(s, "carnet 10", 2)
        set_guest_half_days(s, "Mois", 0)
    with db.read() as s:
        assert {p.name: p.guest_half_days for p in s.scalars(select(Plan))} == {"Mois": None, "Carnet 10": 2}
    with pytest.raises(AdminError, match="invités"), db.write() as s:
        add_plan(s, PlanSpec("Trop", "unlimited", guest_half_days=63))


# ---------------------------------------------------------------------------------------------- at the door


def _member(db: Database, device: str, plan: PlanSpec) -> str:
    with db.write() as s:
        add_plan(s, plan)
        return add_member(s, MemberSpec("Bruno", plan=plan.name, badge=BADGE), device).id


def _enter(config: Config, db: Database, credential: str, at: dt.datetime, seq: int) -> Reason:
    """Decide on `credential` from the state the door loads, record it as the door does; the reason."""
    site = config.site
    with db.write() as s:
        state = load_state(s, site.rules, site.id, site.device, at.astimezone(site.tz).date())
        decision = decide(credential, at, state)
        if decision.granted:
            record_entry(s, site.id, site.device, decision, Stamp(at, seq, "boot", True))
            apply(decision, state)
    return decision.reason


def test_a_carnet_guest_spends_the_members_carnet_on_the_door_and_in_the_ledger(config: Config, db: Database) -> None:
    site = config.site
    member = _member(db, site.device, PlanSpec("Carnet 3", "carnet", 3))
    with db.write() as s:
        guest = register_guest(s, member, "Jeanne", TODAY, site.device, MORNING)
        assert (guest.charge, len(guest.code)) == (GuestCharge.CARNET, 6)
        key = GUEST_CREDENTIAL_PREFIX + guest.id
    with db.read() as s:
        state = load_state(s, site.rules, site.id, site.device, TODAY)
    # The guest holds the member's own carnet: what the guest spends, the member's next tap sees.
    member_carnet = state.holders[member].entitlements[0]
    assert state.holders[guest.id].entitlements[0] is member_carnet
    decision = decide(key, MORNING, state)
    assert (decision.granted, decision.first_name, decision.balance) == (True, "Jeanne", 2)
    apply(decision, state)
    assert member_carnet.balance == 2
    assert decide(BADGE, MORNING, state).balance == 1
    assert decide(key, MORNING, state).charge is None  # re-entry in the same half-day is free
    # The next day the code is refused, whatever the carnet holds.
    assert decide(key, NEXT_MORNING, state).reason == Reason.EXPIRED
    assert decide(key, MORNING - dt.timedelta(days=1), state).reason == Reason.NOT_YET_VALID

    # Recorded: the guest's use is charged to the carnet, so a fresh load sees the balance the door had.
    assert _enter(config, db, key, MORNING, 1) == Reason.GRANTED
    with db.read() as s:
        use = s.scalars(select(Use)).one()
        assert (use.holder_id, use.subscription_id, use.spent) == (guest.id, guest.subscription_id, 1)
        fresh = load_state(s, site.rules, site.id, site.device, TODAY)
    assert fresh.holders[member].entitlements[0].balance == 2
    # A door that loads the next day's state no longer knows the code at all.
    assert _enter(config, db, key, NEXT_MORNING, 2) == Reason.UNKNOWN


def test_the_door_snapshot_keeps_a_guests_day(config: Config, db: Database) -> None:
    site = config.site
    member = _member(db, site.device, PlanSpec("Carnet 3", "carnet", 3))
    with db.write() as s:
        key = GUEST_CREDENTIAL_PREFIX + register_guest(s, member, "Jeanne", TODAY, site.device, MORNING).id
    with db.read() as s:
        state = load_state(s, site.rules, site.id, site.device, TODAY)
    copy = state_from_data(state_data(state), site.rules, state.clock_policy)
    assert decide(key, MORNING, copy).granted
    assert decide(key, NEXT_MORNING, copy).reason == Reason.EXPIRED


def test_included_guest_half_days_are_counted_per_month_then_the_member_is_told(config: Config, db: Database) -> None:
    site = config.site
    member = _member(db, site.device, PlanSpec("Mois", "unlimited", guest_half_days=2))
    with db.write() as s:
        first = register_guest(s, member, "Jeanne", TODAY, site.device, MORNING)
        assert first.charge == GuestCharge.INCLUDED
        key = GUEST_CREDENTIAL_PREFIX + first.id
    assert _enter(config, db, key, MORNING, 1) == Reason.GRANTED
    assert _enter(config, db, key, AFTERNOON, 2) == Reason.GRANTED
    with db.read() as s:
        uses = s.scalars(select(Use).order_by(Use.id)).all()
        assert [(u.subscription_id, u.spent) for u in uses] == [(first.subscription_id, 0)] * 2
        rights = guest_rights(s, member, TODAY, site.device)
    assert (rights.included_taken, rights.included_per_month) == (2, 2)
    with pytest.raises(GuestRefused) as refused, db.write() as s:
        register_guest(s, member, "Paul", TODAY, site.device, MORNING)
    assert refused.value.reason == "included_used"
    # A new month gives the plan's guest half-days again.
    with db.write() as s:
        again = register_guest(s, member, "Paul", dt.date(2026, 12, 1), site.device, MORNING)
    assert again.charge == GuestCharge.INCLUDED


def test_a_guest_waiting_to_come_in_holds_a_half_day_of_the_carnet(config: Config, db: Database) -> None:
    site = config.site
    member = _member(db, site.device, PlanSpec("Carnet 1", "carnet", 1))
    with db.write() as s:
        register_guest(s, member, "Jeanne", TODAY, site.device, MORNING)
    with pytest.raises(GuestRefused) as refused, db.write() as s:
        register_guest(s, member, "Paul", TODAY, site.device, MORNING)
    assert refused.value.reason == "carnet_empty"
    with db.read() as s:
        assert len(s.scalars(select(Guest)).all()) == 1


def test_a_suspended_members_guest_stays_out(config: Config, db: Database) -> None:
    site = config.site
    member = _member(db, site.device, PlanSpec("Mois", "unlimited", guest_half_days=2))
    with db.write() as s:
        key = GUEST_CREDENTIAL_PREFIX + register_guest(s, member, "Jeanne", TODAY, site.device, MORNING).id
    with db.write() as s:
        deactivate_member(s, member)
    assert _enter(config, db, key, MORNING, 1) == Reason.INACTIVE


def test_an_included_guest_keeps_to_the_members_days(config: Config, db: Database) -> None:
    site = config.site
    member = _member(db, site.device, PlanSpec("Semaine", "unlimited", weekdays="1-5", guest_half_days=4))
    saturday = dt.date(2026, 11, 28)
    with pytest.raises(GuestRefused) as refused, db.write() as s:
        register_guest(s, member, "Jeanne", saturday, site.device, MORNING)
    assert refused.value.reason == "no_right"  # nothing the plan admits that day to charge a guest to
    with db.write() as s:
        key = GUEST_CREDENTIAL_PREFIX + register_guest(s, member, "Jeanne", TODAY, site.device, MORNING).id
    with db.read() as s:
        state = load_state(s, site.rules, site.id, site.device, TODAY)
    guest = state.holders[key.removeprefix(GUEST_CREDENTIAL_PREFIX)]
    assert [e.weekdays for e in guest.entitlements] == ["12345"]
    assert decide(key, MORNING, state).granted
