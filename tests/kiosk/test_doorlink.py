"""The kiosk's bus link against a real Mosquitto: news checked at the boundary, retained states, commands and
replies matched by request id, no command queued while the bus is down, reconnection after a broker restart.

The test plays the door here (publishing its news and replies) only to check the kiosk's handling of each
message; tests/kiosk/test_end_to_end.py runs the real door."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterator

import pytest

from common.words import Alarm
from kiosk.doorlink import DoorLink, request_id
from kiosk.live import Live, News
from sync import localbus as bus
from tests.support.broker import Mosquitto
from tests.support.kiosk import TAP, BusProbe
from tests.support.site import Site
from tests.support.wait import wait_until


@pytest.fixture
def live() -> Live:
    return Live()


@pytest.fixture
def link(site: Site, live: Live) -> Iterator[DoorLink]:
    door_link = DoorLink(site.config.bus, "le-local", live, reconnect_min_s=1, reconnect_max_s=1)
    door_link.start()
    assert wait_until(lambda: door_link.connected, 10)
    yield door_link
    door_link.stop()


def next_news(q: queue.Queue[News], kind: str, timeout: float = 5.0) -> News:
    while True:
        news = q.get(timeout=timeout)
        if news.kind == kind:
            return news


def test_a_tap_reaches_the_screens_and_bad_payloads_do_not(live: Live, link: DoorLink, probe: BusProbe) -> None:
    with live.subscribe() as q:
        probe.publish_raw(bus.TAP, b"not json")
        probe.publish_raw(bus.TAP, TAP.encode().replace(b'"granted":true', b'"granted":"yes"'))
        probe.publish_raw(bus.TAP, TAP.encode().replace(b'"v":1', b'"v":2'))
        probe.publish(TAP)
        news = next_news(q, "tap")
    assert news.data == TAP
    assert (news.data.first_name, news.data.spent, news.data.balance, news.data.seq) == ("Alice", 1, 9, 7)


def test_retained_door_state_and_sync_status(live: Live, link: DoorLink, probe: BusProbe) -> None:
    assert not link.door_state.online and link.sync_status is None
    probe.publish(
        bus.DoorState(online=True, locked=True, open=False, alarms=(Alarm.HELD_OPEN,), reader=bus.ReaderHealth("ok")),
        retain=True,
    )
    last_contact = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)
    probe.publish(bus.SyncStatus(online=False, last_contact=last_contact, backlog=12), retain=True)
    assert wait_until(lambda: link.door_state.online and link.sync_status is not None)
    assert link.door_state.alarms == (Alarm.HELD_OPEN,) and link.door_state.locked
    assert link.sync_status == bus.SyncStatus(online=False, last_contact=last_contact, backlog=12)
    probe.publish(bus.OFFLINE, retain=True)  # the door's last will
    assert wait_until(lambda: not link.door_state.online)
    probe.publish_raw(bus.DOOR_STATE, b'{"v":1,"online":true,"locked":"perhaps"}', retain=True)
    assert not wait_until(lambda: link.door_state.online, timeout=0.5)  # unreadable: shown as unknown


def test_a_command_gets_the_reply_with_its_own_request_id(link: DoorLink, probe: BusProbe) -> None:
    def door() -> None:
        assert wait_until(lambda: bool(probe.commands_of(bus.Unlock)))
        command = probe.commands_of(bus.Unlock)[0]
        probe.publish(bus.Reply("someone-else", False, "x"))
        probe.publish(bus.Reply(command.request, True, bus.Reply.UNLOCKED))

    threading.Thread(target=door).start()
    reply = link.request(bus.Unlock(request_id(), by="manager", ref="test"), 5.0)
    assert reply is not None and reply.ok and reply.reason == bus.Reply.UNLOCKED
    assert probe.commands_of(bus.Unlock)[0].by == "manager"


def test_silence_from_the_door_is_no_reply(link: DoorLink) -> None:
    assert link.request(bus.Unlock(request_id()), 0.3) is None


def test_enrol_waits_for_the_tapped_uid(link: DoorLink, probe: BusProbe) -> None:
    def door() -> None:
        assert wait_until(lambda: bool(probe.commands_of(bus.Enrol)))
        request = probe.commands_of(bus.Enrol)[0].request
        probe.publish(bus.Reply(request, True, bus.Reply.ENROL))
        probe.publish(bus.Enrolled(request, "D1D2D3D4"))

    threading.Thread(target=door).start()
    reply, uid = link.enrol(2.0, 5.0)
    assert reply is not None and reply.ok and uid == "D1D2D3D4"


def test_no_command_is_sent_while_the_bus_is_down_and_the_link_comes_back(
    live: Live, link: DoorLink, broker: Mosquitto
) -> None:
    broker.kill()
    assert wait_until(lambda: not link.connected, 15)
    assert link.request(bus.Unlock(request_id()), 0.2) is None
    with live.subscribe() as q:
        broker.start()
        assert wait_until(lambda: link.connected, 15)
        next_news(q, "refresh")  # the screens re-read the database
