"""Rosters as snapshots and signed deltas (sync/PROTOCOL.md, "Rosters"), between a real hub worker and a real sync
agent over a real Mosquitto, the hub on SQLite and on PostgreSQL: a change travels as a small delta; a missed delta
is recovered through a snapshot; a forged delta is refused and reported, a replayed or older one ignored; a large
snapshot travels in parts and is verified whole."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from access.db import Database
from access.models import Credential as DoorCredential
from access.models import Member as DoorMember
from sync import snapshots
from sync.agent import SyncAgent, outbox
from sync.agent.roster import FORGED
from sync.hub import admin, roster
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import Credential, Member, RosterTouch, Site, Subscription
from sync.hub.roster import TOUCHED, meta_value
from sync.hub.worker import HubWorker
from sync.mqtt import MqttClient, MqttSettings
from sync.protocol import (
    MAX_MESSAGE_BYTES,
    ProtocolError,
    delta_topic,
    device_client_id,
    dumps,
    parse_json,
    roster_topic,
)
from sync.signing import generate_private_key, load_private_key, sign
from sync.snapshots import SnapshotParts, split_snapshot
from tests.support.broker import Mosquitto
from tests.support.listener import Listener
from tests.support.wait import wait_until
from tests.sync.conftest import DEVICE, SITE


@pytest.fixture(autouse=True)
def quick_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    # A door that is behind gets its snapshot at once here, not 30 s after the site's last one.
    monkeypatch.setattr(roster, "SNAPSHOT_MIN_GAP", dt.timedelta(0))


def door_status(door_db: Database) -> tuple[int | None, set[tuple[str, str]]]:
    """The roster version the door holds, and its members' badges (UID, status)."""
    with door_db.read() as session:
        badges = {(v, s) for v, s in session.execute(select(DoorCredential.value, DoorCredential.status))}
    return outbox.roster_version(door_db), badges


def network(hub_db: HubDatabase) -> dict[str, str]:
    admin.add_site(hub_db, SITE, "Le Local")
    admin.add_site(hub_db, "site-b", "La Fabrique")
    everywhere = admin.add_plan(hub_db, "Réseau", "unlimited")
    ids = {}
    for name, uid in (("Zoé", "A1A1A1A1"), ("Léo", "B2B2B2B2"), ("Ana", "C3C3C3C3")):
        ids[name] = admin.add_member(hub_db, name, "Martin")
        admin.add_subscription(hub_db, ids[name], everywhere)
        admin.enrol_badge(hub_db, ids[name], uid)
    return ids


def forget_session(broker: Mosquitto) -> None:
    """Drop the door's persistent session on the broker, with what it queued: the deltas sent meanwhile are lost
    to it (a session that expired during a long outage)."""
    client = MqttClient(
        MqttSettings(broker.host, broker.port), device_client_id(SITE, DEVICE), clean_start=True, session_expiry_s=0
    )
    client.start()
    assert client.wait_connected(10)
    client.stop()


def settled(hub_db: HubDatabase) -> bool:
    """No snapshot is asked for at the hub: a change now travels to the site as a delta (a site due for a snapshot
    gets the change in it instead)."""
    with hub_db.read() as session:
        return SITE not in roster.snapshots_asked(session)


def delta_revoking(deltas: Listener, uid: str) -> bytes:
    """The first delta heard that revokes `uid` (one for the setup's own changes may come before it)."""

    def revokes(payload: bytes) -> bool:
        credentials = json.loads(payload).get("credentials", [])
        return any(c.get("value") == uid and c.get("status") == "revoked" for c in credentials)

    return deltas.next(10, where=lambda m: revokes(m.payload)).payload


def test_deltas_carry_changes_and_a_missed_one_is_recovered_through_a_snapshot(
    broker: Mosquitto,
    make_worker: Callable[..., HubWorker],
    make_agent: Callable[..., SyncAgent],
    hub_db: HubDatabase,
    door_db: Database,
    listeners: Callable[..., Listener],
) -> None:
    network(hub_db)
    make_worker(0)
    agent = make_agent()
    assert wait_until(lambda: door_status(door_db)[0] is not None, 15)
    start = door_status(door_db)[0]
    assert start is not None
    deltas = listeners(broker, delta_topic(SITE))
    # A revocation travels as a delta of a few hundred bytes, and the door applies it.
    assert wait_until(lambda: settled(hub_db), 10)
    assert admin.revoke_badge(hub_db, "A1A1A1A1")
    assert len(delta_revoking(deltas, "A1A1A1A1")) < 2048
    # Applied: the door holds the revocation (a delta for the setup's own changes may come first).
    assert wait_until(lambda: ("A1A1A1A1", "revoked") in door_status(door_db)[1], 10)
    assert (door_status(door_db)[0] or 0) >= start + 1
    # The door is away long enough for its session to go: two changes happen, both deltas are lost to it.
    agent.stop()
    forget_session(broker)
    assert admin.revoke_badge(hub_db, "B2B2B2B2")
    deltas.next(10)
    max_ = admin.add_member(hub_db, "Max", "Blanc", home_site=SITE)
    admin.enrol_badge(hub_db, max_, "D4D4D4D4")
    head = hub_head(hub_db)
    assert head >= start + 3
    # Back, it hears of the latest delta (retained), sees the gap, says it is behind, and gets a snapshot.
    agent = make_agent()
    assert wait_until(lambda: (door_status(door_db)[0] or 0) > head, 20)
    version, badges = door_status(door_db)
    assert {("A1A1A1A1", "revoked"), ("B2B2B2B2", "revoked"), ("C3C3C3C3", "active"), ("D4D4D4D4", "active")} <= badges
    assert not agent.roster.health().behind
    # After the snapshot, deltas apply again.
    assert admin.revoke_badge(hub_db, "C3C3C3C3")
    assert wait_until(lambda: door_status(door_db)[0] == (version or 0) + 1, 10)
    assert ("C3C3C3C3", "revoked") in door_status(door_db)[1]


