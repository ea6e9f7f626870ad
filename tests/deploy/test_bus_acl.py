"""The local bus as shipped: loopback only, no anonymous client, and each process limited to its own topics.

A real Mosquitto runs systemd/halfday-bus.conf and systemd/halfday-bus.acl (only the port and paths rewritten);
real clients connect as door, kiosk and sync with passwords hashed by mosquitto_passwd, as the installer does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync import localbus
from tests.deploy.appliance_bus import PASSWORDS, ApplianceBus, BusClient, start_shipped_bus

TAP, STATE, ENROLLED, REPLY, CMD = (
    localbus.TAP,
    localbus.DOOR_STATE,
    localbus.ENROLLED,
    localbus.DOOR_REPLY,
    localbus.DOOR_CMD,
)
SYNC_STATUS, SYNC_REQUEST, SYNC_REPLY = (localbus.SYNC_STATUS, localbus.SYNC_REQUEST, localbus.SYNC_REPLY)
TOPICS = localbus.TOPICS

# Who writes and who reads each topic of the local bus contract (sync/localbus.py).
WRITES = {
    "door": {TAP, STATE, ENROLLED, REPLY},
    "kiosk": {CMD, SYNC_REQUEST},
    "sync": {SYNC_STATUS, CMD, SYNC_REPLY},
}
READS = {
    "door": {CMD},
    "kiosk": {TAP, STATE, ENROLLED, REPLY, SYNC_STATUS, SYNC_REPLY},
    "sync": {SYNC_REQUEST, STATE, ENROLLED},
}


def writer_of(topic: str) -> str:
    return next(user for user, topics in sorted(WRITES.items()) if topic in topics)


def reader_of(topic: str) -> str:
    return next(user for user, topics in sorted(READS.items()) if topic in topics)


def test_every_topic_of_the_contract_has_its_writer_and_its_readers() -> None:
    written = [topic for topics in WRITES.values() for topic in topics]
    read = {topic for topics in READS.values() for topic in topics}
    assert set(written) == read == set(TOPICS)
    for topic in TOPICS:
        message = next(m for m in localbus_messages() if m.topic == topic)
        assert message.topic in written, message.__name__


def localbus_messages() -> list[type[localbus.Message]]:
    """Every message class of the contract, each with its topic."""
    found: list[type[localbus.Message]] = []
    for value in vars(localbus).values():
        if isinstance(value, type) and issubclass(value, localbus.Message) and "topic" in vars(value):
            found.append(value)
    return found


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceBus]:
    broker = start_shipped_bus(tmp_path_factory.mktemp("appliance-bus"))
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def clients(bus: ApplianceBus) -> Iterator[dict[str, BusClient]]:
    """One connected client per process, each subscribed to everything it is meant to read."""
    made = {user: BusClient(bus.port, user, password, f"test-{user}") for user, password in PASSWORDS.items()}
    for user, client in made.items():
        assert client.connect().is_failure is False, bus.log()
        for topic in sorted(READS[user]):
            assert not client.subscribe(topic).is_failure
    yield made
    for client in made.values():
        client.close()


def drain_until(client: BusClient, sentinel: bytes) -> list[tuple[str, bytes]]:
    """Messages received up to and including the one carrying `sentinel`."""
    seen: list[tuple[str, bytes]] = []
    while True:
        topic, payload = client.next_message()
        seen.append((topic, payload))
        if payload == sentinel:
            return seen


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("user", sorted(PASSWORDS))
def test_each_process_publishes_only_its_topics(clients: dict[str, BusClient], user: str, topic: str) -> None:
    allowed = topic in WRITES[user]
    probe = f"probe {user} {topic}".encode()
    reason = clients[user].publish(topic, probe)
    assert reason.is_failure is not allowed, f"{user} publishing {topic}: {reason}"
    # The broker handles one message after the other: once the rightful writer's sentinel reaches the reader, the
    # probe would have reached it before if the broker had let it through.
    sentinel = f"sentinel {user} {topic}".encode()
    assert not clients[writer_of(topic)].publish(topic, sentinel).is_failure
    payloads = [payload for _, payload in drain_until(clients[reader_of(topic)], sentinel)]
    assert (probe in payloads) is allowed


@pytest.mark.parametrize("user", sorted(PASSWORDS))
def test_each_process_receives_only_its_topics(bus: ApplianceBus, clients: dict[str, BusClient], user: str) -> None:
    listener = BusClient(bus.port, user, PASSWORDS[user], f"test-{user}-everything")
    assert not listener.connect().is_failure
    try:
        listener.subscribe("#")
        for topic in TOPICS:
            assert not clients[writer_of(topic)].publish(topic, b"news").is_failure
        own = sorted(READS[user])[0]
        sentinel = f"end for {user}".encode()
        assert not clients[writer_of(own)].publish(own, sentinel).is_failure
        received = {topic for topic, payload in drain_until(listener, sentinel) if payload == b"news"}
        assert received == READS[user]
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), ("door", "pas-le-bon"), ("kiosk", PASSWORDS["door"]), ("admin", "admin")],
    ids=["anonymous", "wrong-password", "another-users-password", "unknown-user"],
)
def test_refuses_clients_without_the_right_password(bus: ApplianceBus, username: str, password: str) -> None:
    client = BusClient(bus.port, username, password, f"test-refused-{username}")
    try:
        assert client.connect().is_failure
    finally:
        client.close()


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on `port`, from /proc/net/tcp and tcp6 (state 0A)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def test_listens_on_loopback_only(bus: ApplianceBus) -> None:
    # 0100007F is 127.0.0.1 as the kernel prints it (little-endian hex); no 0.0.0.0 and no IPv6 socket.
    assert listening_addresses(bus.port) == {"0100007F"}


def test_retained_door_state_survives_a_restart(tmp_path: Path) -> None:
    broker = start_shipped_bus(tmp_path)
    try:
        door = BusClient(broker.port, "door", PASSWORDS["door"], "test-door-retained")
        assert not door.connect().is_failure
        assert not door.publish(STATE, b'{"v":1,"lock":"locked"}', retain=True).is_failure
        door.close()
        broker.stop()  # SIGTERM: Mosquitto saves its store on the way out
        broker.start()
        kiosk = BusClient(broker.port, "kiosk", PASSWORDS["kiosk"], "test-kiosk-retained")
        assert not kiosk.connect().is_failure
        kiosk.subscribe(STATE)
        assert kiosk.next_message() == (STATE, b'{"v":1,"lock":"locked"}')
        kiosk.close()
    finally:
        broker.stop()
