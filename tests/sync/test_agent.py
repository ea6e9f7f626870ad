"""The appliance's sync agent with a real broker, a real hub and the appliance's own migrated SQLite database."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select

from access.config import parse_config
from access.db import Database
from access.models import Balance, Credential, HubRequest, Member, Outbox, Pass, Use
from access.models import Event as DoorEvent
from access.store import Stamp, append_event, get_meta, spent_since_balances
from common.config import ConfigError
from common.words import Alarm, PlanKind, Slot
from halfday import sample
from kiosk.app import create_app
from kiosk.sales import Offer, Payment, WalkIn, record_sale
from sync.agent import AgentSettings, SyncAgent, outbox
from sync.agent.health import door_health
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import DeviceCursor
from sync.hub.worker import HubWorker
from sync.localbus import DOOR_CMD, DoorState, ReaderHealth
from sync.mqtt import Message, MqttClient, MqttSettings
from sync.payloads import DoorHealth, make_ack, make_reply, validate_request, validate_status
from sync.protocol import (
    ack_topic,
    command_topic,
    delta_topic,
    dumps,
    parse_utc,
    replies_topic,
    requests_topic,
    roster_topic,
    status_topic,
    utc_iso,
)
from sync.signing import generate_private_key, load_private_key, make_command, public_key_b64, sign, sign_roster
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.kiosk import TEST_TUNING
from tests.support.listener import Listener
from tests.support.site import Site
from tests.support.wait import wait_until
from tests.sync.conftest import DEVICE, SITE, agent_settings
from tests.sync.test_hub_mqtt import count_events

MakeWorker = Callable[..., HubWorker]


def record(db: Database, count: int, kind: str = "door", data: dict[str, Any] | None = None) -> int:
    """The door writing `count` events with their outbox rows; returns the last seq.

    Small counts go through access.store.append_event as the door does; large backlogs are written in bulk
    (the same rows), because one-by-one would spend the test's time in the door's code, not in sync.
    """
    with db.write() as session:
        if count <= 100:
            seq = 0
            for _ in range(count):
                _, seq = append_event(session, DEVICE, kind, data or {"open": True}, Stamp.now("boot-1"))
            return seq
        first = int(session.execute(select(func.coalesce(func.max(DoorEvent.seq), 0))).scalar_one()) + 1
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "id": uuid.uuid4().hex,
                "device_id": DEVICE,
                "seq": seq,
                "kind": kind,
                "at": now,
                "mono_ns": seq,
                "boot_id": "boot-1",
                "clock_ok": True,
                "data": data or {"open": True},
            }
            for seq in range(first, first + count)
        ]
        session.execute(insert(DoorEvent), rows)
        session.execute(insert(Outbox), [{"event_id": r["id"], "device_id": DEVICE, "seq": r["seq"]} for r in rows])
        return first + count - 1


def outbox_size(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(select(func.count()).select_from(Outbox)).scalar_one())


def test_a_backlog_drains_exactly_once_and_the_outbox_empties(
    make_worker: MakeWorker, make_agent: Any, door_db: Database, hub_db: HubDatabase
) -> None:
    worker = make_worker(0)
    last = record(door_db, 3000)
    agent = make_agent()
    assert wait_until(lambda: agent.acked == last and outbox_size(door_db) == 0, 30)
    assert count_events(hub_db, SITE, DEVICE) == (3000, 3000, 1, 3000)
    with door_db.read() as session:
        assert get_meta(session, outbox.HUB_ACKED) == "3000"
    # A live event after the backlog leaves on its own, quickly.
    record(door_db, 1, "door", {"open": False})
    assert wait_until(lambda: outbox_size(door_db) == 0 and agent.acked == 3001, 5)
    assert worker.stats.rejected == 0
    # The hub sees the door online with its backlog in the retained status.
    assert wait_until(lambda: worker.stats.statuses > 0, 5)


AGENT_SCRIPT = """
import json, logging, sys, threading
logging.basicConfig(level=logging.WARNING)
from sync.agent import AgentSettings, SyncAgent
from sync.mqtt import MqttSettings
values = json.loads(sys.argv[1])
values["hub"] = MqttSettings(**values["hub"])
values["bus"] = None
agent = SyncAgent(AgentSettings(**values))
agent.start()
print("started", flush=True)
threading.Event().wait()
"""


@pytest.mark.soak  # a fault run
def test_the_agent_killed_mid_drain_loses_nothing_and_duplicates_nothing(
    broker: Mosquitto,
    make_worker: MakeWorker,
    door_db: Database,
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    tmp_path: Path,
) -> None:
    make_worker(0)
    total = record(door_db, 40_000)
    values = agent_settings(broker, door_db, hub_settings, tmp_path, batch_events=200, window_events=2000).__dict__
    values = {**values, "hub": {"host": broker.host, "port": broker.port}, "bus": None}

    def cursor() -> int:
        with hub_db.read() as session:
            return int(session.execute(select(func.coalesce(func.max(DeviceCursor.seq), 0))).scalar_one())

    kills = 0
    for _ in range(3):
        with subprocess.Popen(
            [sys.executable, "-c", AGENT_SCRIPT, json.dumps(values)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        ) as proc:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
            start = cursor()
            wait_until(partial(lambda since: cursor() >= since + 1000, start), 30)
            kills += cursor() < total
            proc.send_signal(signal.SIGKILL)  # in the middle of the drain, as a power cut would
            proc.wait(10)
    assert kills >= 2, "the kills must land mid-drain"
    last = subprocess.Popen(
        [sys.executable, "-c", AGENT_SCRIPT, json.dumps(values)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert last.stdout is not None and last.stdout.readline().strip() == "started"
        assert wait_until(lambda: cursor() == total and outbox_size(door_db) == 0, 60)
    finally:
        last.send_signal(signal.SIGTERM)
        last.wait(10)
        if last.stdout is not None:
            last.stdout.close()
    assert count_events(hub_db, SITE, DEVICE) == (total, total, 1, total)


def test_a_roster_applies_with_the_seen_watermark_and_bad_rosters_are_refused(
    broker: Mosquitto,
    make_agent: Any,
    door_db: Database,
    hub_settings: HubSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = load_private_key(hub_settings.private_key_file)
    member, plan, sub = "a" * 32, "b" * 32, "c" * 32
    # The door spent a half-day of the carnet at seq 2; the hub's roster has seen up to seq 1 only.
    record(door_db, 1)
    with door_db.write() as session:
        event_id, seq = append_event(session, DEVICE, "entry", {"x": 1}, Stamp.now("boot-1"))
        session.execute(
            insert(Use),
            [
                {
                    "holder_id": member,
                    "site_id": SITE,
                    "local_date": dt.date(2026, 11, 23),
                    "slot": "morning",
                    "spent": 1,
                    "subscription_id": sub,
                    "pass_id": None,
                    "event_id": event_id,
                    "seq": seq,
                }
            ],
        )

    def roster(version: int, balance: int, seen: int, uid_status: str = "active") -> dict[str, Any]:
        return {
            "v": 1,
            "site": SITE,
            "version": version,
            "issued_at": utc_iso(dt.datetime.now(dt.UTC)),
            "seen": {DEVICE: seen},
            "members": [{"id": member, "first_name": "Zoé", "last_name": "Martin", "email": None, "active": True}],
            "credentials": [
                {"id": "d" * 32, "member_id": member, "kind": "nfc_uid", "value": "A1B2C3D4", "status": uid_status}
            ],
            "plans": [
                {
                    "id": plan,
                    "name": "Carnet 10",
                    "kind": "carnet",
                    "half_days": 10,
                    "allow_overdraft": False,
                    "hours_start": None,
                    "hours_end": None,
                    "price_cents": 9000,
                }
            ],
            "subscriptions": [
                {
                    "id": sub,
                    "member_id": member,
                    "plan_id": plan,
                    "valid_from": None,
                    "valid_until": None,
                    "balance": balance,
                }
            ],
        }

    agent = make_agent()
    hub = MqttClient(MqttSettings(broker.host, broker.port), "fake-hub", clean_start=True, session_expiry_s=0)
    hub.start()
    assert hub.wait_connected(10)
    hub.publish_confirmed(roster_topic(SITE), dumps(sign_roster(roster(3, 9, 1), key)), retain=True)
    assert wait_until(lambda: outbox.roster_version(door_db) == 3, 10)
    with door_db.read() as session:
        balance = session.get(Balance, sub)
        assert balance is not None and (balance.amount, balance.as_of_seq) == (9, 1)
        # Effective: 9 from the hub minus the half-day spent here after seq 1, not yet counted by the hub.
        assert balance.amount - spent_since_balances(session, DEVICE).get(sub, 0) == 8
        assert session.execute(select(Member.first_name)).scalar_one() == "Zoé"
    with caplog.at_level("WARNING", logger="sync.agent"):
        forged = {**sign_roster(roster(4, 99, 2), key), "version": 5}
        hub.publish_confirmed(roster_topic(SITE), dumps(forged))
        other_key = sign_roster(roster(6, 99, 2), generate_private_key())
        hub.publish_confirmed(roster_topic(SITE), dumps(other_key))
        unsigned = {k: v for k, v in roster(7, 99, 2).items()}
        hub.publish_confirmed(roster_topic(SITE), dumps(unsigned))
        hub.publish_confirmed(roster_topic(SITE), dumps(sign_roster(roster(2, 99, 2), key)))  # older: ignored
        assert wait_until(lambda: agent.stats.rejected >= 3, 10)
    assert outbox.roster_version(door_db) == 3
    # The revocation arrives with the next version, and the door's badge row follows.
    hub.publish_confirmed(roster_topic(SITE), dumps(sign_roster(roster(8, 8, 2, "revoked"), key)), retain=True)
    assert wait_until(lambda: outbox.roster_version(door_db) == 8, 10)
    with door_db.read() as session:
        assert session.execute(select(Credential.status)).scalar_one() == "revoked"
        balance = session.get(Balance, sub)
        assert balance is not None and balance.amount - spent_since_balances(session, DEVICE).get(sub, 0) == 8
    hub.stop()


def test_a_hub_command_reaches_the_door_once_and_a_replay_is_refused(
    broker: Mosquitto, make_agent: Any, hub_settings: HubSettings
) -> None:
    key = load_private_key(hub_settings.private_key_file)
    door_bus = Listener(broker, DOOR_CMD)
    agent = make_agent()
    hub = MqttClient(MqttSettings(broker.host, broker.port), "fake-hub", clean_start=True, session_expiry_s=0)
    hub.start()
    assert hub.wait_connected(10)
    command = dumps(make_command(key, SITE, DEVICE, "unlock", dt.datetime.now(dt.UTC), ttl_s=30))
    hub.publish_confirmed(command_topic(SITE, DEVICE), command)
    forwarded = json.loads(door_bus.next().payload)
    assert (forwarded["name"], forwarded["by"]) == ("unlock", "manager")
    hub.publish_confirmed(command_topic(SITE, DEVICE), command)  # the same command again: a replay
    expired = make_command(key, SITE, DEVICE, "unlock", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60), ttl_s=30)
    hub.publish_confirmed(command_topic(SITE, DEVICE), dumps(expired))
    assert wait_until(lambda: agent.stats.rejected >= 2, 10)
    assert agent.stats.commands == 1
    with pytest.raises(Exception):  # noqa: B017 - queue.Empty: nothing more reached the door
        door_bus.next(1.0)
    hub.stop()
    door_bus.client.stop()


def test_malformed_payloads_never_stop_the_agent(
    broker: Mosquitto,
    make_worker: MakeWorker,
    make_agent: Any,
    door_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    agent = make_agent()
    fuzzer = MqttClient(MqttSettings(broker.host, broker.port), "fuzz-agent", clean_start=True, session_expiry_s=0)
    fuzzer.start()
    assert fuzzer.wait_connected(10)
    topics = [
        ack_topic(SITE, DEVICE),
        roster_topic(SITE),
        f"{roster_topic(SITE)}/1",
        delta_topic(SITE),
        command_topic(SITE, DEVICE),
        f"halfday/v1/{SITE}/{DEVICE}/replies",
    ]

    keys = st.sampled_from(["site", "sig", "kind", "name", "request", "x"])

    @settings(max_examples=60, deadline=None)
    @given(
        payload=st.binary(max_size=120)
        | st.dictionaries(keys, st.integers() | st.text(max_size=5), max_size=4).map(lambda d: dumps({"v": 1, **d})),
        topic=st.sampled_from(topics),
    )
    def publish(payload: bytes, topic: str) -> None:
        if topic.startswith(roster_topic(SITE)) and not payload:
            # An empty retained message clears a snapshot part the hub no longer uses: nothing to reject.
            payload = b"{"
        before = agent.stats.rejected
        fuzzer.publish_confirmed(topic, payload)
        assert wait_until(lambda: agent.stats.rejected > before, 10)

    with caplog.at_level("WARNING", logger="sync.agent"):
        publish()
    assert all(t.is_alive() for t in agent._threads)
    # A huge ack from nowhere must not retire events the hub does not have: acks only count up to what was sent.
    fuzzer.publish_confirmed(ack_topic(SITE, DEVICE), make_ack(10**9))
    fuzzer.stop()
    make_worker(0)
    last = record(door_db, 50)
    assert wait_until(lambda: outbox_size(door_db) == 0, 20)
    assert agent.acked >= last


def test_settings_from_the_appliance_config(tmp_path: Path) -> None:
    key = public_key_b64(generate_private_key())
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": key, "username": "site-a-door-1"}
    data = sample.site_config(tmp_path / "halfday.sqlite", "udp:127.0.0.1:9", site_id="site-a", overrides={"hub": hub})
    settings = AgentSettings.from_config(parse_config(data))
    assert (settings.site, settings.device, settings.hub.tls, settings.hub.port) == ("site-a", "door-1", True, 8883)
    assert settings.hub.username == "site-a-door-1" and settings.public_key == key
    assert settings.state_path == str(tmp_path / "sync-state.sqlite")


def test_a_walk_ins_card_never_wedges_rosters(
    broker: Mosquitto, make_agent: Any, door_db: Database, hub_settings: HubSettings
) -> None:
    """A card a walk-in linked to a pass, whose UID later becomes a member's badge, once made every roster fail at
    the site (the UID's unique key), revocations included, with only a log line to show it."""
    key = load_private_key(hub_settings.private_key_file)
    member, uid = "a" * 32, "A1B2C3D4"
    today = dt.datetime.now(dt.UTC).date()
    offer = Offer(PlanKind.PASS_HALFDAY, today, (Slot.MORNING,), 800)
    with door_db.write() as session:
        _sale, lent = record_sale(
            session, DEVICE, offer, WalkIn("Eve", "eve@example.org", uid), Payment("counter", False), Stamp.now("b")
        )
        code = lent.code

    def roster(version: int, status: str) -> bytes:
        body = {
            "v": 1,
            "site": SITE,
            "version": version,
            "issued_at": utc_iso(dt.datetime.now(dt.UTC)),
            "seen": {},
            "members": [{"id": member, "first_name": "Zoé", "last_name": "", "email": None, "active": True}],
            "credentials": [{"id": "d" * 32, "member_id": member, "kind": "nfc_uid", "value": uid, "status": status}],
            "plans": [],
            "subscriptions": [],
        }
        return dumps(sign_roster(body, key))

    make_agent()
    hub = MqttClient(MqttSettings(broker.host, broker.port), "fake-hub", clean_start=True, session_expiry_s=0)
    hub.start()
    try:
        assert hub.wait_connected(10)
        hub.publish_confirmed(roster_topic(SITE), roster(1, "active"), retain=True)
        assert wait_until(lambda: outbox.roster_version(door_db) == 1, 10)
        with door_db.read() as session:
            badge = session.scalars(select(Credential).where(Credential.value == uid)).one()
            assert (badge.member_id, badge.pass_id) == (member, None)  # the member's badge wins
            assert session.scalars(select(Pass.code)).one() == code  # the walk-in keeps the pass and its code
        hub.publish_confirmed(roster_topic(SITE), roster(2, "revoked"), retain=True)  # the next one applies too
        assert wait_until(lambda: outbox.roster_version(door_db) == 2, 10)
        with door_db.read() as session:
            assert session.scalars(select(Credential.status).where(Credential.value == uid)).one() == "revoked"
        # The same through a delta: another walk-in's card becomes the member's new badge.
        with door_db.write() as session:
            _sale, card = record_sale(
                session, DEVICE, offer, WalkIn("Lou", "", "B2C3D4E5"), Payment("counter", False), Stamp.now("b")
            )
        delta = {
            "v": 1,
            "site": SITE,
            "version": 3,
            "base": 2,
            "issued_at": utc_iso(dt.datetime.now(dt.UTC)),
            "seen": {},
            "members": [{"id": member, "first_name": "Zoé", "last_name": "", "email": None, "active": True}],
            "credentials": [
                {"id": "d" * 32, "member_id": member, "kind": "nfc_uid", "value": uid, "status": "revoked"},
                {"id": "e" * 32, "member_id": member, "kind": "nfc_uid", "value": "B2C3D4E5", "status": "active"},
            ],
            "subscriptions": [],
            "removed_members": [],
            "plans": [],
            "removed_plans": [],
        }
        hub.publish_confirmed(delta_topic(SITE), dumps(sign(delta, key)), retain=True)
        assert wait_until(lambda: outbox.roster_version(door_db) == 3, 10)
        with door_db.read() as session:
            badge = session.scalars(select(Credential).where(Credential.value == "B2C3D4E5")).one()
            assert (badge.member_id, badge.pass_id, badge.status) == (member, None, "active")
            assert card.code in set(session.scalars(select(Pass.code)))
    finally:
        hub.stop()


# ---------------------------------------------------------------------------------------------- the door, for the hub


def site_agent(site: Site, broker: Mosquitto, key_file: Path, tmp_path: Path, **extra: Any) -> SyncAgent:
    """The agent of a sample site whose door runs (a DoorRig), with the hub's broker and the bus on `broker`."""
    kernel_synced = extra.pop("kernel_synced", lambda: True)
    values: dict[str, Any] = {
        "site": site.config.site.id,
        "device": site.config.site.device,
        "database_url": site.config.database_url,
        "hub": MqttSettings(broker.host, broker.port),
        "public_key": public_key_b64(load_private_key(key_file)),
        "state_path": str(tmp_path / "sync-state.sqlite"),
        "bus": MqttSettings(broker.host, broker.port),
        "status_interval_s": 60.0,
        "status_min_gap_s": 0.3,
        "request_retry_s": 1.0,
        **extra,
    }
    agent = SyncAgent(AgentSettings(**values), kernel_synced=kernel_synced)
    agent.start()
    assert agent.hub.wait_connected(10) and agent.bus is not None and agent.bus.wait_connected(10)
    return agent


@pytest.fixture
def door_site(
    broker: Mosquitto, new_site: Callable[..., Site], door_rig: Callable[..., DoorRig]
) -> tuple[Site, DoorRig]:
    """The sample site on the test's broker, its door daemon running on the bus with a virtual card."""
    site = new_site(bus_url=f"mqtt://127.0.0.1:{broker.port}")
    rig = door_rig(site, use_bus=True)
    rig.start()
    return site, rig


@pytest.fixture
def agents() -> Iterator[list[SyncAgent]]:
    started: list[SyncAgent] = []
    yield started
    for agent in started:
        agent.stop()


def emma(site: Site) -> str:
    with site.db.read() as session:
        return str(session.scalars(select(Member.id).where(Member.first_name == "Emma")).one())


def enrol_command(key: Any, moment: dt.datetime, member: str, request: str, timeout_s: int = 30) -> bytes:
    args = {"member_id": member, "request": request, "timeout_s": timeout_s}
    return dumps(make_command(key, sample.SITE, sample.DEVICE, "enrol", moment, ttl_s=30, args=args))


def test_the_hubs_enrol_command_takes_the_next_tap_and_asks_the_hub_for_that_badge(
    broker: Mosquitto,
    door_site: tuple[Site, DoorRig],
    agents: list[SyncAgent],
    hub_key_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site, rig = door_site
    key = load_private_key(hub_key_file)
    hub = Listener(broker, requests_topic(sample.SITE, sample.DEVICE))
    agent = site_agent(site, broker, hub_key_file, tmp_path)
    agents.append(agent)
    member, request_id = emma(site), uuid.uuid4().hex
    with caplog.at_level("DEBUG"):
        command = enrol_command(key, dt.datetime.now(dt.UTC), member, request_id)
        hub.client.publish_confirmed(command_topic(sample.SITE, sample.DEVICE), command)
        assert wait_until(lambda: rig.daemon.enrol is not None, 10), "the door never went into enrol mode"
        rig.tap(sample.ALICE)  # a member arriving meanwhile comes in as usual; her badge is not taken
        rig.tap(sample.NEW_BADGE)
        sent = validate_request(hub.next(10).payload, sample.SITE, sample.DEVICE)
    assert (sent["id"], sent["kind"]) == (request_id, "enrol_badge")
    assert sent["data"] == {"member_id": member, "uid": sample.NEW_BADGE}
    entries = {e.data["uid"]: e.data["granted"] for e in rig.wait_events(1, "entry")}
    assert entries == {sample.ALICE: True}  # the new badge was not decided on
    assert sample.NEW_BADGE not in caplog.text, "a tapped UID went into a log"
    with site.db.read() as session:
        kept = session.get(HubRequest, request_id)
        assert kept is not None and (kept.origin, kept.member_id, kept.answered_at) == ("hub", member, None)
    # Unanswered, it is sent again; the hub's reply is written back and ends the resending.
    again = validate_request(hub.next(10).payload, sample.SITE, sample.DEVICE)
    assert again == sent
    hub.client.publish_confirmed(replies_topic(sample.SITE, sample.DEVICE), make_reply(request_id, True, None, 9))

    def answered() -> bool:
        with site.db.read() as session:
            row = session.get(HubRequest, request_id)
            return row is not None and row.answered_at is not None and bool(row.ok) and row.roster_version == 9

    assert wait_until(answered, 10)
    while not hub.messages.empty():  # what was on its way before the reply
        hub.messages.get_nowait()
    with pytest.raises(queue.Empty):
        hub.next(2.5)  # more than twice the retry period: nothing more is sent
    assert agent.stats.replies == 1
    hub.client.stop()


def test_a_forged_an_expired_or_a_late_enrol_sends_nothing(
    broker: Mosquitto,
    door_site: tuple[Site, DoorRig],
    agents: list[SyncAgent],
    hub_key_file: Path,
    tmp_path: Path,
) -> None:
    site, rig = door_site
    key = load_private_key(hub_key_file)
    hub = Listener(broker, requests_topic(sample.SITE, sample.DEVICE))
    agent = site_agent(site, broker, hub_key_file, tmp_path)
    agents.append(agent)
    member, now = emma(site), dt.datetime.now(dt.UTC)
    topic = command_topic(sample.SITE, sample.DEVICE)
    hub.client.publish_confirmed(topic, enrol_command(generate_private_key(), now, member, uuid.uuid4().hex))
    hub.client.publish_confirmed(topic, enrol_command(key, now - dt.timedelta(seconds=60), member, uuid.uuid4().hex))
    assert wait_until(lambda: agent.stats.rejected >= 2, 10)
    assert agent.stats.commands == 0 and rig.daemon.enrol is None
    rig.tap(sample.NEW_BADGE)  # decided on as any unknown badge
    assert [e.data["granted"] for e in rig.wait_events(1, "entry")] == [False]

    # A genuine enrol that nobody answers in time: the badge tapped after it is nobody's business.
    hub.client.publish_confirmed(topic, enrol_command(key, dt.datetime.now(dt.UTC), member, uuid.uuid4().hex, 10))
    assert wait_until(lambda: rig.daemon.enrol is not None, 10)
    until = rig.daemon.enrol[1] if rig.daemon.enrol else 0.0
    assert wait_until(lambda: time.monotonic() > until, 12)
    rig.tap(sample.NEW_BADGE)
    assert [e.data["granted"] for e in rig.wait_events(2, "entry")] == [False, False]
    with pytest.raises(queue.Empty):
        hub.next(1.5)
    with site.db.read() as session:
        assert session.scalars(select(HubRequest)).all() == []
    hub.client.stop()


def test_the_status_tells_the_hub_the_doors_health_as_it_changes(
    broker: Mosquitto,
    door_site: tuple[Site, DoorRig],
    agents: list[SyncAgent],
    hub_key_file: Path,
    tmp_path: Path,
) -> None:
    site, rig = door_site
    hub = Listener(broker, status_topic(sample.SITE, sample.DEVICE))
    synced = [False]
    agent = site_agent(site, broker, hub_key_file, tmp_path, kernel_synced=lambda: synced[0])
    agents.append(agent)
    seen: list[dict[str, Any]] = []

    def next_status(where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        def matches(message: Message) -> bool:
            status = validate_status(message.payload, sample.SITE, sample.DEVICE)
            if status["state"] == "online":
                seen.append(status)
            return status["state"] == "online" and where(status)

        return validate_status(hub.next(10, matches).payload)

    # No NTP yet, on a machine not trusted by fiat: the clock is not trusted, and says so.
    status = next_status(lambda s: s["door"] == "closed")
    assert (status["clock_ok"], status["alarms"], status["reader"]) == (False, ["clock"], "ok")
    oldest = outbox.oldest_unsent_at(site.db, sample.DEVICE)
    assert oldest is not None and status["oldest_unsent_at"] == utc_iso(oldest)  # the sample's own events wait
    synced[0] = True
    status = next_status(lambda s: s["clock_ok"] is True)
    assert status["alarms"] == []

    rig.set_door(True)  # opened while locked: forced
    status = next_status(lambda s: s["door"] == "open")
    assert status["alarms"] == ["forced"]
    rig.set_door(False)
    status = next_status(lambda s: s["door"] == "closed")
    assert status["alarms"] == []

    # The hub acknowledges everything the door recorded: nothing waits any more.
    last = outbox.last_seq(site.db, sample.DEVICE)
    assert wait_until(lambda: agent.window.next_seq > last, 10)
    hub.client.publish_confirmed(ack_topic(sample.SITE, sample.DEVICE), make_ack(last))
    assert next_status(lambda s: s["oldest_unsent_at"] is None)["backlog"] == 0

    # A flapping door: each change is told, but no more often than the minimum gap.
    for _ in range(3):
        rig.set_door(True)
        rig.set_door(False)
    next_status(lambda s: s["door"] == "closed" and s["alarms"] == [] and s["oldest_unsent_at"] is not None)
    times = [dt.datetime.fromisoformat(s["at"][:-1]) for s in seen]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.3 * 0.95, gaps
    hub.client.stop()


def test_door_health_from_the_doors_state() -> None:
    now = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)
    assert door_health(None, None, None) == DoorHealth()
    assert door_health(DoorState(online=False), True, now) == DoorHealth(now, True)
    broken = DoorState(
        online=True,
        locked=True,
        open=True,
        alarms=(Alarm.HELD_OPEN, Alarm.DATABASE),
        reader=ReaderHealth("reopening", "le lecteur ne répond pas"),
    )
    assert door_health(broken, False, None) == DoorHealth(
        None, False, "open", ("held_open", "reader", "database", "clock"), "absent"
    )
    fine = DoorState(online=True, locked=True, open=False, reader=ReaderHealth("ok"))
    assert door_health(fine, True, None) == DoorHealth(None, True, "closed", (), "ok")
    # An old roster raises its alarm only on a clock the agent trusts: a wrong clock makes every list look old.
    assert door_health(fine, True, None, roster_too_old=True).alarms == ("roster",)
    assert door_health(fine, False, None, roster_too_old=True).alarms == ("clock",)


# ---------------------------------------------------------------------------------------------- the door's roster


def site_roster(key: Any, version: int, issued_at: dt.datetime, site: str = sample.SITE) -> bytes:
    """A signed roster for the sample site that lists nobody: what matters here is whether it applies."""
    body = {
        "v": 1,
        "site": site,
        "version": version,
        "issued_at": utc_iso(issued_at),
        "seen": {},
        "members": [],
        "credentials": [],
        "plans": [],
        "subscriptions": [],
    }
    return dumps(sign_roster(body, key))


def wall_panel(app: Flask) -> str:
    return str(app.test_client().get("/display/panel").text)


@pytest.fixture
def wall(door_site: tuple[Site, DoorRig]) -> Iterator[Flask]:
    """The site's kiosk, linked to the hub, its wall display read with Flask's test client; on the door's bus."""
    site, _ = door_site
    config = site.reconfigure({"hub": {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-kiosk"}})
    app = create_app(config, tuning=TEST_TUNING)
    link = app.extensions["halfday.kiosk"].link
    assert wait_until(lambda: link.connected, 10)
    yield app
    app.extensions["halfday.kiosk"].close()


def test_a_roster_that_fails_is_told_to_the_hub_and_on_the_wall_until_one_applies(
    broker: Mosquitto,
    door_site: tuple[Site, DoorRig],
    wall: Flask,
    agents: list[SyncAgent],
    hub_key_file: Path,
    tmp_path: Path,
) -> None:
    site, _ = door_site
    key = load_private_key(hub_key_file)
    hub = Listener(broker, status_topic(sample.SITE, sample.DEVICE))
    agent = site_agent(site, broker, hub_key_file, tmp_path)
    agents.append(agent)
    fake_hub = hub.client

    def next_status(where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        def matches(message: Message) -> bool:
            status = validate_status(message.payload, sample.SITE, sample.DEVICE)
            return status["state"] == "online" and where(status)

        return validate_status(hub.next(10, matches).payload)

    status = next_status(lambda s: True)
    assert (status["roster_failed_at"], status["roster_failure"]) == (None, None)
    assert "Liste des membres reçue" not in wall_panel(wall)  # no roster from the hub yet: no age to tell
    held = outbox.roster_version(site.db)
    version = held or 0

    # Signed with another key: a forger's list, or a hub whose key changed without the doors being told.
    before = dt.datetime.now(dt.UTC)
    forged = site_roster(generate_private_key(), version + 5, before)
    fake_hub.publish_confirmed(roster_topic(sample.SITE), forged, retain=True)
    status = next_status(lambda s: s["roster_failed_at"] is not None)
    assert status["roster_failure"] == "signature invalide : la liste ne vient pas du hub"
    assert before <= parse_utc(status["roster_failed_at"]) <= dt.datetime.now(dt.UTC)
    assert status["alarms"] == [] and outbox.roster_version(site.db) == held  # the door kept its list
    # The retained status is the hub's to read at any time, not only as it passes.
    late = Listener(broker, status_topic(sample.SITE, sample.DEVICE))
    assert validate_status(late.next(10).payload)["roster_failure"] == status["roster_failure"]
    late.client.stop()
    assert wait_until(lambda: "n'a pas pu être appliquée" in wall_panel(wall), 10)
    panel = wall_panel(wall)
    assert "La dernière liste des membres envoyée par le hub n'a pas pu être appliquée (il y a" in panel
    assert "signature invalide : la liste ne vient pas du hub" in panel

    # The hub's own list applies: the failure is gone, and the list's date is told.
    issued = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=3)
    fake_hub.publish_confirmed(roster_topic(sample.SITE), site_roster(key, version + 7, issued), retain=True)
    status = next_status(lambda s: s["roster_failed_at"] is None)
    assert (status["roster_failure"], status["roster_issued_at"]) == (None, utc_iso(issued))
    assert outbox.roster_version(site.db) == version + 7
    assert wait_until(lambda: "Liste des membres reçue il y a 3 minutes" in wall_panel(wall), 10)
    assert "n'a pas pu être appliquée" not in wall_panel(wall)

    # An older list again (a replay, or the retained copy after a reconnect) is no failure; the hub's next command
    # is handled after it, so the status it asks for tells what the old list did.
    fake_hub.publish_confirmed(roster_topic(sample.SITE), site_roster(key, version + 6, before))
    send_status = make_command(key, sample.SITE, sample.DEVICE, "send_status", dt.datetime.now(dt.UTC), ttl_s=30)
    commands = agent.stats.commands
    fake_hub.publish_confirmed(command_topic(sample.SITE, sample.DEVICE), dumps(send_status))
    assert wait_until(lambda: agent.stats.commands == commands + 1, 10)
    status = next_status(lambda s: True)
    assert (status["roster_failed_at"], status["roster_failure"]) == (None, None)
    assert status["roster_issued_at"] == utc_iso(issued) and outbox.roster_version(site.db) == version + 7

    # A well-signed list for another site is refused, and says so.
    fake_hub.publish_confirmed(roster_topic(sample.SITE), site_roster(key, version + 9, issued, site="ailleurs"))
    status = next_status(lambda s: s["roster_failed_at"] is not None)
    assert status["roster_failure"] == "liste pour un autre site (ailleurs)"
    fake_hub.publish_confirmed(roster_topic(sample.SITE), b'{"v":1,"site":')
    status = next_status(lambda s: (s["roster_failure"] or "").startswith("liste mal formée"))
    assert status["roster_issued_at"] == utc_iso(issued)

    # The date of the list held survives a restart of the agent.
    agent.stop()
    agents.remove(agent)
    again = site_agent(site, broker, hub_key_file, tmp_path)
    agents.append(again)
    assert again.roster.health().issued_at == issued
    hub.client.stop()


def test_a_roster_older_than_the_limit_raises_the_alarm_while_the_hub_is_reachable(
    broker: Mosquitto,
    door_site: tuple[Site, DoorRig],
    wall: Flask,
    agents: list[SyncAgent],
    hub_key_file: Path,
    tmp_path: Path,
) -> None:
    site, _ = door_site
    key = load_private_key(hub_key_file)
    hub = Listener(broker, status_topic(sample.SITE, sample.DEVICE))
    agent = site_agent(site, broker, hub_key_file, tmp_path, roster_max_age_s=2.0, alarm_hold_s=0.0)
    agents.append(agent)

    def next_status(where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        def matches(message: Message) -> bool:
            status = validate_status(message.payload, sample.SITE, sample.DEVICE)
            return status["state"] == "online" and where(status)

        return validate_status(hub.next(10, matches).payload)

    version = (outbox.roster_version(site.db) or 0) + 1
    issued = dt.datetime.now(dt.UTC)
    # Retained, as the hub publishes rosters: the agent may not have subscribed yet on a loaded machine.
    hub.client.publish_confirmed(roster_topic(sample.SITE), site_roster(key, version, issued), retain=True)
    status = next_status(lambda s: s["roster_issued_at"] == utc_iso(issued))
    assert "roster" not in status["alarms"]  # fresh
    status = next_status(lambda s: "roster" in s["alarms"])
    assert parse_utc(status["at"]) - issued > dt.timedelta(seconds=2)
    assert status["roster_failure"] is None  # old is not failed
    assert wait_until(lambda: "Liste des membres trop ancienne" in wall_panel(wall), 10)
    # A newer list from the hub ends it.
    newer = site_roster(key, version + 1, dt.datetime.now(dt.UTC))
    hub.client.publish_confirmed(roster_topic(sample.SITE), newer, retain=True)
    next_status(lambda s: "roster" not in s["alarms"])
    # Raised once and cleared once, as events the wall, the hub and the managers' e-mail read.
    assert wait_until(lambda: roster_alarms(site) == [True, False], 5)
    hub.client.stop()


def roster_alarms(site: Site) -> list[bool]:
    with site.db.read() as session:
        events = session.scalars(select(DoorEvent).where(DoorEvent.kind == "alarm").order_by(DoorEvent.seq))
        return [e.data["active"] for e in events if e.data["type"] == "roster"]


def test_the_roster_limit_is_read_from_the_config(tmp_path: Path) -> None:
    key = public_key_b64(generate_private_key())
    hub: dict[str, Any] = {"url": "mqtts://hub.example.org:8883", "public_key": key}
    data = sample.site_config(tmp_path / "halfday.sqlite", "udp:127.0.0.1:9", site_id="site-a", overrides={"hub": hub})
    assert AgentSettings.from_config(parse_config(data)).roster_max_age_s == 24 * 3600
    data = sample.merged(data, {"hub": {"roster_max_age_h": 6}})
    assert AgentSettings.from_config(parse_config(data)).roster_max_age_s == 6 * 3600
    for wrong in (0, -1, "6", 24 * 365):
        with pytest.raises(ConfigError, match=r"hub\.roster_max_age_h"):
            parse_config(sample.merged(data, {"hub": {"roster_max_age_h": wrong}}))
