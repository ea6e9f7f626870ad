"""The kiosk's side of the local bus (sync/localbus.py): news from the door and sync, commands to the door.

The bus is for live news and requests; the database holds the facts. So the kiosk never queues a command while
the bus is down (an "unlock" delivered minutes late would open the door for nobody), and every (re)connection
tells the screens to re-read their figures from the database. A message that does not decode is logged and
dropped rather than shown half-understood.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from common.config import BrokerConfig
from common.db import new_id
from kiosk.live import Live
from sync.localbus import (
    DOOR_REPLY,
    DOOR_STATE,
    ENROLLED,
    MAX_PACKET_BYTES,
    OFFLINE,
    SYNC_STATUS,
    TAP,
    BusError,
    Command,
    DoorState,
    Enrol,
    Enrolled,
    Reply,
    SyncStatus,
    Tap,
)
from sync.mqtt import Message, MqttClient, MqttSettings

log = logging.getLogger("halfday.kiosk.bus")

# The broker is on the same Pi: it is back within a second or two of a restart, so retry often and never wait
# long (paho doubles the delay from the minimum up to the maximum).
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 4
# Keepalive on loopback: a dead broker is noticed within 1.5 x this, and the display shows the bus as down.
KEEPALIVE_S = 10


def request_id() -> str:
    """A fresh id for a command, to match the door's reply."""
    return new_id()


@dataclass
class _Waiter:
    cond: threading.Condition = field(default_factory=threading.Condition)
    reply: Reply | None = None
    enrolled: str | None = None


class DoorLink:
    """Subscribes to the door's and sync's news, keeps the latest retained states, sends commands."""

    def __init__(
        self,
        broker: BrokerConfig,
        site_id: str,
        live: Live,
        *,
        reconnect_min_s: int = RECONNECT_MIN_S,
        reconnect_max_s: int = RECONNECT_MAX_S,
    ) -> None:
        self.live = live
        self._lock = threading.Lock()
        self._door: DoorState = OFFLINE
        self._sync: SyncStatus | None = None
        self._waiters: dict[str, _Waiter] = {}
        self.client = MqttClient(
            MqttSettings.from_config(broker, keepalive_s=KEEPALIVE_S, max_packet_bytes=MAX_PACKET_BYTES),
            f"halfday-kiosk-{site_id}-{os.getpid()}-{secrets.token_hex(3)}",
            clean_start=True,
            session_expiry_s=0,
            on_message=self._on_message,
            on_connect=self._on_connect,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
        )
        for topic in (TAP, DOOR_STATE, ENROLLED, DOOR_REPLY, SYNC_STATUS):
            self.client.subscribe(topic)

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        self.client.stop(timeout=1.0)

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def door_state(self) -> DoorState:
        """The door's latest retained state; offline when the bus itself is down (we cannot know better)."""
        with self._lock:
            return self._door if self.connected else OFFLINE

    @property
    def sync_status(self) -> SyncStatus | None:
        """The sync agent's latest status; None when it never said anything."""
        with self._lock:
            return self._sync

    # ------------------------------------------------------------------------------------------ commands

    def _send(self, command: Command) -> _Waiter | None:
        if not self.connected:
            return None
        waiter = _Waiter()
        with self._lock:
            self._waiters[command.request] = waiter
        self.client.publish(command.topic, command.encode(), qos=1, windowed=False)
        return waiter

    def _forget(self, request: str) -> None:
        with self._lock:
            self._waiters.pop(request, None)

    def request(self, command: Command, timeout_s: float) -> Reply | None:
        """Send `command` to the door and wait for its reply; None if the bus or the door is silent."""
        waiter = self._send(command)
        if waiter is None:
            return None
        try:
            with waiter.cond:
                waiter.cond.wait_for(lambda: waiter.reply is not None, timeout_s)
                return waiter.reply
        finally:
            self._forget(command.request)

    def enrol(self, reply_timeout_s: float, tap_timeout_s: float) -> tuple[Reply | None, str | None]:
        """Put the door in enrol mode and wait for a badge: (the door's reply, the UID tapped or None)."""
        command = Enrol(request_id(), timeout_s=tap_timeout_s)
        waiter = self._send(command)
        if waiter is None:
            return None, None
        try:
            with waiter.cond:
                waiter.cond.wait_for(lambda: waiter.reply is not None or waiter.enrolled is not None, reply_timeout_s)
                if waiter.reply is not None and not waiter.reply.ok:
                    return waiter.reply, None
                if waiter.reply is None and waiter.enrolled is None:
                    return None, None
                waiter.cond.wait_for(lambda: waiter.enrolled is not None, tap_timeout_s)
                return waiter.reply, waiter.enrolled
        finally:
            self._forget(command.request)

    # ------------------------------------------------------------------------------------------ news

    def _on_connect(self, _session_present: bool) -> None:
        # Whatever happened while the bus was away is in the database: every screen re-reads it.
        self.live.publish("refresh")

    def _on_message(self, message: Message) -> None:
        topic, payload = message.topic, message.payload
        try:
            if topic == DOOR_STATE:
                state = DoorState.decode(payload)
                with self._lock:
                    self._door = state
                self.live.publish("door")
            elif topic == SYNC_STATUS:
                status = SyncStatus.decode(payload)
                with self._lock:
                    self._sync = status
                self.live.publish("sync")
            elif topic == TAP:
                self.live.publish("tap", Tap.decode(payload))
            elif topic == DOOR_REPLY:
                reply = Reply.decode(payload)
                self._deliver(reply.request, lambda w: setattr(w, "reply", reply))
            elif topic == ENROLLED:
                enrolled = Enrolled.decode(payload)
                self._deliver(enrolled.request, lambda w: setattr(w, "enrolled", enrolled.uid))
        except BusError as exc:
            if topic == DOOR_STATE:  # what cannot be read says nothing of the door: show it as unknown
                with self._lock:
                    self._door = OFFLINE
                self.live.publish("door")
            log.warning("message ignoré sur %s : %s", topic, exc)

    def _deliver(self, request: str, fill: Callable[[_Waiter], None]) -> None:
        with self._lock:
            waiter = self._waiters.get(request)
        if waiter is None:
            return
        with waiter.cond:
            fill(waiter)
            waiter.cond.notify_all()
