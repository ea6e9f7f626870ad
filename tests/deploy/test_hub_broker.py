"""The hub's broker as shipped, with the devices' accounts the hub makes: Mosquitto itself keeps every door to its
own topics.

A real Mosquitto runs systemd/halfday-hub-broker.conf (only ports and paths rewritten, tests/deploy/hub_broker.py)
with its dynamic security plugin; sync.hub.broker_accounts makes the accounts of two doors of one site and one of
another, as the hub's pages do, and real paho clients connect as those doors over TLS, and as the hub's workers on
loopback. The oversized packets are written on a bare TLS socket, as a compromised Pi could.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import socket
import ssl
import struct
import subprocess
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import select

from access.config import load_config
from access.db import Database
from access.store import Stamp, append_event
from common.config import BrokerConfig
from sync.agent import AgentSettings, SyncAgent, outbox
from sync.hub import admin, broker_accounts
from sync.hub.broker_accounts import (
    BrokerAccounts,
    BrokerAccountsError,
    BrokerAccountsSettings,
    device_client_id,
    device_username,
    installer_lines,
    new_password,
    parse_device_username,
)
from sync.hub.config import ConfigError, HubSettings, parse_hub_settings
from sync.hub.db import HubDatabase
from sync.hub.models import DeviceCursor
from sync.hub.worker import HubWorker
from sync.mqtt import MAX_PACKET_BYTES
from sync.protocol import (
    DEVICE_TOPIC_KINDS,
    HUB_EVENTS_FILTER,
    HUB_REQUESTS_FILTER,
    HUB_STATUS_FILTER,
    MAX_MESSAGE_BYTES,
    ack_topic,
    command_topic,
    events_topic,
    replies_topic,
    requests_topic,
    roster_topic,
    status_topic,
)
from sync.signing import generate_private_key, public_key_b64, save_private_key
from tests.deploy.appliance_bus import ANSWER_TIMEOUT_S, BusClient
from tests.deploy.hub_broker import CONF, HOST, HubBroker, running_hub_broker
from tests.deploy.installer import Installer, config_in
from tests.deploy.test_bus_packet_size import (
    CONNACK,
    CONNECT,
    MAXIMUM_PACKET_SIZE,
    PACKET_TOO_LARGE,
    RawClient,
    utf8,
    varint,
)
from tests.support.broker import free_port
from tests.support.wait import wait_until

# Whole install runs: with the soak and fault runs, in CI after `make test`.
pytestmark = pytest.mark.soak

# Two doors of one site and one of another; the other site's door has the same device id as A1.
A1, A2, B1 = ("val-de-lot", "door-1"), ("val-de-lot", "door-2"), ("figeac", "door-1")
# A door of site A kept for the raw-socket tests, which take its client id away from any other connection.
A3 = ("val-de-lot", "door-3")
DEVICES = (A1, A2, B1, A3)
OTHER_SITE = "cahors"


@dataclass
class DeviceClient(BusClient):
    """A door's MQTT connection over TLS, as its Pi makes it, that also records being disconnected."""

    ca_file: str = ""
    disconnects: queue.Queue[ReasonCode] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.client.tls_set(ca_certs=self.ca_file)
        self.client.on_disconnect = self._on_disconnect

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        self.disconnects.put(reason)


def door(
    hub_broker: HubBroker, site_device: tuple[str, str], password: str | None, *, client_id: str | None = None
) -> DeviceClient:
    site, device = site_device
    return DeviceClient(
        hub_broker.tls_port,
        device_username(site, device),
        password,
        client_id or device_client_id(site, device),
        ca_file=str(hub_broker.ca_file),
    )


def connected_door(hub_broker: HubBroker, site_device: tuple[str, str], password: str) -> DeviceClient:
    client = door(hub_broker, site_device, password)
    reason = client.connect()
    assert not reason.is_failure, f"{site_device}: {reason}\n{hub_broker.log()}"
    return client


def hub_client(hub_broker: HubBroker, name: str) -> BusClient:
    """The hub's workers' account, on the loopback listener."""
    settings = hub_broker.hub_settings()
    client = BusClient(hub_broker.port, settings.username, settings.password, name)
    assert not client.connect().is_failure, hub_broker.log()
    return client


def drain_until(client: BusClient, sentinel: bytes) -> list[tuple[str, bytes]]:
    """Messages received up to and including the one carrying `sentinel`."""
    seen: list[tuple[str, bytes]] = []
    while True:
        topic, payload = client.next_message()
        seen.append((topic, payload))
        if payload == sentinel:
            return seen


def disconnected(client: DeviceClient) -> ReasonCode:
    return client.disconnects.get(timeout=ANSWER_TIMEOUT_S)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def hub_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubBroker]:
    with running_hub_broker(tmp_path_factory.mktemp("hub-broker")) as broker:
        yield broker


@pytest.fixture(scope="module")
def accounts(hub_broker: HubBroker) -> Iterator[BrokerAccounts]:
    made = BrokerAccounts(hub_broker.accounts_settings())
    yield made
    made.close()


