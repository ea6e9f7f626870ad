"""The MQTT client announces the largest packet it takes: the broker drops a bigger one instead of delivering it,
so nobody on the network can make a process read a huge message whole (a real Mosquitto, MQTT 5)."""

from __future__ import annotations

import dataclasses
import queue

from sync.mqtt import MAX_PACKET_BYTES, Message, MqttClient, MqttSettings
from sync.protocol import MAX_MESSAGE_BYTES
from tests.support.broker import Mosquitto
from tests.support.wait import wait_until


def test_a_packet_over_the_announced_size_never_arrives(broker: Mosquitto) -> None:
    received: queue.Queue[Message] = queue.Queue()
    small = dataclasses.replace(MqttSettings(broker.host, broker.port), max_packet_bytes=4096)
    listener = MqttClient(small, "listener", clean_start=True, session_expiry_s=0, on_message=received.put)
    listener.subscribe("halfday/test/#")
    sender = MqttClient(MqttSettings(broker.host, broker.port), "sender", clean_start=True, session_expiry_s=0)
    listener.start()
    sender.start()
    try:
        assert wait_until(lambda: listener.connected and sender.connected, 10)
        sender.publish("halfday/test/big", b"x" * 8192)
        sender.publish("halfday/test/small", b"ok")
        first = received.get(timeout=5)
        assert (first.topic, first.payload) == ("halfday/test/small", b"ok")  # the big one was dropped, not late
        assert received.empty() and listener.connected
    finally:
        listener.stop()
        sender.stop()


def test_the_default_limit_leaves_room_for_the_protocols_largest_message() -> None:
    assert MAX_PACKET_BYTES > MAX_MESSAGE_BYTES
    assert MqttSettings("hub.example.org").max_packet_bytes == MAX_PACKET_BYTES
