"""The local bus as shipped refuses an oversized packet on its header, before reading it whole.

A real Mosquitto runs systemd/halfday-bus.conf (only the port and paths rewritten). The oversized packets are
written byte by byte on a raw socket, as a compromised process could: no client library stands in the way.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterator

import pytest

from sync import localbus
from tests.deploy.appliance_bus import (
    ANSWER_TIMEOUT_S,
    CONF,
    PASSWORDS,
    ApplianceBus,
    BusClient,
    start_shipped_bus,
)

# The hub's message limit (sync/protocol.py MAX_MESSAGE_BYTES): what the local bus accepted before its own limit.
ONE_MIB = 1 << 20

# MQTT 5 packet types, reason codes and properties used here.
CONNECT, CONNACK, PUBLISH, DISCONNECT = 0x10, 0x20, 0x30, 0xE0
PACKET_TOO_LARGE = 0x95
MAXIMUM_PACKET_SIZE = 0x27


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(text: str) -> bytes:
    return struct.pack("!H", len(text.encode())) + text.encode()


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


class RawClient:
    """An MQTT 5 client on a bare socket: it sends exactly the bytes it is told to."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S)
        body = utf8("MQTT") + bytes([5, 0xC2]) + struct.pack("!H", 30) + varint(0)  # user, password, clean start
        body += utf8(f"raw-{username}") + utf8(username) + utf8(password)
        self.sock.sendall(bytes([CONNECT]) + varint(len(body)) + body)
        kind, self.connack = self.read_packet()
        assert kind == CONNACK and self.connack[1] == 0, self.connack  # reason: success

    def read_packet(self) -> tuple[int, bytes]:
        """The next packet's type and body; (0, b"") when the broker has closed the connection."""
        header = self.sock.recv(1)
        if not header:
            return 0, b""
        raw = b""
        while not raw or raw[-1] & 0x80:
            raw += self.sock.recv(1)
        length, _ = read_varint(raw, 0)
        body = b""
        while len(body) < length:
            chunk = self.sock.recv(length - len(body))
            if not chunk:
                break
            body += chunk
        return header[0] & 0xF0, body

    def connack_properties(self) -> dict[int, int]:
        """The four-byte integer properties of CONNACK (Maximum Packet Size among them)."""
        length, at = read_varint(self.connack, 2)
        found, end = {}, at + length
        while at < end:
            key = self.connack[at]
            if key in (MAXIMUM_PACKET_SIZE, 0x11):  # four-byte integers
                found[key] = struct.unpack("!I", self.connack[at + 1 : at + 5])[0]
                at += 5
            elif key in (0x21, 0x22, 0x13):  # two-byte integers
                at += 3
            elif key in (0x24, 0x25, 0x28, 0x29, 0x2A):  # bytes
                at += 2
            else:  # a string or binary property: stop here, the ones wanted come first in Mosquitto's CONNACK
                break
        return found

    def publish_header(self, topic: str, payload_bytes: int) -> None:
        """The fixed header of a QoS 0 PUBLISH on topic whose payload is payload_bytes long, and nothing more."""
        variable = utf8(topic) + varint(0)
        self.sock.sendall(bytes([PUBLISH]) + varint(len(variable) + payload_bytes))

    def send(self, data: bytes) -> None:
        """Send data; the broker may close the connection before it has all been sent."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def closed_by_broker(self) -> tuple[bool, int | None]:
        """Whether the broker closed the connection, and the reason of the DISCONNECT it sent first, if any."""
        reason = None
        try:
            while True:
                kind, body = self.read_packet()
                if kind == 0:
                    return True, reason
                if kind == DISCONNECT:
                    reason = body[0] if body else 0
        except (ConnectionResetError, BrokenPipeError):
            return True, reason
        except TimeoutError:
            return False, reason

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceBus]:
    broker = start_shipped_bus(tmp_path_factory.mktemp("appliance-bus-limits"))
    yield broker
    broker.stop()


@pytest.fixture
def kiosk(bus: ApplianceBus) -> Iterator[BusClient]:
    """The kiosk, subscribed to the door's taps."""
    client = BusClient(bus.port, "kiosk", PASSWORDS["kiosk"], "test-kiosk-limits")
    assert not client.connect().is_failure, bus.log()
    assert not client.subscribe(localbus.TAP).is_failure
    yield client
    client.close()


def shipped_limit() -> int:
    found = re.findall(r"^max_packet_size (\d+)$", CONF.read_text(), re.MULTILINE)
    assert len(found) == 1, "the shipped bus config should set max_packet_size once"
    return int(found[0])


def tap_from_the_door(bus: ApplianceBus, payload: bytes) -> None:
    door = BusClient(bus.port, "door", PASSWORDS["door"], "test-door-limits")
    assert not door.connect().is_failure, bus.log()
    assert not door.publish(localbus.TAP, payload).is_failure
    door.close()


def test_the_limit_is_the_local_contracts() -> None:
    limit = shipped_limit()
    assert limit == localbus.MAX_PACKET_BYTES
    # The largest message the contract allows, on its longest topic, with MQTT's headers, fits.
    longest = max(len(topic.encode()) for topic in localbus.TOPICS)
    assert localbus.MAX_PAYLOAD_BYTES + longest + 64 <= limit < ONE_MIB


def test_clients_are_told_the_limit(bus: ApplianceBus) -> None:
    client = RawClient(bus.port, "kiosk", PASSWORDS["kiosk"])
    try:
        assert client.connack_properties().get(MAXIMUM_PACKET_SIZE) == shipped_limit()
    finally:
        client.close()


def test_the_largest_message_of_the_contract_goes_through(bus: ApplianceBus, kiosk: BusClient) -> None:
    payload = b"x" * localbus.MAX_PAYLOAD_BYTES
    tap_from_the_door(bus, payload)
    assert kiosk.next_message() == (localbus.TAP, payload)


def test_an_oversized_message_is_refused_on_its_header_and_reaches_nobody(bus: ApplianceBus, kiosk: BusClient) -> None:
    door = RawClient(bus.port, "door", PASSWORDS["door"])
    try:
        # A 1 MiB tap announced, and not one byte of it sent: the broker cannot have read it whole.
        door.publish_header(localbus.TAP, ONE_MIB)
        closed, reason = door.closed_by_broker()
        assert closed, "the broker kept reading an oversized packet"
        assert reason == PACKET_TOO_LARGE
    finally:
        door.close()
    # The door again, through its rightful client: the kiosk's next message is this one, nothing came before.
    tap_from_the_door(bus, b"sentinel")
    assert kiosk.next_message() == (localbus.TAP, b"sentinel")


def test_the_smallest_packet_over_the_limit_is_refused(bus: ApplianceBus, kiosk: BusClient) -> None:
    door = RawClient(bus.port, "door", PASSWORDS["door"])
    try:
        # Mosquitto counts a packet as its remaining length and its type byte: this one is one byte over.
        variable = utf8(localbus.TAP) + varint(0)
        header = bytes([PUBLISH]) + varint(shipped_limit())
        payload = b"y" * (shipped_limit() - len(variable))
        door.send(header + variable + payload)
        closed, _reason = door.closed_by_broker()  # the reason may be lost: the broker resets what it left unread
        assert closed
    finally:
        door.close()
    tap_from_the_door(bus, b"sentinel 2")
    assert kiosk.next_message() == (localbus.TAP, b"sentinel 2")
