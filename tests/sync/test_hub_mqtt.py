"""The hub against a real Mosquitto, on SQLite and PostgreSQL: exactly once through faults, shared workers,
hostile payloads, rosters, requests, commands and status."""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.db import utcnow
from sync.hub import admin
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import ChangeRequest, Credential, Device, DeviceCursor, Event, RosterTouch, Subscription
from sync.hub.worker import HubWorker
from sync.mqtt import MqttClient, MqttSettings
from sync.payloads import make_batch, validate_reply
from sync.protocol import (
    ProtocolError,
    command_topic,
    delta_topic,
    events_topic,
    replies_topic,
    requests_topic,
    roster_topic,
    status_topic,
    utc_iso,
)
from sync.signing import MemoryNonceStore, check_command, load_private_key, verify_delta, verify_roster
from tests.support.broker import Mosquitto
from tests.support.hub import add_admin, hub_app, sign_in
from tests.support.listener import Listener
from tests.support.rosters import doors_ask
from tests.support.wait import wait_until
from tests.sync.devicesim import SimDevice, make_event

MakeWorker = Callable[..., HubWorker]


def settings_of(broker: Mosquitto) -> MqttSettings:
    return MqttSettings(broker.host, broker.port)


def touches(session: Session) -> int:
    """Changes to what rosters carry, as the admin recorded them."""
    return int(session.execute(select(func.count()).select_from(RosterTouch)).scalar_one())


def count_events(db: HubDatabase, site: str = "site-a", device: str = "door-1") -> tuple[int, int, int, int]:
    """(rows, distinct seqs, min seq, max seq) of one device's stored events."""
    with db.read() as session:
        row = session.execute(
            select(func.count(), func.count(func.distinct(Event.seq)), func.min(Event.seq), func.max(Event.seq)).where(
                Event.site_id == site, Event.device_id == device
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2] or 0), int(row[3] or 0)


@pytest.fixture
def devices() -> object:
    made: list[SimDevice] = []

    def make(broker: Mosquitto, *args: object, **kwargs: object) -> SimDevice:
        device = SimDevice(settings_of(broker), *args, **kwargs)  # type: ignore[arg-type]
        made.append(device)
        return device

    yield make
    for device in made:
        device.stop()


def test_a_device_backlog_arrives_exactly_once(
    broker: Mosquitto, make_worker: MakeWorker, hub_db: HubDatabase, devices: Callable[..., SimDevice]
) -> None:
    make_worker(0)
    device = devices(broker)
    device.produce(2000)
    device.start()
    assert device.wait_acked(2000, 30)
    assert count_events(hub_db) == (2000, 2000, 1, 2000)


def test_two_workers_split_the_work_and_store_every_event_once(
    broker: Mosquitto, make_worker: MakeWorker, hub_db: HubDatabase, devices: Callable[..., SimDevice]
) -> None:
    workers = [make_worker(0), make_worker(1)]
    doors = [devices(broker, "site-a", f"door-{i}", batch_events=100) for i in (1, 2, 3)]
    for door in doors:
        door.produce(3000)
        door.start()
    for door in doors:
        assert door.wait_acked(3000, 60)
    for worker in workers:
        assert worker.stats.batches > 0, "both workers must take a share"
        assert worker.stats.rejected == 0 and worker.stats.errors == 0
    for i in (1, 2, 3):
        assert count_events(hub_db, "site-a", f"door-{i}") == (3000, 3000, 1, 3000)
    with hub_db.read() as session:
        assert sorted(session.execute(select(DeviceCursor.seq)).scalars()) == [3000, 3000, 3000]


hostile = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda key, value: json.dumps(
            {
                "v": 1,
                "site": "site-a",
                "device": "door-9",
                "events": [{**make_event("site-a", "door-9", 1), key: value}],
            }
        ).encode(),
        st.sampled_from(["seq", "id", "at", "kind", "data", "site", "clock_ok"]),
        st.none() | st.integers() | st.text(max_size=8) | st.lists(st.integers(), max_size=2),
    ),
)


