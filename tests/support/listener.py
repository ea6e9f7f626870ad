"""A plain MQTT subscriber for tests: collects what the hub publishes on the filters given."""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable

from sync.mqtt import Message, MqttClient, MqttSettings
from tests.support.broker import Mosquitto


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
