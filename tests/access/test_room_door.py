"""A room's own door beside the entrance: two real door daemons on the site's one ledger, each with its own nfcpy
reader loop over udp and its own virtual card and lock. The room's door admits the room's bookers for the half-day
and staff, nobody else, and counts nothing; the entrance admits the booker by the booking, counting nothing twice."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from access.bookings import book, cancel
from access.config import ConfigError, load_config
from access.ledger import slot_at
from access.models import Booking, Event, Member, Resource, Use
from access.store import BOOKING_CREDENTIAL_PREFIX, Stamp, bump_state_version
from common.db import new_id
from common.words import SLOTS, Slot
from halfday import sample
from halfday.sample import ALICE, BRUNO, CLARA
from hardware.virtual_card import VirtualCard
from tests.access.test_booking_door import add_booking, member_of
from tests.access.test_damaged_ledger import damage_pages
from tests.support.door import TAP_GAP_S, DoorRig, start_door
from tests.support.site import Site
from tests.support.wait import wait_until

WALK_IN = "9f1c0de2a7b44c4b8e55a0c6d3b2e1f0"
MakeSite = Callable[..., Site]
MakeRig = Callable[..., DoorRig]
ROOM = "Salle du conseil"
ROOM_DEVICE = "salle-1"
# Slots that hold every hour of the day: the test runs whenever it runs, and a booking opens inside its slot only.
# A short reader debounce: a badge presented again a second later is a new tap here.
ALL_DAY = {
    "slots": {"morning_start": "00:00", "noon": "13:00", "afternoon_end": "23:59"},
    "hardware": {"reader": {"debounce_s": 0.3}},
}


def book_the_room(site: Site) -> str:
    """Clara (carnet used up) books the room for today, both slots; Léa, a walk-in, the office for this half-day;
    Alice is staff. Returns Clara's booking group."""
    today = slot_at(dt.datetime.now(dt.UTC), site.config.site.rules).date
    with site.db.write() as session:
        room = Resource(name=ROOM, kind="meeting_room", feed_secret=new_id(), door_device=ROOM_DEVICE)
        session.add(room)
        session.flush()
        group = new_id()
        for slot in SLOTS:
            add_booking(session, room.id, today, slot, member_id=member_of(session, CLARA), group_id=group)
        # Léa, a walk-in, booked the office for this half-day: her code opens the entrance, not the room.
        office = Resource(name="Bureau 2", kind="office", feed_secret=new_id())
        session.add(office)
        session.flush()
        ref = slot_at(dt.datetime.now(dt.UTC), site.config.site.rules)
        add_booking(
            session, office.id, ref.date, ref.slot, holder_kind="walk_in", name="Léa", code="482913", group_id=WALK_IN
        )
        session.execute(update(Member).where(Member.id == member_of(session, ALICE)).values(staff=True))
        bump_state_version(session)
    return group


def room_site_of(site: Site, overrides: dict[str, object] | None = None) -> Site:
    """The room's door's site: the same site and ledger, its own device id and config file (and reader)."""
    room = {"site": {"device": ROOM_DEVICE}, "door": {"resource": ROOM}}
    return Site(site.folder, site.folder / "salle.toml", sample.merged(site.data, room, overrides or {}))


@pytest.fixture
def doors(new_site: MakeSite, door_rig: MakeRig) -> Iterator[tuple[DoorRig, DoorRig, str]]:
    """The entrance and the room's door, started on a site where the room is booked (`book_the_room`). Yields
    (entrance, room door, Clara's booking group)."""
    site = new_site(overrides=ALL_DAY)
    group = book_the_room(site)
    room_site = room_site_of(site)
    entrance, room_door = door_rig(site), door_rig(room_site)
    entrance.start()
    room_door.start()
    yield entrance, room_door, group
    room_door.close()
    room_site.close()


def entries(site: Site, device: str) -> list[tuple[str, bool, str, object]]:
    with site.db.read() as session:
        events = session.scalars(
            select(Event).where(Event.kind == "entry", Event.device_id == device).order_by(Event.seq)
        )
        return [(e.data["uid"], e.data["granted"], e.data["reason"], e.data["use"]) for e in events]


def uses(rig: DoorRig) -> int:
    with rig.site.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Use)) or 0)


def test_the_rooms_door_admits_the_booker_and_staff_and_refuses_a_member_without_a_booking(
    doors: tuple[DoorRig, DoorRig, str],
) -> None:
    entrance, room_door, _group = doors
    assert room_door.daemon.cache.state.room not in (None, "")
    assert room_door.daemon.bus is None  # the entrance's bus and its kiosk commands are not the room's
    for uid in (CLARA, BRUNO, ALICE):
        room_door.tap(uid)
    assert wait_until(lambda: len(entries(room_door.site, ROOM_DEVICE)) == 3)
    assert entries(room_door.site, ROOM_DEVICE) == [
        (CLARA, True, "booked", None),
        (BRUNO, False, "no_booking", None),
        (ALICE, True, "staff", None),
    ]
    # The room's lock opened twice, the entrance's never; nothing was counted at the room's door.
    assert wait_until(lambda: room_door.relay_states() == [False, True, False, True, False], timeout=3)
    assert entrance.relay_states() == [False]
    assert uses(room_door) == 0
    assert room_door.daemon.snapshot is not None and room_door.daemon.snapshot.name == "door-snapshot-salle-1.json"
    assert entrance.daemon.snapshot is not None and entrance.daemon.snapshot.name == "door-snapshot.json"


