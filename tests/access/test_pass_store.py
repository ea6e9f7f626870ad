"""Passes over several days as the door loads them from the ledger and keeps them in its snapshot: each day of the
span, its first and last slots, its kind; a pass whose last day is past is no longer held; and a snapshot written
before passes spanned days still reads."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from access.config import Config
from access.db import Database
from access.ledger import SlotRules
from access.models import Closure
from access.policy import Reason, decide
from access.snapshot import state_data, state_from_data
from access.store import PASS_CREDENTIAL_PREFIX, Stamp, load_state
from common.words import ClockPolicy, PlanKind, Slot
from kiosk.sales import Payment, WalkIn, counter_at, record_sale

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
RULES = SlotRules(PARIS)
PRICES = {PlanKind.PASS_DAY: 1400, PlanKind.PASS_WEEK: 5000, PlanKind.PASS_MONTH: 15000}


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=PARIS).astimezone(dt.UTC)


def sell(db: Database, kind: PlanKind, at: dt.datetime) -> str:
    offer = counter_at(at, RULES, PRICES).offer(kind)
    assert offer is not None
    with db.write() as s:
        _sale, pass_ = record_sale(
            s,
            "door-1",
            offer,
            WalkIn("Inès Martin", "ines@example.org"),
            Payment("voucher", True),
            Stamp(at, 1, "b", True),
        )
        return pass_.id


def test_the_door_holds_a_week_pass_every_day_of_its_span(config: Config, db: Database) -> None:
    wednesday = dt.date(2026, 12, 2)
    pass_id = sell(db, PlanKind.PASS_WEEK, local(wednesday, 15))
    credential = PASS_CREDENTIAL_PREFIX + pass_id
    with db.read() as s:
        state = load_state(s, RULES, config.site.id, "door-1", dt.date(2026, 12, 5))
    (entitlement,) = state.holders[pass_id].entitlements
    assert (entitlement.kind, entitlement.valid_from, entitlement.valid_until) == (
        PlanKind.PASS_WEEK,
        wednesday,
        dt.date(2026, 12, 8),
    )
    assert (entitlement.slots, entitlement.until_slots) == (
        frozenset({Slot.AFTERNOON}),
        frozenset({Slot.MORNING, Slot.AFTERNOON}),
    )
    assert decide(credential, local(dt.date(2026, 12, 5), 9), state).granted
    assert decide(credential, local(dt.date(2026, 12, 8), 19, 59), state).granted
    assert decide(credential, local(dt.date(2026, 12, 9), 9), state).reason == Reason.EXPIRED
    assert decide(credential, local(wednesday, 9), state).reason == Reason.NOT_YET_VALID
    # Kept in the door's snapshot (its last copy of the rights when the ledger cannot be read), span and all.
    again = state_from_data(state_data(state), RULES, ClockPolicy.MEMBERS)
    assert again.holders[pass_id].entitlements == state.holders[pass_id].entitlements
    with db.read() as s:
        after = load_state(s, RULES, config.site.id, "door-1", dt.date(2026, 12, 9))
    assert pass_id not in after.holders and credential not in after.credentials


def test_a_day_pass_bought_in_the_afternoon_opens_the_next_morning_only(config: Config, db: Database) -> None:
    monday = dt.date(2026, 11, 30)
    pass_id = sell(db, PlanKind.PASS_DAY, local(monday, 14))
    credential = PASS_CREDENTIAL_PREFIX + pass_id
    with db.read() as s:
        state = load_state(s, RULES, config.site.id, "door-1", monday)
    assert state.holders[pass_id].entitlements[0].kind == PlanKind.PASS_DAY
    assert decide(credential, local(monday, 16), state).granted
    assert decide(credential, local(monday + dt.timedelta(days=1), 10), state).granted
    assert decide(credential, local(monday + dt.timedelta(days=1), 14), state).reason == Reason.EXPIRED


def test_a_snapshot_of_one_day_passes_still_reads(config: Config, db: Database) -> None:
    friday = dt.date(2026, 12, 4)
    pass_id = sell(db, PlanKind.PASS_DAY, local(friday, 9))
    with db.read() as s:
        data = state_data(load_state(s, RULES, config.site.id, "door-1", friday))
    for holder in data["holders"]:
        for entitlement in holder["entitlements"]:
            del entitlement["until_slots"]  # as a door wrote it before
    state = state_from_data(data, RULES, ClockPolicy.MEMBERS)
    assert decide(PASS_CREDENTIAL_PREFIX + pass_id, local(friday, 15), state).granted
    assert not decide(PASS_CREDENTIAL_PREFIX + pass_id, local(friday + dt.timedelta(days=1), 9), state).granted


def test_closures_are_given_back_to_a_week_pass_once_whether_known_at_the_sale_or_entered_after(
    config: Config, db: Database
) -> None:
    wednesday = dt.date(2026, 12, 2)
    friday, monday = dt.date(2026, 12, 4), dt.date(2026, 12, 7)
    with db.write() as s:
        s.add(Closure(date=friday, label="Pont", created_at=local(wednesday, 8)))
    # Known at the sale: the span sold already runs a day later (to Wednesday 9), and the door does not add it again.
    offer = counter_at(local(wednesday, 15), RULES, PRICES, closures={friday}).offer(PlanKind.PASS_WEEK)
    assert offer is not None
    with db.write() as s:
        _sale, pass_ = record_sale(
            s,
            "door-1",
            offer,
            WalkIn("Inès Martin", "ines@example.org"),
            Payment("voucher", True),
            Stamp(local(wednesday, 15), 1, "b", True),
        )
        pass_id = pass_.id
        assert pass_.valid_until == dt.date(2026, 12, 9)
    with db.read() as s:
        state = load_state(s, RULES, config.site.id, "door-1", dt.date(2026, 12, 5))
    assert state.holders[pass_id].entitlements[0].valid_until == dt.date(2026, 12, 9)
    # A closure entered after the sale is given back at the door: one more day, to Thursday 10.
    with db.write() as s:
        s.add(Closure(date=monday, label="Dégât des eaux", created_at=local(dt.date(2026, 12, 5), 10)))
    with db.read() as s:
        state = load_state(s, RULES, config.site.id, "door-1", dt.date(2026, 12, 10))
    credential = PASS_CREDENTIAL_PREFIX + pass_id
    assert state.holders[pass_id].entitlements[0].valid_until == dt.date(2026, 12, 10)
    assert decide(credential, local(dt.date(2026, 12, 10), 9), state).granted
    with db.read() as s:
        after = load_state(s, RULES, config.site.id, "door-1", dt.date(2026, 12, 11))
    assert pass_id not in after.holders and credential not in after.credentials
