"""Durable storage: pragmas, one transaction per decision, balances that a new roster never gives back."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from access.admin import MemberSpec, PlanSpec, add_member, add_plan
from access.config import Config
from access.db import Database
from access.models import Balance, Event, Outbox, Use
from access.policy import apply, decide
from access.store import Stamp, append_event, load_state, record_entry

MORNING = dt.datetime(2026, 11, 23, 8, 30, tzinfo=dt.UTC)


def test_sqlite_pragmas(db: Database) -> None:
    with db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_event_and_outbox_share_one_transaction(db: Database) -> None:
    stamp = Stamp(MORNING, 1, "boot", True)
    with db.write() as session:
        assert append_event(session, "door-1", "door", {"open": True}, stamp)[1] == 1
        assert append_event(session, "door-1", "door", {"open": False}, stamp)[1] == 2
    with pytest.raises(RuntimeError), db.write() as session:
        append_event(session, "door-1", "door", {"open": True}, stamp)
        raise RuntimeError("power cut before commit")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 2
        assert session.scalar(select(func.count()).select_from(Outbox)) == 2
        assert session.scalar(select(func.max(Event.seq))) == 2


def test_use_is_unique_per_holder_and_slot(config: Config, db: Database) -> None:
    with db.write() as session:
        add_plan(session, PlanSpec("Carnet 3", "carnet", 3))
        add_member(session, MemberSpec("Alice", plan="Carnet 3", badge="1A2B3C4D"), "door-1")
    with db.write() as session:
        state = load_state(session, config.site.rules, "test-site", "door-1", MORNING.date())
        decision = decide("1A2B3C4D", MORNING, state)
        record_entry(session, "test-site", "door-1", decision, Stamp(MORNING, 1, "b", True))
    # A second process with a stale state would charge the same slot again: the database refuses it.
    with pytest.raises(IntegrityError), db.write() as session:
        record_entry(session, "test-site", "door-1", decision, Stamp(MORNING, 2, "b", True))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Use)) == 1


def test_roster_balance_minus_unseen_uses(config: Config, db: Database) -> None:
    with db.write() as session:
        add_plan(session, PlanSpec("Carnet 5", "carnet", 5))
        member = add_member(session, MemberSpec("Alice", plan="Carnet 5", badge="1A2B3C4D"), "door-1")
        member_id = member.id
    now = MORNING
    for day in range(3):  # three mornings spent at this door
        with db.write() as session:
            state = load_state(session, config.site.rules, "test-site", "door-1", now.date())
            decision = decide("1A2B3C4D", now, state)
            assert decision.granted and decision.balance == 4 - day
            record_entry(session, "test-site", "door-1", decision, Stamp(now, day, "b", True))
            apply(decision, state)
        now += dt.timedelta(days=1)
    with db.write() as session:
        state = load_state(session, config.site.rules, "test-site", "door-1", now.date())
        assert state.holders[member_id].entitlements[0].balance == 2
        seqs = session.scalars(select(Use.seq).order_by(Use.seq)).all()
        # The hub has seen the first use only and says 4 are left: the two later uses are still subtracted.
        balance = session.scalars(select(Balance)).one()
        balance.amount, balance.as_of_seq = 4, seqs[0]
    with db.read() as session:
        state = load_state(session, config.site.rules, "test-site", "door-1", now.date())
        assert state.holders[member_id].entitlements[0].balance == 2
