"""Bookings open the entrance: pure policy, and the state the door loads from the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.ledger import Bookings, Entitlement, SlotRules
from access.models import Booking, Credential, Resource
from access.policy import AccessState, CredentialInfo, Holder, Reason, apply, decide
from access.snapshot import state_data, state_from_data
from access.store import BOOKING_CREDENTIAL_PREFIX, load_state
from common.db import new_id
from common.words import ClockPolicy, PlanKind, Slot
from halfday.sample import ALICE, BRUNO, CLARA
from tests.support.site import Site

PARIS = ZoneInfo("Europe/Paris")
DAY = dt.date(2026, 11, 24)
ROOM, OFFICE = "r-room", "r-office"
MakeSite = Callable[..., Site]


def paris(d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, d, h, mi, tzinfo=PARIS).astimezone(dt.UTC)


def state(room: str | None = None) -> AccessState:
    """Clara's carnet is used up, Bruno has 3 half-days, Zoé is staff with no plan; the walk-in "g1" booked."""
    s = AccessState(rules=SlotRules(PARIS), room=room)
    s.holders["clara"] = Holder("clara", "Clara", True, [Entitlement("sc", PlanKind.CARNET, balance=0)])
    s.holders["bruno"] = Holder("bruno", "Bruno", True, [Entitlement("sb", PlanKind.CARNET, balance=3)])
    s.holders["zoe"] = Holder("zoe", "Zoé", True, [], staff=True)
    s.holders["g1"] = Holder("g1", "Léa", True)
    for value, holder, member in (("C1", "clara", True), ("B1", "bruno", True), ("Z1", "zoe", True)):
        s.credentials[value] = CredentialInfo(value, holder, True, member=member)
    s.credentials["booking:g1"] = CredentialInfo("booking:g1", "g1", True, member=False)
    s.bookings = Bookings()
    s.bookings.add("clara", ROOM, DAY, Slot.AFTERNOON)
    s.bookings.add("bruno", OFFICE, DAY, Slot.MORNING)
    s.bookings.add("g1", ROOM, DAY + dt.timedelta(days=1), Slot.AFTERNOON)
    return s


def test_a_booking_opens_the_entrance_even_when_the_plan_would_not() -> None:
    s = state()
    assert decide("C1", paris(24, 10), s).reason == Reason.NO_CREDIT  # the morning is not booked
    decision = decide("C1", paris(24, 14), s)
    assert (decision.granted, decision.reason, decision.charge) == (True, Reason.BOOKED, None)
    assert apply(decision, s) is False  # the booking's own use is the count: nothing spent, no use added
    assert s.uses.seen == set()


def test_a_booked_half_day_spends_nothing_from_the_carnet_and_the_next_one_does() -> None:
    s = state()
    booked = decide("B1", paris(24, 9), s)
    assert (booked.reason, booked.charge, booked.balance) == (Reason.BOOKED, None, None)
    apply(booked, s)
    later = decide("B1", paris(24, 15), s)
    assert later.reason == Reason.GRANTED and later.charge is not None and later.charge.spent == 1
    assert later.balance == 2


def test_a_walk_in_booking_code_opens_for_its_half_days_only() -> None:
    s = state()
    assert decide("booking:g1", paris(24, 15), s).reason == Reason.NOT_YET_VALID
    assert decide("booking:g1", paris(25, 9), s).reason == Reason.NOT_YET_VALID  # the next morning: not yet
    assert decide("booking:g1", paris(25, 14), s).reason == Reason.BOOKED
    assert decide("booking:g1", paris(25, 19, 59), s).granted
    assert decide("booking:g1", paris(25, 20, 30), s).reason == Reason.OUTSIDE_HOURS  # after the slots
    assert decide("booking:g1", paris(26, 9), s).reason == Reason.EXPIRED


def test_a_booking_needs_a_trusted_clock_unless_the_site_says_everyone() -> None:
    s = state()
    assert decide("booking:g1", paris(25, 14), s, clock_ok=False).reason == Reason.CLOCK_UNSURE
    s.clock_policy = ClockPolicy.EVERYONE
    assert decide("booking:g1", paris(25, 14), s, clock_ok=False).reason == Reason.BOOKED


def test_a_closed_day_refuses_bookings_too() -> None:
    s = state()
    s.closures = frozenset({DAY})
    assert decide("C1", paris(24, 14), s).reason == Reason.CLOSED


def test_a_rooms_door_admits_its_bookers_for_the_slot_and_staff_only() -> None:
    s = state(room=ROOM)
    assert decide("C1", paris(24, 14), s).reason == Reason.BOOKED
    assert decide("C1", paris(24, 10), s).reason == Reason.NO_BOOKING  # not booked this morning
    # Bruno booked the office, not this room; his carnet would open the entrance, not this door.
    assert decide("B1", paris(24, 9), s).reason == Reason.NO_BOOKING
    assert decide("booking:g1", paris(25, 14), s).reason == Reason.BOOKED
    staff = decide("Z1", paris(24, 22), s)
    assert (staff.granted, staff.reason) == (True, Reason.STAFF)
    assert decide("UNKNOWN", paris(24, 14), s).reason == Reason.UNKNOWN
    # Nothing is ever counted at a room's door.
    assert all(decide(c, paris(24, 14), s).charge is None for c in ("C1", "B1", "Z1"))


