"""The booking core: one booking per resource and slot, all or nothing, paid from a carnet or a plan's room
half-days and given back on cancel, the site's cancel rule, and the events the hub receives."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from access.admin import MemberSpec, PlanSpec, add_member, add_plan, top_up
from access.bookings import (
    BookingRefused,
    availability,
    book,
    booking_for_code,
    cancel,
    member_bookings,
    price_cents,
    room_rights,
)
from access.config import Config, ConfigError, load_config
from access.db import Database
from access.models import Balance, Booking, Closure, Event, Outbox, Plan, Resource, Use
from access.store import Stamp, load_state, state_version
from common.words import BookingPayment, EventKind, Slot

# Monday 23 November 2026, 10:30 in Paris.
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 23)
TOMORROW = TODAY + dt.timedelta(days=1)
AM, PM = Slot.MORNING, Slot.AFTERNOON
SITE, DEVICE = "test-site", "door-1"
STAMP = Stamp(NOW, 1, "boot", True)


def make_room(db: Database, name: str = "Salle Garance", **kwargs: object) -> str:
    with db.write() as s:
        room = Resource(
            name=name,
            kind=str(kwargs.get("kind", "meeting_room")),
            capacity=8,
            price_halfday_cents=int(str(kwargs.get("halfday", 3000))),
            price_day_cents=int(str(kwargs.get("day", 5000))),
            feed_secret="s" * 32,
            active=bool(kwargs.get("active", True)),
        )
        s.add(room)
        s.flush()
        return room.id


def make_member(db: Database, plan: str = "Carnet 10", half_days: int = 10, room_half_days: int | None = None) -> str:
    with db.write() as s:
        if s.scalar(select(Plan).where(Plan.name == plan)) is None:
            kind = "carnet" if plan.startswith("Carnet") else "unlimited"
            created = add_plan(s, PlanSpec(plan, kind, half_days if kind == "carnet" else None))
            created.room_half_days = room_half_days
        return add_member(s, MemberSpec("Alice", "Martin", plan=plan), DEVICE).id


def walk_in(db: Database, room: str, half_days: list[tuple[dt.date, Slot]], **kwargs: object) -> list[Booking]:
    with db.write() as s:
        rows = book(
            s,
            resource_id=room,
            half_days=half_days,
            name=str(kwargs.get("name", "Bruno Petit")),
            origin="kiosk",
            device_id=DEVICE,
            stamp=STAMP,
            paid_by=str(kwargs.get("paid_by", BookingPayment.COUNTER)),
            email="bruno@example.org",
            sale_id=None,
            today=TODAY,
            site_id=SITE,
        )
        s.expunge_all()
        return rows


def for_member(
    db: Database, room: str, member: str, half_days: list[tuple[dt.date, Slot]], paid_by: str
) -> list[Booking]:
    with db.write() as s:
        rows = book(
            s,
            resource_id=room,
            half_days=half_days,
            name="Alice",
            origin="kiosk",
            device_id=DEVICE,
            stamp=STAMP,
            paid_by=paid_by,
            member_id=member,
            guests=["Chloé", " "],
            today=TODAY,
            site_id=SITE,
        )
        s.expunge_all()
        return rows


def carnet_balance(db: Database, config: Config, member: str, day: dt.date = TODAY) -> int | None:
    """The balance as the door decides on it (load_state)."""
    with db.read() as s:
        state = load_state(s, config.site.rules, SITE, DEVICE, day)
        return state.holders[member].entitlements[0].balance


def refusal(db: Database, call: Callable[[Session], object]) -> str:
    with pytest.raises(BookingRefused) as caught, db.write() as s:
        call(s)
    return caught.value.reason


# ---------------------------------------------------------------------------------------- one per slot


def test_a_slot_is_booked_once(db: Database) -> None:
    room = make_room(db)
    first = walk_in(db, room, [(TODAY, PM)])
    assert len(first) == 1 and first[0].holder_kind == "walk_in"
    assert first[0].code is not None and len(first[0].code) == 6 and first[0].code.isdigit()
    with pytest.raises(BookingRefused) as caught:
        walk_in(db, room, [(TODAY, PM)], name="Chloé")
    assert caught.value.reason == "taken"
    # Another slot, or another room, is free.
    assert len(walk_in(db, room, [(TODAY, AM)])) == 1
    other = make_room(db, "Bureau 2", kind="office")
    assert len(walk_in(db, other, [(TODAY, PM)])) == 1
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 3


def test_the_database_itself_refuses_a_second_live_booking(db: Database) -> None:
    room = make_room(db)
    walk_in(db, room, [(TOMORROW, AM)])
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(
            Booking(
                group_id="g",
                resource_id=room,
                local_date=TOMORROW,
                slot="morning",
                holder_kind="walk_in",
                name="X",
                paid_by="counter",
                origin="admin",
            )
        )
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 1


def test_racing_writers_end_with_one_booking(db: Database) -> None:
    room = make_room(db)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def attempt(n: int) -> None:
        start.wait()
        try:
            walk_in(db, room, [(TOMORROW, PM)], name=f"Visiteur {n}")
            result = "booked"
        except BookingRefused as exc:
            result = exc.reason
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["booked"] + ["taken"] * 7
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 1
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == EventKind.BOOKING)) == 1


def test_all_half_days_or_none(db: Database) -> None:
    room = make_room(db)
    walk_in(db, room, [(TOMORROW, PM)])
    with db.read() as s:
        events_before = s.scalar(select(func.count()).select_from(Event))
    with pytest.raises(BookingRefused) as caught:
        walk_in(db, room, [(TODAY, AM), (TODAY, PM), (TOMORROW, AM), (TOMORROW, PM)])
    assert caught.value.reason == "taken"
    assert caught.value.details["half_days"] == [(TOMORROW, PM)]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 1
        assert s.scalar(select(func.count()).select_from(Use)) == 1
        assert s.scalar(select(func.count()).select_from(Event)) == events_before
    rows = walk_in(db, room, [(TODAY, AM), (TODAY, PM), (TOMORROW, AM)])
    assert [(b.local_date, b.slot) for b in rows] == [(TODAY, "morning"), (TODAY, "afternoon"), (TOMORROW, "morning")]
    assert len({b.group_id for b in rows}) == 1 and len({b.code for b in rows}) == 1


def test_refusals_name_why(db: Database) -> None:
    room = make_room(db)
    closed = make_room(db, "Cabine", kind="phone_box", active=False)
    with db.write() as s:
        s.add(Closure(date=TOMORROW, label="Pont"))

    def attempt(**kwargs: object) -> Callable[[Session], object]:
        args: dict[str, Any] = {
            "resource_id": room,
            "half_days": [(TODAY, PM)],
            "name": "Bruno",
            "origin": "kiosk",
            "device_id": DEVICE,
            "stamp": STAMP,
            "paid_by": "counter",
            "today": TODAY,
            "site_id": SITE,
        }
        args.update(kwargs)
        return lambda s: book(s, **args)

    assert refusal(db, attempt(half_days=[(TODAY - dt.timedelta(days=1), PM)])) == "past"
    assert refusal(db, attempt(half_days=[(TODAY, AM)], not_before=(TODAY, PM))) == "past"
    assert refusal(db, attempt(half_days=[(TOMORROW, AM)])) == "closed"
    assert refusal(db, attempt(resource_id=closed)) == "inactive"
    assert refusal(db, attempt(resource_id="nope")) == "unknown_resource"
    assert refusal(db, attempt(name="   ")) == "name_missing"
    assert refusal(db, attempt(half_days=[])) == "no_half_day"
    assert refusal(db, attempt(paid_by="carnet")) == "no_right"  # a walk-in has no carnet
    assert refusal(db, attempt(paid_by="gratis")) == "payment"
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 0


# ----------------------------------------------------------------------------------------------- paying


def test_the_carnet_pays_and_gets_back_on_cancel(db: Database, config: Config) -> None:
    room = make_room(db, "Bureau 1", kind="office")
    member = make_member(db)
    rows = for_member(
        db, room, member, [(TOMORROW, AM), (TOMORROW, PM), (TOMORROW + dt.timedelta(days=1), AM)], "carnet"
    )
    assert all(b.paid_by == "carnet" and b.subscription_id is not None and b.code is None for b in rows)
    assert rows[0].guests == "Chloé"
    assert carnet_balance(db, config, member) == 7
    with db.read() as s:
        assert room_rights(s, member, TODAY, DEVICE).carnet_balance == 7
        uses = s.scalars(select(Use).order_by(Use.local_date, Use.slot.desc())).all()
        assert [(u.holder_id, u.spent, u.resource_id, u.site_id) for u in uses] == [(b.id, 1, room, SITE) for b in rows]
    with db.write() as s:
        cancelled = cancel(
            s, rows[0].group_id, device_id=DEVICE, stamp=STAMP, today=TODAY, by_manager=False, rule="day_before"
        )
        assert len(cancelled) == 3
    assert carnet_balance(db, config, member) == 10
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Use)) == 0
        assert s.scalar(select(func.count()).select_from(Booking).where(Booking.cancelled_at.is_(None))) == 0
    # The slots are free again.
    assert len(walk_in(db, room, [(TOMORROW, AM)])) == 1


def test_a_cancel_gives_back_what_the_hub_already_counted(db: Database, config: Config) -> None:
    room = make_room(db)
    member = make_member(db)
    rows = for_member(db, room, member, [(TOMORROW, AM), (TOMORROW, PM)], "carnet")
    with db.write() as s:
        # The hub's roster has seen the booking: 8 left as of its event.
        balance = s.scalars(select(Balance)).one()
        balance.amount = 8
        balance.as_of_seq = int(s.scalar(select(func.max(Event.seq))) or 0)
    assert carnet_balance(db, config, member) == 8
    with db.write() as s:
        cancel(s, rows[0].group_id, device_id=DEVICE, stamp=STAMP, today=TODAY, by_manager=True, rule="never")
    assert carnet_balance(db, config, member) == 10


def test_an_empty_carnet_books_nothing(db: Database, config: Config) -> None:
    room = make_room(db)
    member = make_member(db, "Carnet 2", 2)
    with pytest.raises(BookingRefused) as caught:
        for_member(db, room, member, [(TOMORROW, AM), (TOMORROW, PM), (TOMORROW + dt.timedelta(days=1), AM)], "carnet")
    assert caught.value.reason == "no_credit"
    assert carnet_balance(db, config, member) == 2
    with db.write() as s:
        top_up(s, member, 1, DEVICE)
    assert (
        len(
            for_member(
                db, room, member, [(TOMORROW, AM), (TOMORROW, PM), (TOMORROW + dt.timedelta(days=3), AM)], "carnet"
            )
        )
        == 3
    )
    assert carnet_balance(db, config, member) == 0


def test_included_room_half_days_per_month(db: Database) -> None:
    room = make_room(db)
    member = make_member(db, "Résident", room_half_days=2)
    rows = for_member(db, room, member, [(TOMORROW, AM), (TOMORROW, PM)], "included")
    assert all(b.paid_by == "included" and b.subscription_id is not None for b in rows)
    with db.read() as s:
        rights = room_rights(s, member, TOMORROW, DEVICE)
        assert (rights.included_per_month, rights.included_taken, rights.included_left) == (2, 2, 0)
        assert [u.spent for u in s.scalars(select(Use))] == [0, 0]
    with pytest.raises(BookingRefused) as caught:
        for_member(db, room, member, [(TODAY, PM)], "included")
    assert caught.value.reason == "no_credit"
    # December has its own two half-days; three in one booking are one too many.
    december = dt.date(2026, 12, 1)
    with pytest.raises(BookingRefused) as caught:
        for_member(
            db, room, member, [(december, AM), (december, PM), (december + dt.timedelta(days=1), AM)], "included"
        )
    assert caught.value.reason == "no_credit"
    assert len(for_member(db, room, member, [(december, AM), (december, PM)], "included")) == 2
    with db.write() as s:
        cancel(s, rows[0].group_id, device_id=DEVICE, stamp=STAMP, today=TODAY, by_manager=False, rule="day_before")
    with db.read() as s:
        assert room_rights(s, member, TOMORROW, DEVICE).included_left == 2
    # A carnet holder has no included half-days.
    carnet = make_member(db)
    with pytest.raises(BookingRefused) as caught:
        for_member(db, room, carnet, [(TODAY, PM)], "included")
    assert caught.value.reason == "no_right"


def test_the_day_price_applies_to_a_whole_day() -> None:
    room = Resource(name="Salle", kind="meeting_room", price_halfday_cents=3000, price_day_cents=5000)
    assert price_cents(room, [(TODAY, AM)]) == 3000
    assert price_cents(room, [(TODAY, AM), (TODAY, PM)]) == 5000
    assert price_cents(room, [(TODAY, AM), (TODAY, PM), (TOMORROW, AM)]) == 8000
    no_day = Resource(name="Cabine", kind="phone_box", price_halfday_cents=500, price_day_cents=0)
    assert price_cents(no_day, [(TODAY, AM), (TODAY, PM)]) == 1000


# ------------------------------------------------------------------------------------------- cancelling


def test_the_cancel_rule(db: Database) -> None:
    room = make_room(db)
    member = make_member(db)
    today_rows = for_member(db, room, member, [(TODAY, PM)], "carnet")
    later = for_member(db, room, member, [(TOMORROW, AM)], "carnet")

    def holder(group: str, rule: str) -> Callable[[Session], object]:
        return lambda s: cancel(s, group, device_id=DEVICE, stamp=STAMP, today=TODAY, by_manager=False, rule=rule)

    assert refusal(db, holder(today_rows[0].group_id, "day_before")) == "too_late_to_cancel"
    assert refusal(db, holder(later[0].group_id, "never")) == "not_cancellable"
    assert refusal(db, holder("unknown", "day_before")) == "unknown_booking"
    with db.write() as s:
        assert (
            len(
                cancel(
                    s,
                    later[0].group_id,
                    device_id=DEVICE,
                    stamp=STAMP,
                    today=TODAY,
                    by_manager=False,
                    rule="day_before",
                )
            )
            == 1
        )
    assert refusal(db, holder(later[0].group_id, "day_before")) == "cancelled"
    # The manager cancels whatever the rule.
    with db.write() as s:
        assert (
            len(
                cancel(
                    s, today_rows[0].group_id, device_id=DEVICE, stamp=STAMP, today=TODAY, by_manager=True, rule="never"
                )
            )
            == 1
        )
    with db.read() as s:
        assert member_bookings(s, member, TODAY) == []


# ------------------------------------------------------------------------------------------ what is written


def test_the_events_the_hub_receives(db: Database) -> None:
    room = make_room(db)
    member = make_member(db)
    with db.read() as s:
        version = state_version(s)
    rows = for_member(db, room, member, [(TOMORROW, AM), (TOMORROW, PM)], "carnet")
    with db.read() as s:
        assert state_version(s) == version + 1
        event = s.scalars(select(Event).where(Event.kind == EventKind.BOOKING)).one()
        assert s.get(Outbox, event.id) is not None
        sub = rows[0].subscription_id
        assert event.data == {
            "group": rows[0].group_id,
            "resource": room,
            "resource_kind": "meeting_room",
            "resource_name": "Salle Garance",
            "holder": member,
            "name": "Alice",
            "paid_by": "carnet",
            "sale": None,
            "origin": "kiosk",
            "request": None,
            "slots": [
                {"id": rows[0].id, "date": TOMORROW.isoformat(), "slot": "morning", "spent": 1, "subscription": sub},
                {"id": rows[1].id, "date": TOMORROW.isoformat(), "slot": "afternoon", "spent": 1, "subscription": sub},
            ],
        }
        assert {u.event_id for u in s.scalars(select(Use))} == {event.id}
    with db.write() as s:
        cancel(s, rows[0].group_id, device_id=DEVICE, stamp=STAMP, today=TODAY, by_manager=True, rule="day_before")
    with db.read() as s:
        gone = s.scalars(select(Event).where(Event.kind == EventKind.BOOKING_CANCELLED)).one()
        assert gone.data == {"group": rows[0].group_id, "bookings": [rows[0].id, rows[1].id], "by": "manager"}
        assert s.get(Outbox, gone.id) is not None
        assert state_version(s) == version + 2


def test_availability_and_codes(db: Database) -> None:
    room = make_room(db)
    office = make_room(db, "Bureau 1", kind="office")
    make_room(db, "Ancienne salle", active=False)
    booked = walk_in(db, room, [(TODAY, PM), (TOMORROW, AM)])
    with db.read() as s:
        board = availability(s, TODAY, 7)
        assert len(board) == 2 * 7 * 2  # the inactive room is not on the board
        assert board[(room, TODAY, PM)] is not None and board[(room, TODAY, PM)].id == booked[0].id  # type: ignore[union-attr]
        assert board[(room, TODAY, AM)] is None and board[(office, TODAY, PM)] is None
        assert len(availability(s, TODAY, 2, [office])) == 4
        code = booked[0].code or ""
        assert [b.id for b in booking_for_code(s, code, TOMORROW, AM)] == [b.id for b in booked]
        assert booking_for_code(s, code, TOMORROW, PM) == []  # not its slot
        assert booking_for_code(s, "12345", TODAY, PM) == []
    with db.write() as s:
        cancel(s, booked[0].group_id, device_id=DEVICE, stamp=STAMP, today=TODAY, by_manager=True, rule="never")
    with db.read() as s:
        assert availability(s, TODAY, 1)[(room, TODAY, PM)] is None
        assert booking_for_code(s, booked[0].code or "", TODAY, PM) == []


# ------------------------------------------------------------------------------------------------ the config


def test_the_sites_cancel_rule_is_read_and_checked(write_config: Callable[..., Path]) -> None:
    assert load_config(write_config()).rooms.cancel == "day_before"  # what `halfday init` writes
    assert load_config(write_config({"rooms": {"cancel": "never"}})).rooms.cancel == "never"
    with pytest.raises(ConfigError) as info:
        load_config(write_config({"rooms": {"cancel": "sometimes"}}))
    assert "rooms.cancel" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(write_config({"rooms": {"cancle": "never"}}))
    assert "rooms.cancle" in str(info.value)
