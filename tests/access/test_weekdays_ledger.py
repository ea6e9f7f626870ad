"""Weekdays in the appliance's ledger: a site's existing plans survive the upgrade admitting every day, the door's
state carries a plan's days, and so does the snapshot it decides on when the ledger is damaged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, select

from access.admin import MemberSpec, PlanSpec, add_member, add_plan
from access.config import Config
from access.db import Database, alembic_config, current_revision, head_revision, migrate
from access.models import Plan
from access.policy import Reason, decide
from access.snapshot import load_snapshot, save_snapshot, state_data
from access.store import load_state
from common.db import make_engine
from common.words import ClockPolicy

SATURDAY = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)
FRIDAY = SATURDAY - dt.timedelta(days=1)
# The revision before plans had weekdays.
BEFORE_WEEKDAYS = "0001"


def plan_columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("plans")}
    finally:
        engine.dispose()


def test_the_upgrade_keeps_every_plan_and_gives_it_every_day(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'halfday.db'}"
    command.upgrade(alembic_config(url), BEFORE_WEEKDAYS)
    assert "weekdays" not in plan_columns(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO plans"
            " (id, name, kind, half_days, allow_overdraft, hours_start, hours_end, price_cents, active) VALUES"
            " ('a1', 'Carnet 10', 'carnet', 10, 0, NULL, NULL, 8000, 1),"
            " ('b2', 'Illimité', 'unlimited', NULL, 0, '07:00:00.000000', '22:00:00.000000', 6000, 1)"
        )
    engine.dispose()

    assert migrate(url) == head_revision()
    db = Database(url)
    try:
        with db.read() as session:
            plans = {p.name: p for p in session.scalars(select(Plan))}
            assert sorted(plans) == ["Carnet 10", "Illimité"]
            assert all(p.weekdays is None for p in plans.values())
            assert (plans["Carnet 10"].half_days, plans["Carnet 10"].price_cents) == (10, 8000)
            assert (plans["Illimité"].hours_start, plans["Illimité"].hours_end) == (dt.time(7), dt.time(22))
        with db.write() as session:
            add_plan(session, PlanSpec("Semaine", "unlimited", weekdays="1-5"))
        with db.read() as session:
            assert session.scalars(select(Plan.weekdays).where(Plan.name == "Semaine")).one() == "12345"
    finally:
        db.dispose()

    # Back to before weekdays: the column goes, the plans stay.
    command.downgrade(alembic_config(url), BEFORE_WEEKDAYS)
    assert current_revision(url) == BEFORE_WEEKDAYS
    assert "weekdays" not in plan_columns(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM plans").scalar() == 3
    engine.dispose()


def test_the_doors_state_carries_a_plans_days(config: Config, db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        add_plan(session, PlanSpec("Semaine", "unlimited", hours="00:00-23:59", weekdays="12345"))
        add_plan(session, PlanSpec("Tous les jours", "unlimited", hours="00:00-23:59"))
        add_member(session, MemberSpec("Alice", plan="Semaine", badge="1A2B3C4D"), "door-1")
        add_member(session, MemberSpec("Bruno", plan="Tous les jours", badge="2B3C4D5E"), "door-1")
    rules = config.site.rules
    with db.read() as session:
        state = load_state(session, rules, "test-site", "door-1", SATURDAY.date())
    assert decide("1A2B3C4D", SATURDAY, state).reason == Reason.OUTSIDE_WEEKDAYS
    assert decide("1A2B3C4D", FRIDAY, state).reason == Reason.GRANTED
    assert decide("2B3C4D5E", SATURDAY, state).reason == Reason.GRANTED

    # The snapshot the door falls back on decides the same.
    path = tmp_path / "state.json"
    save_snapshot(path, state_data(state), 1, "test-site", "door-1")
    kept = load_snapshot(path, rules, ClockPolicy.MEMBERS, "test-site", "door-1").state
    assert decide("1A2B3C4D", SATURDAY, kept).reason == Reason.OUTSIDE_WEEKDAYS
    assert decide("1A2B3C4D", FRIDAY, kept).reason == Reason.GRANTED
    assert decide("2B3C4D5E", SATURDAY, kept).reason == Reason.GRANTED


def test_a_snapshot_from_before_weekdays_admits_every_day(config: Config, db: Database, tmp_path: Path) -> None:
    with db.write() as session:
        add_plan(session, PlanSpec("Illimité", "unlimited", hours="00:00-23:59"))
        add_member(session, MemberSpec("Alice", plan="Illimité", badge="1A2B3C4D"), "door-1")
    with db.read() as session:
        state = load_state(session, config.site.rules, "test-site", "door-1", SATURDAY.date())
    data = state_data(state)
    for holder in data["holders"]:
        for entitlement in holder["entitlements"]:
            del entitlement["weekdays"]  # as a door written before weekdays saved it
    path = tmp_path / "state.json"
    save_snapshot(path, data, 1, "test-site", "door-1")
    kept = load_snapshot(path, config.site.rules, ClockPolicy.MEMBERS, "test-site", "door-1").state
    assert decide("1A2B3C4D", SATURDAY, kept).reason == Reason.GRANTED
