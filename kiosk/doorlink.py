"""The kiosk's side of the local bus (access/bus.py): news from the door and sync, commands to the door.

The bus is for live news and requests; the database holds the facts. So the kiosk never queues a command while
the bus is down (an "unlock" delivered minutes late would open the door for nobody), and every (re)connection
tells the screens to re-read their figures from the database.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from access.config import BrokerConfig
from common.db import new_id
from kiosk.live import Live
from kiosk.taps import DoorState, SyncStatus, parse_door_state, parse_sync_status, parse_tap
from sync import localbus as bus
from sync.mqtt import Message, MqttClient, MqttSettings

log = logging.getLogger("halfday.kiosk.bus")

# The broker is on the same Pi: it is back within a second or two of a restart, so retry often and never wait
# long (paho doubles the delay from the minimum up to the maximum).
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 4
# Keepalive on loopback: a dead broker is noticed within 1.5 x this, and the display shows the bus as down.
KEEPALIVE_S = 10


@dataclass(frozen=True)
class Reply:
    """The door's answer to a command."""

    ok: bool
    reason: str
    message: str


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
        settings = MqttSettings.from_url(
            broker.url,
            username=broker.username,
            password_file=broker.password_file,
            ca_file=broker.ca_file,
            cert_file=broker.cert_file,
            key_file=broker.key_file,
        )
        settings = dataclasses.replace(settings, keepalive_s=KEEPALIVE_S)
        self.live = live
        self._lock = threading.Lock()
        self._door_raw: dict[str, Any] | None = None
        self._sync_raw: dict[str, Any] | None = None
        self._waiters: dict[str, _Waiter] = {}
        self.client = MqttClient(
            settings,
            f"halfday-kiosk-{site_id}-{os.getpid()}-{secrets.token_hex(3)}",
            clean_start=True,
            session_expiry_s=0,
            on_message=self._on_message,
            on_connect=self._on_connect,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
        )
        for topic in (bus.TAP, bus.DOOR_STATE, bus.ENROLLED, bus.DOOR_REPLY, bus.SYNC_STATUS):
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
            raw = self._door_raw
        return parse_door_state(raw if self.connected else None)

    @property
    def sync_status(self) -> SyncStatus | None:
        with self._lock:
            raw = self._sync_raw
        return parse_sync_status(raw)

    # ------------------------------------------------------------------------------------------ commands

    def _send(self, name: str, fields: dict[str, Any]) -> tuple[str, _Waiter] | None:
        if not self.connected:
            return None
        request = new_id()
        waiter = _Waiter()
        with self._lock:
            self._waiters[request] = waiter
        payload = bus.encode({"name": name, "request": request, **fields})
        self.client.publish(bus.DOOR_CMD, payload, qos=1, windowed=False)
        return request, waiter

    def _forget(self, request: str) -> None:
        with self._lock:
            self._waiters.pop(request, None)

    def request(self, name: str, timeout_s: float, **fields: Any) -> Reply | None:
        """Send the command `name` to the door and wait for its reply; None if the bus or the door is silent."""
        sent = self._send(name, fields)
        if sent is None:
            return None
        request, waiter = sent
        try:
            with waiter.cond:
                waiter.cond.wait_for(lambda: waiter.reply is not None, timeout_s)
                return waiter.reply
        finally:
            self._forget(request)

    def enrol(self, reply_timeout_s: float, tap_timeout_s: float) -> tuple[Reply | None, str | None]:
        """Put the door in enrol mode and wait for a badge: (the door's reply, the UID tapped or None)."""
        sent = self._send("enrol", {"timeout_s": tap_timeout_s})
        if sent is None:
            return None, None
        request, waiter = sent
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
            self._forget(request)

    # ------------------------------------------------------------------------------------------ news

    def _on_connect(self, _session_present: bool) -> None:
        # Whatever happened while the bus was away is in the database: every screen re-reads it.
        self.live.publish("refresh")

    def _on_message(self, message: Message) -> None:
        data = bus.decode(message.payload)
        topic = message.topic
        if topic == bus.DOOR_STATE:
            with self._lock:
                self._door_raw = data
            self.live.publish("door")
            return
        if topic == bus.SYNC_STATUS:
            with self._lock:
                self._sync_raw = data
            self.live.publish("sync")
            return
        if data is None:
            log.warning("message ignoré sur %s : pas un objet JSON de version 1", topic)
            return
        if topic == bus.TAP:
            news = parse_tap(data)
            if news is None:
                log.warning("tap ignoré : champs manquants ou invalides")
                return
            self.live.publish("tap", news)
        elif topic in (bus.DOOR_REPLY, bus.ENROLLED):
            self._deliver(topic, data)

    def _deliver(self, topic: str, data: dict[str, Any]) -> None:
        request = data.get("request")
        with self._lock:
            waiter = self._waiters.get(request) if isinstance(request, str) else None
        if waiter is None:
            return
        with waiter.cond:
            if topic == bus.ENROLLED:
                uid = data.get("uid")
                if isinstance(uid, str):
                    waiter.enrolled = uid
            else:
                waiter.reply = Reply(
                    ok=data.get("ok") is True,
                    reason=str(data.get("reason") or ""),
                    message=str(data.get("message") or ""),
                )
            waiter.cond.notify_all()