@pytest.fixture(scope="module")
def passwords(accounts: BrokerAccounts) -> dict[tuple[str, str], str]:
    """The doors registered at the hub, each with the password the hub gave it."""
    made = {site_device: new_password() for site_device in DEVICES}
    for (site, device), password in made.items():
        accounts.add_device(site, device, password)
    return made


@pytest.fixture(scope="module")
def hub(hub_broker: HubBroker) -> Iterator[BusClient]:
    """The hub, watching every halfday topic."""
    client = hub_client(hub_broker, "test-hub-watch")
    assert not client.subscribe("halfday/v1/#").is_failure
    yield client
    client.close()


@pytest.fixture(scope="module")
def a1(hub_broker: HubBroker, passwords: dict[tuple[str, str], str]) -> Iterator[DeviceClient]:
    """Door A1, connected for the whole module (its account admits one connection: its client id)."""
    client = connected_door(hub_broker, A1, passwords[A1])
    yield client
    client.close()


# ---------------------------------------------------------------------------------------------- the shipped file


def shipped_lines(pattern: str) -> list[str]:
    return re.findall(rf"^{pattern}$", CONF.read_text(), re.MULTILINE)


def test_the_shipped_config_listens_for_the_hub_on_loopback_and_for_the_doors_over_tls_only() -> None:
    assert shipped_lines(r"listener .*") == ["listener 1883 127.0.0.1", "listener 8883"]
    text = CONF.read_text()
    tls_block = text.split("listener 8883", 1)[1].split("\nlistener", 1)[0]
    assert "certfile " in tls_block and "keyfile " in tls_block
    assert shipped_lines("allow_anonymous .*") == ["allow_anonymous false"]
    assert shipped_lines("per_listener_settings .*") == ["per_listener_settings false"]
    assert shipped_lines("autosave_interval .*") == ["autosave_interval 1"]
    assert shipped_lines("persistence .*") == ["persistence true"]
    assert not shipped_lines(r"(password_file|acl_file) .*"), "accounts are the plugin's alone"


def shipped_limit() -> int:
    found = shipped_lines(r"max_packet_size (\d+)")
    assert len(found) == 1, "the shipped hub broker config should set max_packet_size once"
    return int(found[0])


def test_the_packet_limit_is_the_protocols() -> None:
    limit = shipped_limit()
    assert limit == MAX_PACKET_BYTES  # what the hub's and the devices' clients announce at connect
    # The largest payload of the protocol, on its longest topic (two 63-character ids), with MQTT's headers, fits.
    longest = len(requests_topic("s" * 63, "d" * 63).encode())
    assert MAX_MESSAGE_BYTES + longest + 64 <= limit < 2 * MAX_MESSAGE_BYTES


# ---------------------------------------------------------------------------------------------- what a door may do


def test_a_door_publishes_its_own_topics_and_the_hub_gets_them(a1: DeviceClient, hub: BusClient) -> None:
    site, device = A1
    sent = {topic(site, device): f"from a1 on {topic.__name__}".encode() for topic in (events_topic, requests_topic)}
    sent[status_topic(site, device)] = b"a1 online"
    for topic, payload in sent.items():
        assert not a1.publish(topic, payload, retain=topic.endswith("/status")).is_failure, topic
    received = dict(drain_until(hub, b"a1 online"))
    assert {topic: received.get(topic) for topic in sent} == sent


def test_the_hubs_workers_subscribe_as_the_protocol_says(hub_broker: HubBroker, a1: DeviceClient) -> None:
    worker = hub_client(hub_broker, "test-hub-worker")
    try:
        for topic_filter in (HUB_EVENTS_FILTER, HUB_REQUESTS_FILTER, HUB_STATUS_FILTER):
            assert not worker.subscribe(topic_filter).is_failure, topic_filter
        sent = {topic(*A1): f"to the workers: {topic.__name__}".encode() for topic in (events_topic, requests_topic)}
        sent[status_topic(*A1)] = b"to the keeper: status"
        for topic, payload in sent.items():
            assert not a1.publish(topic, payload).is_failure
        seen: set[tuple[str, bytes]] = set()
        while not set(sent.items()) <= seen:  # the retained status of an earlier test may come first
            seen.add(worker.next_message())
    finally:
        worker.close()


