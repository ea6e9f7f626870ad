"""Plain MQTT subscribers for tests: what the hub publishes on the filters given, and what a door says on its
local bus."""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable

from sync import localbus as bus
from sync.mqtt import Message, MqttClient, MqttSettings
from tests.support.broker import Mosquitto
from tests.support.door import wait_message


class Listener:
    """A plain subscriber that collects what the hub publishes."""

    def __init__(self, broker: Mosquitto, *filters: str) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.client = MqttClient(
            MqttSettings(broker.host, broker.port),
            f"listener-{uuid.uuid4().hex[:6]}",
            clean_start=True,
            session_expiry_s=0,
            on_message=self.messages.put,
        )
        for topic_filter in filters:
            self.client.subscribe(topic_filter)
        self.client.start()
        assert self.client.wait_connected(10)

    def next(self, timeout: float = 10.0, where: Callable[[Message], bool] = lambda m: True) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            if where(message):
                return message


class DoorListener(Listener):
    """The door's local bus as a screen hears it: its state and its taps."""

    def __init__(self, broker: Mosquitto) -> None:
        super().__init__(broker, "halfday/local/#")

    def state(self, predicate: Callable[[bus.DoorState], bool], timeout: float = 20) -> bus.DoorState:
        return wait_message(self.messages, bus.DoorState, timeout, lambda s: s.online and predicate(s))

    def tap(self, timeout: float = 10) -> bus.Tap:
        return wait_message(self.messages, bus.Tap, timeout)
