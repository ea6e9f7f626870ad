"""The door's side of the local bus (sync/localbus.py): live news out, commands in. Never in the way of a decision:
when the bus is down nothing is queued, and the kiosk catches up from the database."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from common.config import BrokerConfig
from sync.localbus import DOOR_CMD, MAX_PACKET_BYTES, OFFLINE, BusError, Command, DoorState, decode_command
from sync.localbus import Message as BusMessage
from sync.mqtt import Message, MqttClient, MqttSettings, Will

log = logging.getLogger("halfday.door")


class DoorBus:
    """Publishes taps and the retained door state; hands each valid command to `on_command`."""

    def __init__(self, broker: BrokerConfig, client_name: str, on_command: Callable[[Command], None]) -> None:
        self.on_command = on_command
        self.last_state: DoorState | None = None
        self.client = MqttClient(
            MqttSettings.from_config(broker, max_packet_bytes=MAX_PACKET_BYTES),
            f"{client_name}-{os.getpid()}",
            clean_start=True,
            session_expiry_s=0,
            will=Will(OFFLINE.topic, OFFLINE.encode()),
            on_message=self._message,
            on_connect=self._connected,
        )
        self.client.subscribe(DOOR_CMD)

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        self.client.stop(final=Message(OFFLINE.topic, OFFLINE.encode(), qos=1, retain=True))

    def publish(self, message: BusMessage) -> None:
        # Live news only: when the bus is down the kiosk catches up from the database, so nothing is queued.
        if self.client.connected:
            self.client.publish(message.topic, message.encode(), qos=1, windowed=False)

    def publish_state(self, state: DoorState, force: bool = False) -> None:
        if (force or state != self.last_state) and self.client.connected:
            self.last_state = state
            self.client.publish(state.topic, state.encode(), qos=1, retain=True, windowed=False)

    def _connected(self, _session_present: bool) -> None:
        self.last_state = None  # publish the state again on every (re)connection

    def _message(self, message: Message) -> None:
        try:
            command = decode_command(message.payload)
        except BusError as exc:
            log.warning("commande ignorée sur %s : %s", message.topic, exc)
            return
        self.on_command(command)
