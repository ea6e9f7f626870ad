"""The door's side of the local bus: live news out, commands in. Never in the way of a decision."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from access.config import Config
from sync import localbus as bus

log = logging.getLogger("halfday.door")


class DoorBus:
    """Publishes taps and the retained door state; hands valid commands to `on_command`."""

    def __init__(self, config: Config, on_command: Callable[[dict[str, Any]], None]) -> None:
        from sync.mqtt import MqttClient, MqttSettings, Will

        broker = config.bus
        settings = MqttSettings.from_url(
            broker.url, username=broker.username, password_file=broker.password_file, ca_file=broker.ca_file
        )
        self.on_command = on_command
        self.last_state: bytes | None = None
        self.client = MqttClient(
            settings,
            f"halfday-door-{config.site.id}-{config.site.device}-{os.getpid()}",
            clean_start=True,
            session_expiry_s=0,
            will=Will(bus.DOOR_STATE, bus.encode({"online": False})),
            on_message=self._message,
            on_connect=self._connected,
        )
        self.client.subscribe(bus.DOOR_CMD)

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        from sync.mqtt import Message

        self.client.stop(final=Message(bus.DOOR_STATE, bus.encode({"online": False}), qos=1, retain=True))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        # Live news only: when the bus is down the kiosk catches up from the database, so nothing is queued.
        if self.client.connected:
            self.client.publish(topic, payload, qos=1, retain=retain, windowed=False)

    def publish_state(self, payload: bytes, force: bool = False) -> None:
        if (force or payload != self.last_state) and self.client.connected:
            self.last_state = payload
            self.publish(bus.DOOR_STATE, payload, retain=True)

    def _connected(self, _session_present: bool) -> None:
        self.last_state = None  # publish the state again on every (re)connection

    def _message(self, message: Any) -> None:
        payload = bus.decode(message.payload)
        if payload is None or payload.get("name") not in bus.COMMANDS:
            log.warning("message ignoré sur %s : charge utile invalide", message.topic)
            return
        self.on_command(payload)
