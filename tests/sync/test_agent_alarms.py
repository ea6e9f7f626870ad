"""The sync agent's own alarms, with a real broker and a real hub: events waiting for the hub longer than the
site's limit raise the "backlog" alarm (an event, and the status's alarms), cleared once the hub has them."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import select

from access.db import Database
from access.models import Event
from access.store import Stamp, append_event
from common.words import Alarm
from sync.agent import SyncAgent
from sync.agent.health import door_health
from sync.localbus import DoorState
from sync.payloads import make_status, validate_status
from sync.protocol import ProtocolError
from tests.support.wait import wait_until
from tests.sync.conftest import DEVICE


def alarm_events(db: Database) -> list[tuple[str, bool]]:
    with db.read() as session:
        rows = session.scalars(select(Event).where(Event.kind == "alarm").order_by(Event.seq))
        return [(e.data["type"], e.data["active"]) for e in rows]


def test_an_old_backlog_raises_its_alarm_once_and_clears_it_once_sent(
    make_agent: Any, make_worker: Any, door_db: Database
) -> None:
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with door_db.write() as session:
        append_event(session, DEVICE, "door", {"open": True}, Stamp(an_hour_ago, time.monotonic_ns(), "b", True))
    agent: SyncAgent = make_agent(backlog_max_age_s=1800, alarm_hold_s=0.0, status_min_gap_s=0.1)
    # No hub worker yet: nothing is acknowledged, the event stays an hour old.
    assert wait_until(lambda: alarm_events(door_db) == [("backlog", True)], 10)
    assert wait_until(lambda: agent._published is not None and "backlog" in agent._published[0].alarms, 5)
    make_worker(0)
    assert wait_until(lambda: alarm_events(door_db) == [("backlog", True), ("backlog", False)], 15)
    time.sleep(1.0)  # a few more looks: no second raise, no second clear
    assert alarm_events(door_db) == [("backlog", True), ("backlog", False)]


def test_the_status_carries_the_new_alarms_and_refuses_unknown_ones() -> None:
    state = DoorState(online=True, locked=True, open=False, alarms=(Alarm.DISK, Alarm.BACKUP))
    health = door_health(state, True, None, roster_too_old=True, backlog_too_old=True)
    assert health.alarms == ("roster", "backlog", "disk", "backup")
    status = validate_status(make_status("le-local", "door-1", "online", health=health))
    assert status["alarms"] == ["roster", "backlog", "disk", "backup"]
    wrong = make_status("le-local", "door-1", "online", health=health).replace(b'"disk"', b'"flood"')
    with pytest.raises(ProtocolError, match="alarms"):
        validate_status(wrong)
