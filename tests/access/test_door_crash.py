"""`halfday door` killed with SIGKILL during a burst of taps: no committed event lost, a sound database."""

from __future__ import annotations

import queue
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from halfday.sample import ALICE, BRUNO, CLARA, DENIS, UNKNOWN
from hardware.virtual_card import VirtualCard
from sync import localbus as bus
from sync.mqtt import Message, MqttClient, MqttSettings
from tests.support.broker import Mosquitto
from tests.support.door import TAP_GAP_S, start_door, wait_message
from tests.support.site import Site

# A crash run: with the soak and fault runs, in CI after `make test`.
pytestmark = pytest.mark.soak

BADGES = (ALICE, BRUNO, CLARA, DENIS, UNKNOWN)


def test_sigkill_during_a_burst_loses_no_committed_event(
    tmp_path: Path, broker: Mosquitto, new_site: Callable[..., Site]
) -> None:
    card = VirtualCard()
    site = new_site(reader_path=card.path, bus_url=f"mqtt://127.0.0.1:{broker.port}")
    config_path = site.config_path
    database = site.config.database_url.removeprefix("sqlite:///")
    messages: queue.Queue[Message] = queue.Queue()
    listener = MqttClient(
        MqttSettings.from_url(f"mqtt://127.0.0.1:{broker.port}"),
        "test-listener",
        clean_start=True,
        session_expiry_s=0,
        on_message=messages.put,
    )
    listener.subscribe("halfday/local/#")
    listener.start()
    door = start_door(config_path, tmp_path / "door.log")
    committed: list[str] = []
    try:
        assert listener.wait_connected(10)
        wait_message(messages, bus.DoorState, 20, lambda state: state.online)
        for i in range(12):
            card.present_nowait(BADGES[i % len(BADGES)], 0.3)
            if i == 8:
                time.sleep(0.15)
                door.send_signal(signal.SIGKILL)  # in the middle of the burst, maybe mid-transaction
            time.sleep(TAP_GAP_S + 0.3)
        door.wait(10)
        time.sleep(0.3)
        while not messages.empty():
            message = messages.get()
            if message.topic == bus.TAP:
                committed.append(bus.Tap.decode(message.payload).event)
    finally:
        if door.poll() is None:
            door.kill()
            door.wait()
    # Each tap the door announced was committed before it was announced: all of them are in the database.
    assert len(committed) >= 8
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT id, seq FROM events WHERE kind = 'entry' ORDER BY seq").fetchall()
        ids = {row[0] for row in rows}
        assert set(committed) <= ids
        seqs = [seq for (seq,) in conn.execute("SELECT seq FROM events ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))  # no hole, no duplicate
        outbox = {row[0] for row in conn.execute("SELECT event_id FROM outbox")}
        assert ids <= outbox  # every event still waits for the hub: nothing half-written
        before = max(seqs)

    # The door comes back, locked, and goes on with the next sequence number.
    door = start_door(config_path, tmp_path / "door.log")
    try:
        state = wait_message(messages, bus.DoorState, 20, lambda state: state.online)
        assert state.locked is True
        time.sleep(2.0)  # past the reader's debounce of the last badge
        card.present(ALICE, 0.3)
        tap = wait_message(messages, bus.Tap, 10)
        assert tap.granted and tap.seq > before
    finally:
        door.send_signal(signal.SIGTERM)
        assert door.wait(10) == 0
        listener.stop()
        card.close()