def test_the_entrance_admits_the_booker_whose_carnet_is_used_up_and_counts_nothing_twice(
    doors: tuple[DoorRig, DoorRig, str],
) -> None:
    entrance, _room_door, _group = doors
    entrance.tap(CLARA)
    assert wait_until(lambda: len(entries(entrance.site, sample.DEVICE)) == 1)
    assert entries(entrance.site, sample.DEVICE) == [(CLARA, True, "booked", None)]
    assert wait_until(lambda: entrance.relay_states() == [False, True, False], timeout=3)
    assert uses(entrance) == 0  # the booking's own uses are the count


def test_a_walk_ins_booking_code_opens_the_entrance_and_not_another_rooms_door(
    doors: tuple[DoorRig, DoorRig, str],
) -> None:
    entrance, room_door, _group = doors
    credential = BOOKING_CREDENTIAL_PREFIX + WALK_IN
    # What the touchscreen's code page asks of the door over the bus (an Admit), as the door handles it.
    admitted = entrance.daemon.handle_tap(credential, None, request="code-1")
    refused = room_door.daemon.handle_tap(credential, None, request="code-2")
    assert admitted is not None and (admitted.granted, admitted.reason, admitted.first_name) == (True, "booked", "Léa")
    # The room's door knows only its own room's bookings: this code is nothing there.
    assert refused is not None and (refused.granted, refused.reason) == (False, "unknown")
    assert wait_until(
        lambda: len(entries(entrance.site, sample.DEVICE)) == 1 and len(entries(room_door.site, ROOM_DEVICE)) == 1
    )
    assert uses(entrance) == 0


def test_a_booking_cancelled_and_another_made_while_the_doors_run_change_who_comes_in(
    doors: tuple[DoorRig, DoorRig, str],
) -> None:
    _entrance, room_door, group = doors
    room_door.tap(BRUNO)
    assert wait_until(lambda: len(entries(room_door.site, ROOM_DEVICE)) == 1)
    seen = room_door.daemon.cache.version
    site = room_door.site
    with site.db.write() as session:
        ref = slot_at(dt.datetime.now(dt.UTC), site.config.site.rules)
        # Clara gives this half-day up, Bruno takes it: the door reads both once the state version moves.
        clara = session.scalars(
            select(Booking).where(Booking.group_id == group, Booking.local_date == ref.date, Booking.slot == ref.slot)
        ).one()
        clara.cancelled_at = dt.datetime.now(dt.UTC)
        session.flush()
        add_booking(session, clara.resource_id, ref.date, ref.slot, member_id=member_of(session, BRUNO))
        bump_state_version(session)
    assert wait_until(lambda: room_door.daemon.cache.version > seen, timeout=5)
    room_door.tap(BRUNO)
    room_door.tap(CLARA)
    assert wait_until(lambda: len(entries(room_door.site, ROOM_DEVICE)) == 3)
    assert [e[:3] for e in entries(room_door.site, ROOM_DEVICE)] == [
        (BRUNO, False, "no_booking"),
        (BRUNO, True, "booked"),
        (CLARA, False, "no_booking"),
    ]


def test_halfday_door_serves_the_room_its_config_names_as_systemd_starts_it(new_site: MakeSite, tmp_path: Path) -> None:
    site = new_site(overrides=ALL_DAY)
    book_the_room(site)
    card = VirtualCard()
    room_site = room_site_of(site, {"hardware": {"reader": {"path": card.path}}})
    log = tmp_path / "salle.log"
    door = start_door(room_site.config_path, log)
    try:
        assert wait_until(lambda: "porte prête" in log.read_text(encoding="utf-8"), timeout=20), log.read_text()
        for uid in (BRUNO, CLARA):
            card.present(uid, 0.3)
            time.sleep(TAP_GAP_S)
        assert wait_until(lambda: len(entries(room_site, ROOM_DEVICE)) == 2, timeout=10), log.read_text()
        assert [e[:3] for e in entries(room_site, ROOM_DEVICE)] == [
            (BRUNO, False, "no_booking"),
            (CLARA, True, "booked"),
        ]
        assert (site.folder / "door-snapshot-salle-1.json").is_file()
    finally:
        door.terminate()
        door.wait(10)
        card.close()
        room_site.close()