def hub_head(hub_db: HubDatabase) -> int:
    """The site's latest version at the hub, once the keeper has sent every change made so far."""

    def caught_up() -> bool:
        with hub_db.read() as session:
            return meta_value(session, TOUCHED) >= (session.execute(select(func.max(RosterTouch.id))).scalar() or 0)

    assert wait_until(caught_up, 10)
    with hub_db.read() as session:
        return int(session.execute(select(Site.roster_version).where(Site.id == SITE)).scalar_one())


def test_a_forged_delta_is_refused_and_reported_a_replayed_or_older_one_ignored(
    broker: Mosquitto,
    make_worker: Callable[..., HubWorker],
    make_agent: Callable[..., SyncAgent],
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    door_db: Database,
    listeners: Callable[..., Listener],
) -> None:
    ids = network(hub_db)
    key = load_private_key(hub_settings.private_key_file)
    make_worker(0)
    agent = make_agent()
    assert wait_until(lambda: door_status(door_db)[0] is not None, 15)
    deltas = listeners(broker, delta_topic(SITE))
    assert wait_until(lambda: settled(hub_db), 10)
    assert admin.revoke_badge(hub_db, "A1A1A1A1")
    genuine = delta_revoking(deltas, "A1A1A1A1")
    held = json.loads(genuine)["version"]
    assert wait_until(lambda: door_status(door_db)[0] == held, 10)
    fake_hub = MqttClient(MqttSettings(broker.host, broker.port), "fake-hub", clean_start=True, session_expiry_s=0)
    fake_hub.start()
    assert fake_hub.wait_connected(10)
    try:
        # Forged: the next version, giving Zoé a badge in force again, signed with another key.
        body = {k: v for k, v in json.loads(genuine).items() if k != "sig"}
        body.update(version=held + 1, base=held)
        body["credentials"] = [{**c, "status": "active"} for c in body["credentials"]]
        fake_hub.publish_confirmed(delta_topic(SITE), dumps(sign(body, generate_private_key())))
        assert wait_until(lambda: agent.roster.health().failure == FORGED, 10)
        assert door_status(door_db)[0] == held and ("A1A1A1A1", "revoked") in door_status(door_db)[1]
        # Tampered after signing (the hub's signature, another content): refused the same.
        signed = sign(body, key)
        signed["members"][0]["active"] = False
        fake_hub.publish_confirmed(delta_topic(SITE), dumps(signed))
        assert wait_until(lambda: agent.stats.rejected >= 2, 10)
        assert door_status(door_db)[0] == held
        # Replayed: the genuine delta again, and an older genuine one: ignored, not a failure, nothing changes.
        rejected = agent.stats.rejected
        older = sign({**body, "version": held - 1, "base": held - 2, "members": [], "credentials": []}, key)
        older["subscriptions"] = []
        fake_hub.publish_confirmed(delta_topic(SITE), genuine)
        fake_hub.publish_confirmed(delta_topic(SITE), dumps(sign({k: v for k, v in older.items() if k != "sig"}, key)))
        # The hub's next real change still applies on top of the version held.
        admin.revoke_badge(hub_db, "B2B2B2B2")
        assert wait_until(lambda: door_status(door_db)[0] == held + 1, 10)
        assert ("B2B2B2B2", "revoked") in door_status(door_db)[1]
        assert agent.stats.rejected == rejected
        assert wait_until(lambda: agent.roster.health().failure is None, 5)  # a delta that applies clears it
        with door_db.read() as session:
            assert session.get(DoorMember, ids["Zoé"]) is not None
    finally:
        fake_hub.stop()