def test_malformed_payloads_never_stop_the_hub_and_are_logged(
    broker: Mosquitto,
    make_worker: MakeWorker,
    hub_db: HubDatabase,
    listeners: Callable[..., Listener],
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = make_worker(0)
    publisher = MqttClient(settings_of(broker), "fuzzer", clean_start=True, session_expiry_s=0)
    publisher.start()
    assert publisher.wait_connected(10)

    def handled() -> int:
        return worker.stats.rejected + worker.stats.batches + worker.stats.requests + worker.stats.statuses

    # One hub for every example: the point is that the same hub survives all of them.
    @settings(max_examples=80, deadline=None)
    @given(payload=hostile, kind=st.sampled_from(["events", "requests", "status"]))
    def publish_one(payload: bytes, kind: str) -> None:
        before = handled()
        topic = {"events": events_topic, "requests": requests_topic, "status": status_topic}[kind]("site-a", "door-9")
        assert publisher.publish_confirmed(topic, payload)
        assert wait_until(lambda: handled() > before, 10), "the hub must handle every message"

    with caplog.at_level(logging.WARNING, logger="sync.hub.worker"):
        publish_one()
    assert worker.stats.errors == 0
    assert worker.stats.rejected > 0
    assert sum("message écarté" in r.getMessage() for r in caplog.records) == worker.stats.rejected
    assert all(t.is_alive() for t in worker._threads)
    acks = listeners(broker, "halfday/v1/site-a/door-1/ack")
    good = make_batch("site-a", "door-1", [make_event("site-a", "door-1", 1)])
    assert publisher.publish_confirmed(events_topic("site-a", "door-1"), good)
    assert json.loads(acks.next().payload) == {"v": 1, "seq": 1}
    publisher.stop()


def test_after_garbage_the_hub_still_ingests_a_good_batch(
    broker: Mosquitto,
    make_worker: MakeWorker,
    hub_db: HubDatabase,
    listeners: Callable[..., Listener],
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = make_worker(0)
    acks = listeners(broker, "halfday/v1/site-a/door-1/ack")
    publisher = MqttClient(settings_of(broker), "garbage", clean_start=True, session_expiry_s=0)
    publisher.start()
    assert publisher.wait_connected(10)
    with caplog.at_level(logging.WARNING):
        for payload in (b"\x00\xff", b"{}", b'{"v":1,"site":"site-b","device":"door-1","events":[]}', b"[" * 50_000):
            publisher.publish_confirmed(events_topic("site-a", "door-1"), payload)
        publisher.publish_confirmed("halfday/v1/site-a/door-1/events/extra", b"{}")
        publisher.publish_confirmed(
            events_topic("site-a", "door-1"),
            make_batch("site-a", "door-1", [make_event("site-a", "door-1", 1), make_event("site-a", "door-1", 2)]),
        )
        assert json.loads(acks.next().payload) == {"v": 1, "seq": 2}
    publisher.stop()
    assert worker.stats.rejected == 4
    assert sum("message écarté" in r.getMessage() for r in caplog.records) == 4
    assert count_events(hub_db) == (2, 2, 1, 2)


def test_revoking_a_badge_publishes_a_delta_at_once(
    broker: Mosquitto,
    make_worker: MakeWorker,
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    listeners: Callable[..., Listener],
) -> None:
    public_key = load_private_key(hub_settings.private_key_file).public_key()
    admin.add_site(hub_db, "site-a", "Le Local")
    member = admin.add_member(hub_db, "Zoé", "Martin", "zoe@example.org")
    plan = admin.add_plan(hub_db, "Carnet 10", "carnet", half_days=10, price_cents=9000)
    admin.add_subscription(hub_db, member, plan)
    admin.enrol_badge(hub_db, member, "a1b2c3d4")
    rosters = listeners(broker, roster_topic("site-a"))
    doors_ask(hub_db, "site-a")  # a door of the site holds none yet
    make_worker(0)
    first = verify_roster(rosters.next().payload, public_key, None, site="site-a")
    assert [c["value"] for c in first["credentials"] if c["status"] == "active"] == ["A1B2C3D4"]
    assert first["subscriptions"][0]["balance"] == 10
    deltas = listeners(broker, delta_topic("site-a"))
    started = time.monotonic()
    assert admin.revoke_badge(hub_db, "A1B2C3D4")
    delta = verify_delta(deltas.next(5).payload, public_key, site="site-a")
    assert time.monotonic() - started < 5
    # The member comes whole: their row, the badge now revoked, the carnet with its balance; nothing else.
    assert (delta["base"], delta["version"]) == (first["version"], first["version"] + 1)
    assert [m["id"] for m in delta["members"]] == [member]
    assert [c["status"] for c in delta["credentials"]] == ["revoked"]
    assert [s["balance"] for s in delta["subscriptions"]] == [10]
    assert (delta["removed_members"], delta["plans"], delta["removed_plans"]) == ([], [], [])
    # The broker keeps the newest delta for doors that connect later: one that missed any sees the gap at once.
    late = listeners(broker, delta_topic("site-a"))
    assert json.loads(late.next().payload)["version"] == delta["version"]


def test_an_enrol_request_gets_a_reply_and_the_badge_in_the_next_roster(
    broker: Mosquitto,
    make_worker: MakeWorker,
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    listeners: Callable[..., Listener],
) -> None:
    public_key = load_private_key(hub_settings.private_key_file).public_key()
    admin.add_site(hub_db, "site-a", "Le Local")
    member = admin.add_member(hub_db, "Zoé", "Martin", home_site="site-a")
    other = admin.add_member(hub_db, "Léo", "Petit", home_site="site-a")
    doors_ask(hub_db, "site-a")  # the site's door holds a roster: the hub's changes reach it as deltas
    make_worker(0)
    out = listeners(broker, replies_topic("site-a", "door-1"), roster_topic("site-a"), delta_topic("site-a"))
    sender = MqttClient(settings_of(broker), "door-1-requests", clean_start=True, session_expiry_s=0)
    sender.start()
    assert sender.wait_connected(10)

    def request(member_id: str, uid: str) -> dict[str, object]:
        body = {
            "v": 1,
            "site": "site-a",
            "device": "door-1",
            "id": uuid.uuid4().hex,
            "at": utc_iso(utcnow()),
            "kind": "enrol_badge",
            "data": {"member_id": member_id, "uid": uid},
        }
        sender.publish_confirmed(requests_topic("site-a", "door-1"), json.dumps(body).encode())
        return body

    first = request(member, "04A1B2C3D4E5F6")
    reply = validate_reply(out.next(where=lambda m: m.topic.endswith("replies")).payload)
    assert reply["request"] == first["id"] and reply["ok"] and reply["error"] is None
    want = reply["roster_version"]
    # The badge comes in the version the reply names: a delta, or the site's first snapshot if that is later.
    message = out.next(where=lambda m: not m.topic.endswith("replies") and json.loads(m.payload)["version"] >= want)
    if message.topic.endswith("delta"):
        roster = verify_delta(message.payload, public_key)
    else:
        roster = verify_roster(message.payload, public_key, None)
    assert {(c["member_id"], c["value"]) for c in roster["credentials"]} == {(member, "04A1B2C3D4E5F6")}
    request(other, "04A1B2C3D4E5F6")
    refused = validate_reply(out.next(where=lambda m: m.topic.endswith("replies")).payload)
    assert (refused["ok"], refused["error"]) == (False, "uid_in_use")
    sender.stop()


def test_commands_are_signed_and_refused_when_replayed(
    broker: Mosquitto,
    make_worker: MakeWorker,
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    listeners: Callable[..., Listener],
) -> None:
    public_key = load_private_key(hub_settings.private_key_file).public_key()
    make_worker(0)
    door = listeners(broker, command_topic("site-a", "door-1"))
    nonce = admin.issue_command(hub_db, "site-a", "door-1", "unlock", ttl_s=30)
    payload = door.next().payload
    nonces = MemoryNonceStore()
    command = check_command(payload, public_key, "site-a", "door-1", utcnow(), nonces)
    assert (command["name"], command["nonce"]) == ("unlock", nonce)
    with pytest.raises(ProtocolError, match="rejouée"):
        check_command(payload, public_key, "site-a", "door-1", utcnow(), nonces)
    with pytest.raises(queue.Empty):
        door.next(1.0)  # published once only


def test_status_and_last_will_show_a_door_online_then_offline(
    broker: Mosquitto, make_worker: MakeWorker, hub_db: HubDatabase
) -> None:
    worker = make_worker(0)
    # A door in another process, killed without a clean disconnect: the broker publishes its last will.
    script = textwrap.dedent(f"""
        import os, time
        from sync.mqtt import MqttClient, MqttSettings, Will
        from sync.payloads import make_status
        from sync.protocol import status_topic
        import datetime as dt
        topic = status_topic("site-a", "door-1")
        client = MqttClient(MqttSettings("127.0.0.1", {broker.port}), "door-1-agent",
                            will=Will(topic, make_status("site-a", "door-1", "offline")))
        client.start()
        assert client.wait_connected(10)
        status = make_status("site-a", "door-1", "online", at=dt.datetime.now(dt.UTC), backlog=42, last_seq=50)
        assert client.publish_confirmed(topic, status, retain=True)
        print("online", flush=True)
        time.sleep(30)
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as door:
        try:
            assert door.stdout is not None and door.stdout.readline().strip() == "online"

            def device() -> Device | None:
                with hub_db.read() as session:
                    return session.get(Device, ("site-a", "door-1"))

            assert wait_until(lambda: (d := device()) is not None and d.online and d.backlog == 42, 10)
            door.kill()
            door.wait(10)
            assert wait_until(lambda: (d := device()) is not None and not d.online, 10)
        finally:
            door.kill()
    # Counted just after the row is written: the count may trail what the page already shows.
    assert wait_until(lambda: worker.stats.statuses >= 2, 5)


def run_broker_kills(broker: Mosquitto, device: SimDevice, total: int, kills: int, seconds: float) -> int:
    """Produce `total` events steadily over `seconds` while the broker is SIGKILLed and restarted `kills` times.

    Returns how many kills struck while the device had events the hub had not acknowledged.
    """
    stop = threading.Event()

    def produce() -> None:
        chunk = max(1, total // int(seconds / 0.01))
        while len(device.events) < total and not stop.is_set():
            device.produce(min(chunk, total - len(device.events)))
            time.sleep(0.01)

    producer = threading.Thread(target=produce)
    producer.start()
    struck = 0
    try:
        for _ in range(kills):
            time.sleep(seconds / (kills + 1))
            struck += device.acked < len(device.events)
            broker.kill()
            time.sleep(0.2)
            broker.restart()
    finally:
        producer.join(seconds * 3)
        stop.set()
    return struck


def test_broker_killed_during_5000_events_each_arrives_exactly_once(
    broker: Mosquitto, make_worker: MakeWorker, hub_db: HubDatabase, devices: Callable[..., SimDevice]
) -> None:
    make_worker(0)
    device = devices(broker, batch_events=50, window_events=1000)
    device.start()
    struck = run_broker_kills(broker, device, 5000, kills=3, seconds=4.0)
    assert struck >= 2, "the kills must hit events in flight"
    assert device.wait_acked(5000, 90), f"acked only {device.acked}"
    assert count_events(hub_db) == (5000, 5000, 1, 5000)


def test_hub_down_while_20000_events_are_made_then_all_arrive_once(
    broker: Mosquitto, make_worker: MakeWorker, hub_db: HubDatabase, devices: Callable[..., SimDevice]
) -> None:
    device = devices(broker, batch_events=250, window_events=5000, ack_timeout_s=1.0)
    device.start()
    device.produce(20_000)
    time.sleep(2.0)  # the device sends into the void and times out at least once
    assert device.acked == 0 and device.window.rewinds >= 1
    make_worker(0)
    assert device.wait_acked(20_000, 90), f"acked only {device.acked}"
    assert count_events(hub_db) == (20_000, 20_000, 1, 20_000)


@pytest.mark.soak
def test_soak_many_broker_kills_with_two_workers(
    broker: Mosquitto, make_worker: MakeWorker, hub_db: HubDatabase, devices: Callable[..., SimDevice]
) -> None:
    make_worker(0)
    make_worker(1)
    doors = [devices(broker, "site-a", f"door-{i}", batch_events=200, window_events=2000) for i in (1, 2)]
    for door in doors:
        door.start()
    other = threading.Thread(target=run_broker_kills, args=(broker, doors[1], 40_000, 0, 20.0))
    other.start()
    assert run_broker_kills(broker, doors[0], 40_000, kills=8, seconds=20.0) >= 6
    other.join()
    for i, door in enumerate(doors, start=1):
        assert door.wait_acked(40_000, 300), f"door-{i} acked only {door.acked}"
        assert count_events(hub_db, "site-a", f"door-{i}") == (40_000, 40_000, 1, 40_000)


def test_a_device_of_another_site_cannot_change_a_member_of_this_one(
    broker: Mosquitto,
    make_worker: MakeWorker,
    hub_db: HubDatabase,
    listeners: Callable[..., Listener],
) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    admin.add_site(hub_db, "site-b", "La Fabrique")
    only_a = admin.add_plan(hub_db, "Carnet du Local", "carnet", half_days=10, sites=["site-a"])
    member = admin.add_member(hub_db, "Zoé", "Martin", home_site="site-a")
    carnet = admin.add_subscription(hub_db, member, only_a)
    roamer = admin.add_member(hub_db, "Léo", "Petit")
    admin.add_subscription(hub_db, roamer, admin.add_plan(hub_db, "Réseau", "unlimited"))
    with hub_db.read() as s:
        before = (touches(s), s.execute(select(func.count()).select_from(Credential)).scalar_one())
        credited = s.get(Subscription, carnet).credited  # type: ignore[union-attr]
    make_worker(0)
    out = listeners(broker, replies_topic("site-b", "door-b1"))
    sender = MqttClient(settings_of(broker), "door-b1-requests", clean_start=True, session_expiry_s=0)
    sender.start()
    assert sender.wait_connected(10)

    def ask(kind: str, data: dict[str, object]) -> dict[str, object]:
        body = {
            "v": 1,
            "site": "site-b",
            "device": "door-b1",
            "id": uuid.uuid4().hex,
            "at": utc_iso(utcnow()),
            "kind": kind,
            "data": data,
        }
        sender.publish_confirmed(requests_topic("site-b", "door-b1"), json.dumps(body).encode())
        reply = validate_reply(out.next(where=lambda m: json.loads(m.payload)["request"] == body["id"]).payload)
        return reply

    # Site B's door asks for a badge, a top-up and the member's own details for a member of site A only.
    asks: list[tuple[str, dict[str, object]]] = [
        ("enrol_badge", {"member_id": member, "uid": "A1B2C3D4"}),
        ("top_up", {"subscription_id": carnet, "half_days": 10, "amount_cents": 0, "provider": "counter"}),
        (
            "add_member",
            {"member_id": member, "first_name": "Zoé", "last_name": "Martin", "email": None, "uid": "A1B2C3D5"},
        ),
    ]
    for kind, data in asks:
        reply = ask(kind, data)
        assert (reply["ok"], reply["error"]) == (False, "forbidden_site"), kind
    with hub_db.read() as s:
        after = (touches(s), s.execute(select(func.count()).select_from(Credential)).scalar_one())
        assert after == before
        assert s.get(Subscription, carnet).credited == credited  # type: ignore[union-attr]
        refused = s.execute(select(ChangeRequest).where(ChangeRequest.site_id == "site-b")).scalars().all()
        assert {r.error for r in refused} == {"forbidden_site"} and len(refused) == 3
    # A member of the whole network (a plan valid everywhere) may get a badge at site B's door.
    assert ask("enrol_badge", {"member_id": roamer, "uid": "B1B2C3D4"})["ok"]
    sender.stop()


def test_a_doors_health_and_roster_troubles_reach_the_doors_page(
    broker: Mosquitto, make_worker: MakeWorker, hub_db: HubDatabase
) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    make_worker(0)
    now = utcnow()
    status = {
        "v": 1,
        "site": "site-a",
        "device": "door-1",
        "state": "online",
        "at": utc_iso(now),
        "backlog": 3,
        "last_seq": 9,
        "acked_seq": 6,
        "roster_version": 4,
        "oldest_unsent_at": utc_iso(now - dt.timedelta(minutes=7)),
        "clock_ok": False,
        "door": "open",
        "alarms": ["held_open", "roster"],
        "reader": "absent",
        "roster_issued_at": utc_iso(now - dt.timedelta(hours=30)),
        "roster_failed_at": utc_iso(now - dt.timedelta(minutes=5)),
        "roster_failure": "signature invalide : la liste ne vient pas du hub",
    }
    sender = MqttClient(settings_of(broker), "door-1-agent", clean_start=True, session_expiry_s=0)
    sender.start()
    assert sender.wait_connected(10)
    assert sender.publish_confirmed(status_topic("site-a", "door-1"), json.dumps(status).encode(), retain=True)
    sender.stop()

    def device() -> Device | None:
        with hub_db.read() as session:
            return session.get(Device, ("site-a", "door-1"))

    assert wait_until(lambda: (d := device()) is not None and d.roster_failure is not None, 10)
    found = device()
    assert found is not None and found.alarms == ["held_open", "roster"] and found.clock_ok is False
    add_admin(hub_db)
    client = hub_app(hub_db).test_client()
    sign_in(client)
    page = client.get("/").get_data(as_text=True)
    for words in (
        "porte restée ouverte",
        "liste des membres trop ancienne",
        "non fiable",
        "absent",
        "ouverte",
        "émis il y a 1 j",
        "refusé il y a 5 min : signature invalide",
        "il y a 7 min",
    ):
        assert words in page, words