def test_a_door_reads_its_own_topics_and_its_sites_roster_and_nothing_else(
    hub_broker: HubBroker, passwords: dict[tuple[str, str], str]
) -> None:
    site, device = A2
    sender = hub_client(hub_broker, "test-hub-sender")
    assert not sender.publish(roster_topic(site), b"roster of A", retain=True).is_failure
    assert not sender.publish(roster_topic(B1[0]), b"roster of B", retain=True).is_failure
    a2 = connected_door(hub_broker, A2, passwords[A2])
    try:
        own = [topic(site, device) for topic in (ack_topic, command_topic, replies_topic)]
        for topic in [*own, roster_topic(site)]:
            assert not a2.subscribe(topic).is_failure, topic
        assert a2.next_message() == (roster_topic(site), b"roster of A")  # retained, for a door that comes later
        # Everything the hub sends, to every door: A2 gets its own and its site's, then the sentinel, nothing more.
        everyone = [topic(s, d) for s, d in DEVICES for topic in (ack_topic, command_topic, replies_topic)]
        for topic in [*everyone, roster_topic(site), roster_topic(B1[0]), roster_topic(OTHER_SITE)]:
            assert not sender.publish(topic, b"news").is_failure
        assert not sender.publish(own[0], b"end").is_failure
        received = [topic for topic, payload in drain_until(a2, b"end") if payload == b"news"]
        assert sorted(received) == sorted([*own, roster_topic(site)])
    finally:
        a2.close()
        sender.close()


def others_topics() -> list[str]:
    """What door A1 must not publish: every other door's topics, both sites' rosters, anything outside halfday."""
    other_doors = [topic(s, d) for s, d in (A2, B1) for topic in (events_topic, status_topic, requests_topic)]
    return [*other_doors, roster_topic(A1[0]), roster_topic(B1[0]), "halfday/v1/val-de-lot", "halfday/v2/x", "news"]


@pytest.mark.parametrize("topic", others_topics())
def test_a_door_cannot_publish_as_another_door_or_the_hub(a1: DeviceClient, hub: BusClient, topic: str) -> None:
    probe = f"forged by a1 on {topic}".encode()
    reason = a1.publish(topic, probe, retain=True)
    assert reason.is_failure, f"{topic}: {reason}"
    # The broker handles one message after the other: once A1's own sentinel reaches the hub, the forged one
    # would have reached it before if the broker had let it through.
    sentinel = f"sentinel after {topic}".encode()
    assert not a1.publish(events_topic(*A1), sentinel).is_failure
    assert probe not in [payload for _, payload in drain_until(hub, sentinel)]


def test_a_door_cannot_administer_the_broker(a1: DeviceClient, accounts: BrokerAccounts) -> None:
    command = {"commands": [{"command": "createClient", "username": "intrus", "password": "x" * 40}]}
    assert a1.publish("$CONTROL/dynamic-security/v1", json.dumps(command).encode()).is_failure
    assert "intrus" not in accounts.usernames()


def forbidden_filters() -> list[str]:
    """What door A1 must not subscribe to: another door's acks, commands and replies (B1 has A1's device id in
    another site), another site's roster, wildcards over other doors, the hub's shares, the broker's own topics."""
    others = [topic(s, d) for s, d in (A2, B1) for topic in (ack_topic, command_topic, replies_topic)]
    wide = ["halfday/v1/val-de-lot/+/cmd", "halfday/v1/+/roster", "halfday/v1/val-de-lot/#", "halfday/v1/#", "#"]
    return [
        *others,
        roster_topic(B1[0]),
        *wide,
        "$share/hub/halfday/v1/+/+/events",
        "$CONTROL/dynamic-security/v1/response",
        "$SYS/#",
    ]


@pytest.mark.parametrize("topic_filter", forbidden_filters())
def test_a_door_cannot_subscribe_to_another_doors_or_sites_topics(a1: DeviceClient, topic_filter: str) -> None:
    reason = a1.subscribe(topic_filter)
    assert reason.is_failure, f"{topic_filter}: {reason}"


def test_every_kind_of_a_doors_topic_is_its_own(a1: DeviceClient) -> None:
    site, device = A1
    for kind in DEVICE_TOPIC_KINDS:
        assert not a1.subscribe(f"halfday/v1/{site}/{device}/{kind}").is_failure, kind


# ---------------------------------------------------------------------------------------------- who may connect


@pytest.mark.parametrize(
    ("username", "password_of", "client_id"),
    [
        (None, None, "halfday-anonymous"),
        (device_username(*A2), None, device_client_id(*A2)),
        (device_username(*A2), A1, device_client_id(*A2)),
        ("val-de-lot.door-9", A1, device_client_id("val-de-lot", "door-9")),
        ("halfday-hub", A1, "halfday-hub-0"),
    ],
    ids=["anonymous", "wrong-password", "another-doors-password", "unknown-door", "the-hub-with-a-doors-password"],
)
def test_refuses_a_client_without_the_right_password(
    hub_broker: HubBroker,
    passwords: dict[tuple[str, str], str],
    username: str | None,
    password_of: tuple[str, str] | None,
    client_id: str,
) -> None:
    password = passwords[password_of] if password_of else ("pas-le-bon" if username else None)
    client = DeviceClient(hub_broker.tls_port, username, password, client_id, ca_file=str(hub_broker.ca_file))
    try:
        assert client.connect().is_failure
    finally:
        client.close()


