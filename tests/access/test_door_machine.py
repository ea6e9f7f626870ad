"""The door state machine: pulse, relock after passage, exit button, forced and held-open alarms, staffed hours."""

from __future__ import annotations

import datetime as dt

import pytest

from access.door import DoorMachine, DoorTiming, Events, Output
from access.ledger import WeeklyHours
from common.words import Alarm

TIMING = DoorTiming(unlock_s=5.0, held_open_s=60.0, relock_after_close_s=0.5)


def kinds(out: Output) -> Events:
    return out.events


def test_starts_locked_even_when_the_door_is_open() -> None:
    machine = DoorMachine(TIMING, unlocked_until=99.0)
    assert machine.start(door_open=True, now=0.0).unlocked is False
    assert machine.door_open


def test_grant_pulses_then_relocks() -> None:
    machine = DoorMachine(TIMING)
    assert machine.grant(10.0).unlocked
    assert machine.next_deadline() == 15.0
    assert machine.tick(14.9).unlocked
    assert not machine.tick(15.0).unlocked


def test_relock_soon_after_door_opened_and_closed() -> None:
    machine = DoorMachine(TIMING)
    machine.grant(0.0)
    out = machine.door_changed(True, 1.0)
    assert out.events == [("door", {"open": True})]  # authorised: no alarm
    machine.door_changed(False, 2.0)
    assert machine.tick(2.4).unlocked
    assert not machine.tick(2.5).unlocked


def test_forced_door_raises_alarm_and_closing_clears_it() -> None:
    machine = DoorMachine(TIMING)
    out = machine.door_changed(True, 1.0)
    assert ("alarm", {"type": Alarm.FORCED, "active": True}) in out.events
    assert machine.alarms == {Alarm.FORCED}
    out = machine.door_changed(False, 3.0)
    assert ("alarm", {"type": Alarm.FORCED, "active": False}) in out.events
    assert not machine.alarms


def test_exit_button_opens_without_alarm() -> None:
    machine = DoorMachine(TIMING)
    out = machine.exit_button(0.0)
    assert out.unlocked and out.events == [("exit", {"by": "button"})]
    assert machine.door_changed(True, 0.5).events == [("door", {"open": True})]


def test_held_open_alarm_after_the_configured_time() -> None:
    machine = DoorMachine(TIMING)
    machine.grant(0.0)
    machine.door_changed(True, 1.0)
    assert machine.next_deadline() == 5.0
    machine.tick(5.0)
    assert machine.next_deadline() == 61.0
    assert machine.tick(60.9).events == []
    assert machine.tick(61.0).events == [("alarm", {"type": Alarm.HELD_OPEN, "active": True})]
    assert machine.tick(70.0).events == []  # raised once
    assert ("alarm", {"type": Alarm.HELD_OPEN, "active": False}) in machine.door_changed(False, 80.0).events


def test_staffed_hours_keep_the_door_open_without_alarms() -> None:
    machine = DoorMachine(TIMING)
    out = machine.tick(0.0, staffed=True)
    assert out.unlocked and out.events == [("staffed", {"active": True})]
    assert machine.door_changed(True, 1.0).events == [("door", {"open": True})]
    assert machine.tick(500.0, staffed=True).events == []
    assert not machine.tick(501.0, staffed=False).unlocked


def test_weekly_hours() -> None:
    monday = dt.datetime(2026, 11, 23)  # a Monday
    mornings = WeeklyHours.parse(["mon 09:00-12:00"])
    assert mornings.contains(monday.replace(hour=9)) and not mornings.contains(monday.replace(hour=12))
    assert not mornings.contains(monday.replace(hour=10) + dt.timedelta(days=1))
    week = WeeklyHours.parse(["mon-fri 08:00-20:00"])
    assert [week.contains(monday.replace(hour=10) + dt.timedelta(days=d)) for d in range(7)] == [True] * 5 + [False] * 2
    for bad in ("lun 09:00-12:00", "mon 12:00-09:00", "fri-mon 08:00-20:00", "mon 9h-12h"):
        with pytest.raises(ValueError):
            WeeklyHours.parse([bad])
