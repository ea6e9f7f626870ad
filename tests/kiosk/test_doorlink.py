"""The kiosk's bus link against a real Mosquitto: news checked at the boundary, retained states, commands and
replies matched by request id, no command queued while the bus is down, reconnection after a broker restart.

The test plays the door here (publishing its news and replies) only to check the kiosk's handling of each
message; tests/kiosk/test_end_to_end.py runs the real door."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import pytest

from kiosk.doorlink import DoorLink
from kiosk.live import Live, News
from kiosk.taps import TapNews
from sync import localbus as bus
from tests.kiosk.conftest import BusProbe, Site, wait_until
from tests.support.broker import Mosquitto

TAP = {
    "event": "e" * 32,
    "seq": 7,
    "at": "2026-11-23T09:00:00+00:00",
    "uid": "A1A2A3A4",
    "granted": True,
    "reason": "granted",
    "holder": "h" * 32,
    "first_name": "Alice",
    "plan": "carnet",
    "slot": "morning",
    "charged": True,
    "spent": 1,
    "balance": 9,
    "message_fr": "Bonjour Alice !",
    "message_en": "Welcome Alice!",
    "clock_ok": True,
    "connected_ns": None,
}


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
        probe.publish(bus.TAP, b"not json")
        probe.publish(bus.TAP, {**TAP, "granted": "yes"})
        probe.publish(bus.TAP, b'{"v": 2, "granted": true}')
        probe.publish(bus.TAP, TAP)
        news = next_news(q, "tap")
    assert isinstance(news.data, TapNews)
    assert (news.data.first_name, news.data.spent, news.data.balance, news.data.seq) == ("Alice", 1, 9, 7)


def test_retained_door_state_and_sync_status(live: Live, link: DoorLink, probe: BusProbe) -> None:
    assert not link.door_state.online and link.sync_status is None
    probe.publish(
        bus.DOOR_STATE,
        {"online": True, "locked": True, "open": False, "alarms": ["held_open"], "reader": {"state": "ok"}},
        retain=True,
    )
    probe.publish(
        bus.SYNC_STATUS, {"online": False, "last_contact": "2026-11-23T08:00:00Z", "backlog": 12}, retain=True
    )
    assert wait_until(lambda: link.door_state.online and link.sync_status is not None)
    assert link.door_state.alarms == ("held_open",) and link.door_state.locked
    status = link.sync_status
    assert status is not None and status.backlog == 12 and status.last_contact is not None
    probe.publish(bus.DOOR_STATE, {"online": False}, retain=True)  # the door's last will
    assert wait_until(lambda: not link.door_state.online)


def test_a_command_gets_the_reply_with_its_own_request_id(link: DoorLink, probe: BusProbe) -> None:
    def door() -> None:
        assert wait_until(lambda: bool(probe.commands_named("unlock")))
        command = probe.commands_named("unlock")[0]
        probe.publish(bus.DOOR_REPLY, {"request": "someone-else", "ok": False, "reason": "x", "message": ""})
        probe.publish(
            bus.DOOR_REPLY,
            {"request": command["request"], "ok": True, "reason": "unlocked", "message": "Porte ouverte"},
        )

    threading.Thread(target=door).start()
    reply = link.request("unlock", 5.0, by="manager", ref="test")
    assert reply is not None and reply.ok and reply.reason == "unlocked"
    assert probe.commands_named("unlock")[0]["by"] == "manager"


def test_silence_from_the_door_is_no_reply(link: DoorLink) -> None:
    assert link.request("unlock", 0.3, by="manager") is None


def test_enrol_waits_for_the_tapped_uid(link: DoorLink, probe: BusProbe) -> None:
    def door() -> None:
        assert wait_until(lambda: bool(probe.commands_named("enrol")))
        request = probe.commands_named("enrol")[0]["request"]
        probe.publish(bus.DOOR_REPLY, {"request": request, "ok": True, "reason": "enrol", "message": ""})
        probe.publish(bus.ENROLLED, {"request": request, "uid": "D1D2D3D4"})

    threading.Thread(target=door).start()
    reply, uid = link.enrol(2.0, 5.0)
    assert reply is not None and reply.ok and uid == "D1D2D3D4"


def test_no_command_is_sent_while_the_bus_is_down_and_the_link_comes_back(
    live: Live, link: DoorLink, broker: Mosquitto
) -> None:
    broker.kill()
    assert wait_until(lambda: not link.connected, 15)
    assert link.request("unlock", 0.2, by="manager") is None
    with live.subscribe() as q:
        broker.start()
        assert wait_until(lambda: link.connected, 15)
        next_news(q, "refresh")  # the screens re-read the database