def test_a_door_cannot_take_another_doors_client_id(
    hub_broker: HubBroker, passwords: dict[tuple[str, str], str]
) -> None:
    b1 = connected_door(hub_broker, B1, passwords[B1])
    try:
        assert not b1.subscribe(command_topic(*B1)).is_failure
        # A1's own password, B1's client id: taking it over would kick B1 and hand A1 B1's session.
        thief = door(hub_broker, A1, passwords[A1], client_id=device_client_id(*B1))
        assert thief.connect().is_failure
        thief.close()
        sender = hub_client(hub_broker, "test-hub-b1")
        assert not sender.publish(command_topic(*B1), b"still yours").is_failure
        sender.close()
        assert b1.next_message() == (command_topic(*B1), b"still yours")
        assert b1.disconnects.empty()
    finally:
        b1.close()


def test_the_tls_listener_refuses_plain_mqtt(hub_broker: HubBroker, passwords: dict[tuple[str, str], str]) -> None:
    body = utf8("MQTT") + bytes([5, 0xC2]) + struct.pack("!H", 30) + varint(0)
    body += utf8(device_client_id(*A2)) + utf8(device_username(*A2)) + utf8(passwords[A2])
    with socket.create_connection((HOST, hub_broker.tls_port), timeout=ANSWER_TIMEOUT_S) as plain:
        plain.sendall(bytes([CONNECT]) + varint(len(body)) + body)
        try:
            answer = plain.recv(64)
        except ConnectionResetError:
            answer = b""
    assert answer == b"", "the TLS listener answered a plain MQTT client"


# ---------------------------------------------------------------------------------------------- the hub's changes


def test_a_removed_door_is_cut_off_at_once_and_cannot_connect_again(hub_broker: HubBroker) -> None:
    site_device = ("figeac", "door-7")
    password = new_password()
    with BrokerAccounts(hub_broker.accounts_settings()) as accounts:
        accounts.add_device(*site_device, password)
        connected = connected_door(hub_broker, site_device, password)
        accounts.remove_device(*site_device)
        assert disconnected(connected).is_failure
        connected.close()
        accounts.remove_device(*site_device)  # again: nothing left to remove, no error
        assert device_username(*site_device) not in accounts.usernames()
    again = door(hub_broker, site_device, password)
    try:
        assert again.connect().is_failure
    finally:
        again.close()


def test_adding_again_is_idempotent_and_resets_the_password(hub_broker: HubBroker, hub: BusClient) -> None:
    site_device = ("figeac", "door-8")
    first, second = new_password(), new_password()
    with BrokerAccounts(hub_broker.accounts_settings()) as accounts:
        accounts.add_device(*site_device, first)
        accounts.add_device(*site_device, first)
        assert accounts.usernames().count(device_username(*site_device)) == 1
        connected = connected_door(hub_broker, site_device, first)
        # A reset (a Pi replaced, a password shown to the wrong person): the old connection goes at once.
        accounts.add_device(*site_device, second)
        assert disconnected(connected).is_failure
        connected.close()
    old = door(hub_broker, site_device, first)
    assert old.connect().is_failure
    old.close()
    renewed = connected_door(hub_broker, site_device, second)
    try:
        assert not renewed.publish(events_topic(*site_device), b"after the reset").is_failure
        assert renewed.publish(events_topic(*B1), b"still not B1").is_failure
        assert (events_topic(*site_device), b"after the reset") in drain_until(hub, b"after the reset")
    finally:
        renewed.close()