def test_a_snapshot_larger_than_a_message_travels_in_parts_and_applies_whole(
    monkeypatch: pytest.MonkeyPatch,
    broker: Mosquitto,
    make_worker: Callable[..., HubWorker],
    make_agent: Callable[..., SyncAgent],
    hub_db: HubDatabase,
    door_db: Database,
    listeners: Callable[..., Listener],
) -> None:
    """Once, 2,200 members made a roster past the 1 MiB limit, and every door refused every roster from then on."""
    # Parts smaller than the protocol's, so that this network's snapshot (about 3 MB of JSON, compressed to about a
    # third) takes several: the way a snapshot of 20,000 members travels.
    monkeypatch.setattr(snapshots, "SNAPSHOT_PART_BYTES", 200_000)
    admin.add_site(hub_db, SITE, "Le Local")
    plan = admin.add_plan(hub_db, "Réseau", "unlimited")
    count = 8000
    members = [uuid.uuid4().hex for _ in range(count)]
    with hub_db.write() as session:
        session.execute(
            insert(Member),
            [
                {"id": m, "first_name": f"Membre{i}", "last_name": "Martin", "home_site_id": SITE}
                for i, m in enumerate(members)
            ],
        )
        session.execute(
            insert(Credential),
            [{"member_id": m, "kind": "nfc_uid", "value": f"{i + 1:08X}"} for i, m in enumerate(members)],
        )
        session.execute(insert(Subscription), [{"member_id": m, "plan_id": plan} for m in members])
        admin.touch_rosters(session, members=members)
    parts = listeners(broker, roster_topic(SITE), f"{roster_topic(SITE)}/+")
    make_worker(0)
    make_agent()  # a new door: it holds no roster, says so, and the hub sends the site a snapshot
    first = json.loads(parts.next(20).payload)
    assert first["parts"] >= 2 and first["encoding"] == "zlib"
    assert all(len(m.payload) <= MAX_MESSAGE_BYTES for m in [parts.next(10) for _ in range(first["parts"] - 1)])
    assert wait_until(lambda: door_status(door_db)[0] == first["version"], 30)
    with door_db.read() as session:
        assert session.execute(select(func.count()).select_from(DoorMember)).scalar_one() == count
    # Deltas go on applying on top of it.
    admin.revoke_badge(hub_db, "00000001")
    assert wait_until(lambda: ("00000001", "revoked") in door_status(door_db)[1], 10)


def test_an_old_snapshot_on_the_broker_does_not_undo_deltas(
    broker: Mosquitto,
    make_worker: Callable[..., HubWorker],
    make_agent: Callable[..., SyncAgent],
    hub_db: HubDatabase,
    door_db: Database,
) -> None:
    network(hub_db)
    make_worker(0)
    agent = make_agent()
    assert wait_until(lambda: door_status(door_db)[0] is not None, 15)
    assert admin.revoke_badge(hub_db, "A1A1A1A1")
    assert wait_until(lambda: ("A1A1A1A1", "revoked") in door_status(door_db)[1], 10)
    held = door_status(door_db)[0]
    # A restart of the agent: the broker gives it the retained snapshot (older) and the retained delta (held).
    agent.stop()
    agent = make_agent()
    assert wait_until(lambda: agent.stats.rosters_applied == 0 and agent.hub.connected, 10)
    assert door_status(door_db)[0] == held and ("A1A1A1A1", "revoked") in door_status(door_db)[1]
    assert not agent.roster.health().behind and agent.roster.health().failure is None


def test_snapshot_parts_are_put_together_in_any_order_and_checked_whole() -> None:
    payload = json.dumps({"v": 1, "blob": os.urandom(900_000).hex()}).encode()
    parts = [parse_json(p) for p in split_snapshot(payload, SITE, 7)]
    assert len(parts) >= 2 and {p["parts"] for p in parts} == {len(parts)}
    gathered = SnapshotParts()
    assert gathered.add({**parts[0], "version": 6}) is None  # an older version's part: kept only until a newer one
    results = [gathered.add(p) for p in reversed(parts)]
    assert results[:-1] == [None] * (len(parts) - 1) and results[-1] == payload
    # One part altered: the digest does not match, nothing comes out.
    altered = SnapshotParts()
    for p in parts[:-1]:
        altered.add(p)
    with pytest.raises(ProtocolError, match="empreinte"):
        altered.add({**parts[-1], "data": parts[0]["data"]})
    # A small stream that inflates past the limit is refused (a bomb).
    bomb = zlib.compress(b"\0" * (65 << 20), 9)
    part: dict[str, Any] = {"v": 1, "site": SITE, "version": 9, "part": 0, "parts": 1, "encoding": "zlib"}
    part.update(digest=hashlib.sha256(bomb).hexdigest(), data=base64.b64encode(bomb).decode())
    with pytest.raises(ProtocolError, match="décompressée"):
        SnapshotParts().add(part)