def test_a_rooms_door_whose_room_is_not_in_the_ledger_admits_staff_only() -> None:
    s = state(room="")
    assert decide("C1", paris(24, 14), s).reason == Reason.NO_BOOKING
    assert decide("Z1", paris(24, 14), s).granted


def test_the_snapshot_keeps_bookings_and_the_room() -> None:
    s = state(room=ROOM)
    again = state_from_data(state_data(s), s.rules, s.clock_policy)
    assert again.room == ROOM and again.bookings.items() == s.bookings.items()
    assert decide("C1", paris(24, 14), again).reason == Reason.BOOKED
    entrance = state_from_data({**state_data(s), "room": None}, s.rules, s.clock_policy)
    assert entrance.room is None


# ---------------------------------------------------------------------------------------------- from the ledger


def member_of(session: Session, badge: str) -> str:
    member = session.scalar(select(Credential.member_id).where(Credential.value == badge))
    assert member is not None
    return member


def add_booking(session: Session, resource: str, day: dt.date, slot: Slot, **fields: object) -> Booking:
    """A booking row as access/bookings.py writes one (its uses and event aside: the door reads the row)."""
    values: dict[str, object] = {
        "group_id": new_id(),
        "holder_kind": "member",
        "name": "Quelqu'un",
        "paid_by": "counter",
        "origin": "admin",
    }
    values.update(fields)
    booking = Booking(resource_id=resource, local_date=day, slot=slot.value, **values)
    session.add(booking)
    return booking


def test_load_state_reads_live_bookings_of_today_and_later(new_site: MakeSite) -> None:
    site = new_site()
    today = dt.date(2026, 11, 24)
    rules = SlotRules(PARIS)
    with site.db.write() as session:
        room = Resource(name="Salle du conseil", kind="meeting_room", feed_secret=new_id())
        closed = Resource(name="Ancien bureau", kind="office", feed_secret=new_id(), active=False)
        session.add_all([room, closed])
        session.flush()
        clara, bruno, alice = (member_of(session, b) for b in (CLARA, BRUNO, ALICE))
        add_booking(session, room.id, today, Slot.AFTERNOON, member_id=clara)
        add_booking(session, room.id, today - dt.timedelta(days=1), Slot.MORNING, member_id=bruno)  # past
        gone = add_booking(session, room.id, today, Slot.MORNING, member_id=bruno)
        gone.cancelled_at = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
        add_booking(session, closed.id, today, Slot.MORNING, member_id=alice)  # an inactive resource's
        walk_in = add_booking(
            session,
            room.id,
            today + dt.timedelta(days=1),
            Slot.MORNING,
            holder_kind="walk_in",
            name="Léa Martin",
            code="123456",
        )
        room_id, walk_in_group = room.id, walk_in.group_id
    with site.db.read() as session:
        state = load_state(session, rules, "la-filature", "door-1", today)
        room_door = load_state(session, rules, "la-filature", "salle-1", today, room="Salle du conseil")
        nowhere = load_state(session, rules, "la-filature", "salle-1", today, room="Salle inconnue")
    assert state.room is None
    assert state.bookings.items() == sorted(
        [
            (clara, room_id, today, Slot.AFTERNOON),
            (walk_in_group, room_id, today + dt.timedelta(days=1), Slot.MORNING),
        ]
    )
    key = BOOKING_CREDENTIAL_PREFIX + walk_in_group
    assert state.credentials[key].member is False and state.holders[walk_in_group].first_name == "Léa"
    assert room_door.room == room_id and room_door.bookings.items() == state.bookings.items()
    assert nowhere.room == "" and nowhere.bookings.items() == []


def test_the_door_and_the_shared_core_name_a_bookings_code_alike() -> None:
    from access import bookings, store

    assert bookings.BOOKING_CREDENTIAL_PREFIX == store.BOOKING_CREDENTIAL_PREFIX == "booking:"


def test_a_refusal_outside_the_bookings_says_whether_the_last_one_is_to_come() -> None:
    b = Bookings()
    b.add("h", ROOM, DAY + dt.timedelta(days=2), Slot.MORNING)
    b.add("h", OFFICE, DAY, Slot.AFTERNOON)  # added after a later one: the last stays the later
    assert b.later("h", DAY + dt.timedelta(days=1), Slot.AFTERNOON) is True
    assert b.later("h", DAY + dt.timedelta(days=2), Slot.AFTERNOON) is False
    assert b.later("nobody", DAY, Slot.MORNING) is None