def mosquitto_ctrl(hub_broker: HubBroker, *args: str) -> None:
    """A change made by hand on the broker, with Mosquitto's own tool, as the admin."""
    password = hub_broker.admin_password_file.read_text().strip()
    login = ["-h", HOST, "-p", str(hub_broker.port), "-u", "halfday-admin", "-P", password]
    result = subprocess.run(["mosquitto_ctrl", *login, "dynsec", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_hubs_list_is_the_truth_and_reapplying_it_changes_nothing_more(tmp_path: Path) -> None:
    x1, x2, x3 = ("causse", "door-1"), ("causse", "door-2"), ("causse", "door-3")
    password = new_password()
    with running_hub_broker(tmp_path) as hub_broker, BrokerAccounts(hub_broker.accounts_settings()) as accounts:
        accounts.add_device(*x1, password)
        accounts.add_device(*x2, new_password())
        # Drift made by hand: X1 loses the right to publish its events and its pinned client id.
        x1_role, x1_name = f"device:{device_username(*x1)}", device_username(*x1)
        mosquitto_ctrl(hub_broker, "removeRoleACL", x1_role, "publishClientSend", f"halfday/v1/{x1[0]}/{x1[1]}/#")
        mosquitto_ctrl(hub_broker, "setClientId", x1_name, "halfday-somebody-else")
        # The hub lists X1 and X3; X2 was removed from the hub's database while the broker was unreachable.
        assert accounts.reconcile([x1, x3]).missing == (x3,)
        assert device_username(*x2) not in accounts.usernames()
        connected = connected_door(hub_broker, x1, password)
        assert not connected.publish(events_topic(*x1), b"restored").is_failure
        # Again: the same answer, and a door whose account is right keeps its connection.
        again = accounts.reconcile([x1, x3])
        assert (again.missing, again.removed) == ((x3,), ())
        assert not connected.publish(events_topic(*x1), b"still connected").is_failure
        assert connected.disconnects.empty()
        connected.close()
        # A group that gives X1 the hub's role: its own role alone is what the hub restores.
        mosquitto_ctrl(hub_broker, "createGroup", "wide")
        mosquitto_ctrl(hub_broker, "addGroupRole", "wide", "halfday-hub")
        mosquitto_ctrl(hub_broker, "addGroupClient", "wide", x1_name)
        widened = connected_door(hub_broker, x1, password)
        assert not widened.publish(events_topic(*x3), b"as another door").is_failure
        widened.close()
        accounts.reconcile([x1, x3])
        narrowed = connected_door(hub_broker, x1, password)
        assert narrowed.publish(events_topic(*x3), b"as another door").is_failure
        narrowed.close()


def test_a_subscription_made_under_a_wider_role_reads_only_what_the_role_grants_now(tmp_path: Path) -> None:
    x1, x3 = ("causse", "door-1"), ("causse", "door-3")
    password = new_password()
    with running_hub_broker(tmp_path) as hub_broker, BrokerAccounts(hub_broker.accounts_settings()) as accounts:
        accounts.add_device(*x1, password)
        # Widened by hand: X1 may read its whole site, and subscribes to it.
        role = f"device:{device_username(*x1)}"
        mosquitto_ctrl(hub_broker, "addRoleACL", role, "subscribePattern", "halfday/v1/causse/#", "allow")
        mosquitto_ctrl(hub_broker, "addRoleACL", role, "publishClientReceive", "halfday/v1/causse/#", "allow")
        connected = connected_door(hub_broker, x1, password)
        assert not connected.subscribe("halfday/v1/causse/#").is_failure
        # The hub puts the role back. The plugin keeps X1 connected, and its subscription with it.
        accounts.reconcile([x1])
        assert connected.subscribe("halfday/v1/causse/#").is_failure
        sender = hub_client(hub_broker, "test-hub-session")
        assert not sender.publish(command_topic(*x3), b"not yours").is_failure
        assert not sender.publish(command_topic(*x1), b"yours").is_failure
        sender.close()
        # Reading is refused by default, checked on every message: the old subscription brings only X1's own.
        assert connected.next_message() == (command_topic(*x1), b"yours")
        assert connected.disconnects.empty()
        connected.close()


def test_accounts_and_the_retained_roster_survive_a_restart(tmp_path: Path) -> None:
    site_device = ("gourdon", "door-1")
    password = new_password()
    with running_hub_broker(tmp_path) as hub_broker, BrokerAccounts(hub_broker.accounts_settings()) as accounts:
        accounts.add_device(*site_device, password)
        sender = hub_client(hub_broker, "test-hub-roster")
        assert not sender.publish(roster_topic(site_device[0]), b"roster v7", retain=True).is_failure
        sender.close()
        hub_broker.broker.stop()  # SIGTERM: Mosquitto saves its store on the way out; the plugin saved at once
        hub_broker.broker.start()
        later = connected_door(hub_broker, site_device, password)
        assert not later.subscribe(roster_topic(site_device[0])).is_failure
        assert later.next_message() == (roster_topic(site_device[0]), b"roster v7")
        later.close()
        # The hub's admin connection went with the broker; the next change connects again.
        accounts.add_device("gourdon", "door-2", new_password())
        assert "gourdon.door-2" in accounts.usernames()


# ---------------------------------------------------------------------------------------------- packet size


class TlsRawClient(RawClient):
    """An MQTT 5 client on a bare TLS socket: it sends exactly the bytes it is told to."""

    def __init__(self, hub_broker: HubBroker, site_device: tuple[str, str], password: str) -> None:
        context = ssl.create_default_context(cafile=str(hub_broker.ca_file))
        raw = socket.create_connection((HOST, hub_broker.tls_port), timeout=ANSWER_TIMEOUT_S)
        self.sock = context.wrap_socket(raw, server_hostname=HOST)
        body = utf8("MQTT") + bytes([5, 0xC2]) + struct.pack("!H", 30) + varint(0)  # user, password, clean start
        body += utf8(device_client_id(*site_device)) + utf8(device_username(*site_device)) + utf8(password)
        self.sock.sendall(bytes([CONNECT]) + varint(len(body)) + body)
        kind, self.connack = self.read_packet()
        assert kind == CONNACK and self.connack[1] == 0, self.connack  # reason: success

    def read_packet(self) -> tuple[int, bytes]:
        try:
            return super().read_packet()
        except ssl.SSLError:  # the broker closed the TLS session without a goodbye
            return 0, b""


def test_doors_are_told_the_limit(hub_broker: HubBroker, passwords: dict[tuple[str, str], str]) -> None:
    client = TlsRawClient(hub_broker, A3, passwords[A3])
    try:
        assert client.connack_properties().get(MAXIMUM_PACKET_SIZE) == shipped_limit()
    finally:
        client.close()


def test_the_largest_message_of_the_protocol_reaches_the_hub(
    hub_broker: HubBroker, passwords: dict[tuple[str, str], str], hub: BusClient
) -> None:
    a3 = connected_door(hub_broker, A3, passwords[A3])
    try:
        payload = b"x" * MAX_MESSAGE_BYTES
        assert not a3.publish(events_topic(*A3), payload).is_failure
        assert (events_topic(*A3), payload) in drain_until(hub, payload)
    finally:
        a3.close()


def test_an_oversized_packet_is_refused_on_its_header_and_reaches_nobody(
    hub_broker: HubBroker, passwords: dict[tuple[str, str], str], hub: BusClient
) -> None:
    raw = TlsRawClient(hub_broker, A3, passwords[A3])
    try:
        # 2 MiB announced on A3's own topic, and not one byte of it sent: the broker cannot have read it whole.
        raw.publish_header(events_topic(*A3), 2 * MAX_MESSAGE_BYTES)
        closed, reason = raw.closed_by_broker()
        assert closed, "the broker kept reading an oversized packet"
        assert reason == PACKET_TOO_LARGE
    finally:
        raw.close()
    a3 = connected_door(hub_broker, A3, passwords[A3])
    try:
        assert not a3.publish(events_topic(*A3), b"after the giant").is_failure
        assert drain_until(hub, b"after the giant")[-1] == (events_topic(*A3), b"after the giant")
    finally:
        a3.close()


# ---------------------------------------------------------------------------------------------- the hub's side


def test_names_read_back_one_way_only() -> None:
    assert device_username("val-de-lot", "door-1") == "val-de-lot.door-1"
    assert parse_device_username("val-de-lot.door-1") == ("val-de-lot", "door-1")
    assert parse_device_username("halfday-hub") is None
    assert parse_device_username("a.b.c") is None
    with pytest.raises(ValueError):
        device_username("Val de Lot", "door-1")
    with pytest.raises(ValueError):
        device_username("site", "door.1")
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(re.fullmatch(r"[0-9a-f]{64}", p) for p in passwords)


def test_the_first_accounts_are_written_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = {name: tmp_path / "etc" / name for name in ("admin.password", "hub.password")}
    dynsec = tmp_path / "state" / "dynamic-security.json"
    init = ["init", "--dynsec-file", str(dynsec), "--admin-username", "admin-du-reseau"]
    init += ["--admin-password-file", str(paths["admin.password"]), "--hub-password-file", str(paths["hub.password"])]
    assert broker_accounts.main(init) == 0
    first = {path: path.read_bytes() for path in [dynsec, *paths.values()]}
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in first)
    document = json.loads(dynsec.read_text())
    assert [c["username"] for c in document["clients"]] == ["admin-du-reseau", "halfday-hub"]
    assert 'username = "admin-du-reseau"' in capsys.readouterr().out
    # Again: the broker owns its file from its first start, and the hub keeps using the same passwords.
    assert broker_accounts.main(init) == 0
    assert {path: path.read_bytes() for path in first} == first
    assert "rien n'a changé" in capsys.readouterr().out
    # A hub account named like a door would be taken for one, and deleted by the next reconcile.
    assert broker_accounts.main([*init[:3], "--admin-username", "site.door-1", *init[5:]]) == 2


def test_a_weak_password_is_refused_before_reaching_the_broker(accounts: BrokerAccounts) -> None:
    with pytest.raises(ValueError):
        accounts.add_device("figeac", "door-5", "motdepasse")


def secret_file(path: Path, text: str, mode: int = 0o600) -> str:
    path.write_text(text + "\n")
    path.chmod(mode)
    return str(path)


def test_an_unreachable_broker_is_said_in_french(tmp_path: Path) -> None:
    password = secret_file(tmp_path / "admin.password", new_password())
    settings = BrokerAccountsSettings(
        BrokerConfig(f"mqtt://{HOST}:{free_port()}", username="halfday-admin", password_file=password),
        "mqtts://hub.example.org:8883",
        answer_timeout_s=2.0,
    )
    with BrokerAccounts(settings) as accounts, pytest.raises(BrokerAccountsError, match="injoignable"):
        accounts.add_device("figeac", "door-5", new_password())


def test_a_wrong_admin_password_is_said_in_french(hub_broker: HubBroker, tmp_path: Path) -> None:
    settings = hub_broker.accounts_settings()
    wrong = secret_file(tmp_path / "wrong.password", new_password())
    accounts = BrokerAccounts(replace(settings, broker=replace(settings.broker, password_file=wrong)))
    with accounts, pytest.raises(BrokerAccountsError, match="refuse le compte d'administration"):
        accounts.remove_device("figeac", "door-5")


def test_the_hubs_workers_cannot_administer_the_broker(hub_broker: HubBroker, tmp_path: Path) -> None:
    settings = hub_broker.accounts_settings()
    hub_password = secret_file(tmp_path / "hub.password", hub_broker.hub_password)
    workers = replace(settings.broker, username=hub_broker.hub_username, password_file=hub_password)
    with (
        BrokerAccounts(replace(settings, broker=workers)) as accounts,
        pytest.raises(BrokerAccountsError, match="halfday-admin attendu"),
    ):
        accounts.add_device("figeac", "door-5", new_password())


def test_an_admin_password_others_can_read_is_refused(hub_broker: HubBroker, tmp_path: Path) -> None:
    settings = hub_broker.accounts_settings()
    open_file = secret_file(tmp_path / "open.password", new_password(), mode=0o644)
    with pytest.raises(BrokerAccountsError, match="chmod 600"):
        BrokerAccounts(replace(settings, broker=replace(settings.broker, password_file=open_file)))


def hub_toml(accounts: dict[str, Any] | None) -> dict[str, Any]:
    hub: dict[str, Any] = {"database_url": "sqlite:///hub.sqlite", "private_key": "/etc/halfday/hub.key"}
    if accounts is not None:
        hub["broker_accounts"] = accounts
    return {"hub": hub}


def test_the_hubs_config_reads_its_broker_accounts_table(tmp_path: Path) -> None:
    password = secret_file(tmp_path / "admin.password", new_password())
    table = {"username": "halfday-admin", "password_file": password, "device_url": "mqtts://hub.example.org:8883"}
    settings = parse_hub_settings(hub_toml(table)).broker_accounts
    assert settings == BrokerAccountsSettings(
        BrokerConfig("mqtt://127.0.0.1:1883", username="halfday-admin", password_file=password),
        "mqtts://hub.example.org:8883",
    )
    assert parse_hub_settings(hub_toml(None)).broker_accounts is None
    problems: dict[str, dict[str, Any]] = {
        "device_url": {**table, "device_url": "mqtt://hub.example.org:1883"},
        "password_file": {**table, "password_file": str(tmp_path / "absent")},
        "username": {k: v for k, v in table.items() if k != "username"},
        "admin_password": {**table, "admin_password": "en clair"},
        "answer_timeout_s": {**table, "answer_timeout_s": 0},
    }
    for key, bad in problems.items():
        with pytest.raises(ConfigError) as caught:
            parse_hub_settings(hub_toml(bad))
        assert caught.value.key == f"hub.broker_accounts.{key}"


# ---------------------------------------------------------------------------------------------- a door, end to end


def test_installer_lines_say_what_install_pi_needs(hub_broker: HubBroker) -> None:
    password = new_password()
    lines = installer_lines(
        site="val-de-lot",
        device="door-2",
        username="val-de-lot.door-2",
        password=password,
        hub_url="mqtts://hub.example.org:8883",
        public_key_b64="Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
        ca_pem=hub_broker.tls.ca_pem,
        site_name="Le Val de Lot",
    )
    words = shlex.split(lines.split("sudo ", 1)[1].split("\nrm ", 1)[0].replace("\\\n", " "))
    options = dict(zip(words[1::2], words[2::2], strict=True))
    assert words[0] == "install/install-pi.sh"
    assert options == {
        "--site-id": "val-de-lot",
        "--device-id": "door-2",
        "--site-name": "Le Val de Lot",
        "--hub-url": "mqtts://hub.example.org:8883",
        "--hub-public-key": "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=",
        "--hub-username": "val-de-lot.door-2",
        "--hub-password-file": "halfday-hub-password",
        "--hub-ca": "halfday-hub-ca.pem",
    }
    # The password line begins with a space: bash keeps it out of the history.
    assert next(line for line in lines.splitlines() if password in line).startswith(" (umask 077")
    with pytest.raises(ValueError):
        installer_lines(
            site="val-de-lot",
            device="door-2",
            username="val-de-lot.door-1",
            password=password,
            hub_url="mqtts://hub.example.org:8883",
            public_key_b64="k",
        )
    with pytest.raises(ValueError):
        installer_lines(
            site="val-de-lot",
            device="door-2",
            username="val-de-lot.door-2",
            password=password,
            hub_url="mqtt://hub.example.org:1883",
            public_key_b64="k",
        )


def run_lines_on_a_new_pi(installer: Installer, root: Path, lines: str) -> subprocess.CompletedProcess[str]:
    """The printed lines run by bash in the sources' folder, as the manager pastes them on a Pi; their `sudo`
    runs the installer into `root` with the test harness's stand-ins (tests/deploy/installer.py)."""
    shim = (
        "set -euo pipefail\n"
        'sudo() { [ "$1" = install/install-pi.sh ] || exit 97; shift; '
        'bash install/install-pi.sh --root "$HALFDAY_TEST_ROOT" "$@"; }\n'
    )
    environment = {
        **os.environ,
        "PATH": f"{installer.bin}:{os.environ['PATH']}",
        "HALFDAY_FAKE_STATE": str(installer.state),
        "HALFDAY_FAKE_ROOT": str(root),
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "HALFDAY_PIP_ARGS": installer.pip_args(),
        "HALFDAY_MANAGER_PASSWORD": "accueil-du-causse",
        "HALFDAY_TEST_ROOT": str(root),
    }
    return subprocess.run(
        ["bash", "-c", shim + lines],
        cwd=installer.source,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def agent_as_installed(root: Path, tmp_path: Path) -> AgentSettings:
    """The sync agent's settings from the Pi's installed configuration, its files read from the installed root."""
    config = load_config(config_in(root))
    assert config.hub is not None
    broker = config.hub.broker
    assert broker.password_file is not None and broker.ca_file is not None
    installed = replace(
        broker,
        password_file=str(root / broker.password_file.lstrip("/")),
        ca_file=str(root / broker.ca_file.lstrip("/")),
    )
    return replace(
        AgentSettings.from_config(replace(config, hub=replace(config.hub, broker=installed))),
        state_path=str(tmp_path / "sync-state.sqlite"),
        bus=None,
        ack_timeout_s=1.5,
        status_interval_s=0.5,
    )


def record_events(db: Database, device: str, count: int) -> None:
    """The door writing `count` events with their outbox rows, as it does."""
    with db.write() as session:
        for _ in range(count):
            append_event(session, device, "door", {"open": True}, Stamp.now("boot-1"))


def test_a_door_installed_with_the_printed_lines_syncs_through_the_hub_broker(
    installer: Installer, deploy_dir: Path, hub_broker: HubBroker, accounts: BrokerAccounts, tmp_path: Path
) -> None:
    site, device = "causse", "door-2"
    hub_key = generate_private_key()

    def register(password: str) -> str:
        """The manager registers the door at the hub (or gives it a new password): its account, and the lines."""
        accounts.add_device(site, device, password)
        return installer_lines(
            site=site,
            device=device,
            username=device_username(site, device),
            password=password,
            hub_url=hub_broker.device_url,
            public_key_b64=public_key_b64(hub_key),
            ca_pem=hub_broker.tls.ca_pem,
            site_name="Le Causse",
        )

    password = new_password()
    root = deploy_dir / "hub-door" / "root"
    root.mkdir(parents=True)
    run = run_lines_on_a_new_pi(installer, root, register(password))
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (installer.source / "halfday-hub-password").exists(), "the password file stays behind"
    config = load_config(config_in(root))
    assert (config.site.id, config.site.device, config.site.name) == (site, device, "Le Causse")
    assert config.hub is not None
    assert (config.hub.broker.url, config.hub.broker.username) == (hub_broker.device_url, device_username(site, device))
    settings = agent_as_installed(root, tmp_path)
    expected = hub_broker.device_settings(site, device, password)
    assert replace(settings.hub, ca_file=None) == replace(expected, ca_file=None)
    assert settings.hub.ca_file is not None and Path(settings.hub.ca_file).read_text() == hub_broker.tls.ca_pem
    # A real hub on the loopback listener, with the door's site.
    hub_db = HubDatabase(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    hub_db.create_all()
    admin.add_site(hub_db, site, "Le Causse")
    key_file = tmp_path / "hub.key"
    save_private_key(hub_key, key_file)
    hub_settings = HubSettings(hub_db.url, hub_broker.hub_settings(), str(key_file), keeper_poll_s=0.05)
    worker = HubWorker(hub_settings, 0, db=hub_db)
    door_db = Database(settings.database_url)
    agents: list[SyncAgent] = []

    def hub_cursor() -> int:
        with hub_db.read() as session:
            cursor = session.execute(select(DeviceCursor.seq).where(DeviceCursor.device_id == device))
            return int(cursor.scalar_one_or_none() or 0)

    def start_agent() -> SyncAgent:
        agent = SyncAgent(agent_as_installed(root, tmp_path), door_db)
        agents.append(agent)
        agent.start()
        assert agent.hub.wait_connected(ANSWER_TIMEOUT_S), hub_broker.log()
        return agent

    try:
        worker.start()
        assert worker.client.wait_connected(ANSWER_TIMEOUT_S), hub_broker.log()
        record_events(door_db, device, 5)
        agent = start_agent()
        assert wait_until(lambda: hub_cursor() == 5 and agent.acked == 5, 30), hub_broker.log()[-3000:]
        assert wait_until(lambda: outbox.roster_version(door_db) is not None, 30), "no roster reached the door"
        assert wait_until(lambda: worker.stats.statuses > 0, 10)
        # A new password from the hub: the Pi's connection goes at once, and the same lines run again bring the
        # Pi back (its sync restarts on the new file; here, a new agent as the restart would make it).
        renewed = new_password()
        run = run_lines_on_a_new_pi(installer, root, register(renewed))
        assert run.returncode == 0, run.stdout + run.stderr
        assert wait_until(lambda: not agent.hub.connected, 10), "the old password still holds a connection"
        agent.stop()
        agents.remove(agent)
        record_events(door_db, device, 2)
        agent = start_agent()
        assert wait_until(lambda: hub_cursor() == 7 and agent.acked == 7, 30), hub_broker.log()[-3000:]
    finally:
        for made in agents:
            made.stop()
        worker.stop()
        door_db.dispose()
        hub_db.dispose()
        accounts.remove_device(site, device)