def test_the_config_names_the_room_a_door_serves(write_config: Callable[..., Path]) -> None:
    assert load_config(write_config()).door.resource is None  # the entrance
    config = load_config(write_config({"door": {"resource": " Salle du conseil "}}, name="salle.toml"))
    assert config.door.resource == "Salle du conseil"
    with pytest.raises(ConfigError) as refused:
        load_config(write_config({"door": {"resource": "  "}}, name="vide.toml"))
    assert "door.resource" in str(refused.value) and "vide" in str(refused.value)
    # Left open while staffed, a room's door would let everyone in: the config says no.
    staffed = {"door": {"resource": ROOM, "staffed": ["mon-fri 09:00-18:00"]}}
    with pytest.raises(ConfigError) as refused:
        load_config(write_config(staffed, name="ouverte.toml"))
    assert "door.staffed" in str(refused.value) and "réservations" in str(refused.value)


def test_booked_with_the_shared_core_and_cancelled_the_doors_follow_and_count_each_half_day_once(
    doors: tuple[DoorRig, DoorRig, str],
) -> None:
    entrance, room_door, clara_group = doors
    site = entrance.site
    rules = site.config.site.rules
    ref = slot_at(dt.datetime.now(dt.UTC), rules)
    stamp = Stamp.now("test")
    seen = (entrance.daemon.cache.version, room_door.daemon.cache.version)
    with site.db.write() as session:
        room_id = session.scalar(select(Resource.id).where(Resource.name == ROOM))
        assert room_id is not None
        # Clara gives the room up (the manager cancels), Bruno books this half-day and the same one tomorrow from
        # his carnet, and a walk-in books the room tomorrow at the touchscreen.
        cancel(
            session, clara_group, device_id=sample.DEVICE, stamp=stamp, today=ref.date, by_manager=True, rule="never"
        )
        bruno = member_of(session, BRUNO)
        tomorrow = ref.date + dt.timedelta(days=1)
        book(
            session,
            resource_id=room_id,
            half_days=[(ref.date, ref.slot), (tomorrow, ref.slot)],
            name="Bruno",
            origin="kiosk",
            device_id=sample.DEVICE,
            stamp=stamp,
            paid_by="carnet",
            member_id=bruno,
            today=ref.date,
            site_id=site.config.site.id,
        )
        walk_in = book(
            session,
            resource_id=room_id,
            half_days=[(tomorrow, Slot.MORNING if ref.slot == Slot.AFTERNOON else Slot.AFTERNOON)],
            name="Nadia Roux",
            origin="kiosk",
            device_id=sample.DEVICE,
            stamp=stamp,
            paid_by="counter",
            today=ref.date,
            site_id=site.config.site.id,
        )[0]
    assert wait_until(
        lambda: all(r.daemon.cache.version > s for r, s in zip((entrance, room_door), seen, strict=True)), 5
    )
    for rig in (room_door, entrance):
        rig.tap(BRUNO)
        rig.tap(CLARA)
    assert wait_until(lambda: len(entries(site, ROOM_DEVICE)) == 2 and len(entries(site, sample.DEVICE)) == 2)
    assert [e[:3] for e in entries(site, ROOM_DEVICE)] == [(BRUNO, True, "booked"), (CLARA, False, "no_booking")]
    assert [e[:3] for e in entries(site, sample.DEVICE)] == [(BRUNO, True, "booked"), (CLARA, False, "no_credit")]
    # The walk-in's code is for tomorrow's other half-day: not now.
    code = entrance.daemon.handle_tap(BOOKING_CREDENTIAL_PREFIX + walk_in.group_id, None, request="code-1")
    assert code is not None and (code.granted, code.reason) == (False, "not_yet_valid")
    with site.db.read() as session:
        # Bruno's two booked half-days and the walk-in's: three uses, none from the doors' taps.
        counted = session.scalars(select(Use.holder_id).where(Use.resource_id == room_id)).all()
        assert len(counted) == 3 and uses(entrance) == 3
    # The door reads Bruno's carnet after the two half-days the booking spent (10 - 2), not before.
    carnet = entrance.daemon.cache.state.holders[bruno].entitlements[0]
    assert carnet.balance == 8


def test_on_a_damaged_ledger_the_rooms_door_decides_on_its_own_snapshot(new_site: MakeSite, door_rig: MakeRig) -> None:
    site = new_site(overrides=ALL_DAY)
    book_the_room(site)
    room_site = room_site_of(site)
    room_door = door_rig(room_site)
    room_door.start()
    snapshot = site.folder / "door-snapshot-salle-1.json"
    assert wait_until(snapshot.is_file)
    room_door.stop()
    damage_pages(site.folder / "halfday.db")
    room_door.start()
    assert room_door.daemon.degraded is not None
    assert room_door.daemon.cache.state.room not in (None, "")
    room_door.tap(BRUNO)
    room_door.tap(CLARA)
    journal = site.folder / "door-rescue-salle-1.jsonl"
    assert wait_until(lambda: journal.is_file() and journal.read_text(encoding="utf-8").count('"entry"') == 2)
    assert wait_until(lambda: room_door.relay_states() == [False, True, False], timeout=3)
    text = journal.read_text(encoding="utf-8")
    assert '"no_booking"' in text and '"booked"' in text
    assert not (site.folder / "door-rescue.jsonl").exists()  # the entrance's journal is the entrance's
    room_site.close()
