"""A member erased at the hub is erased at the door, end to end: the hub on PostgreSQL, its worker on a real
Mosquitto, the site's real sync agent and door daemon. The member badges in; the hub counts the half-day; a network
admin erases them; the roster tells the door, which forgets the name and the badge in its database and in its memory
(the badge no longer opens); the kiosk's pages, the wall, the hub's pages and every export name them no more; and
their half-day still counts, at the door and at the hub."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from access.db import Database
from access.models import BadgeHistory, Credential, Erasure, Event
from access.models import Member as DoorMember
from access.models import Use as DoorUse
from access.store import state_version
from halfday.sample import ALL_DAY
from kiosk.app import create_app
from sync.agent import AgentSettings, SyncAgent, outbox
from sync.hub import admin, reports
from sync.hub.audit import SYSTEM
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import Use
from sync.hub.privacy import erase_member
from sync.hub.worker import HubWorker
from sync.mqtt import MqttSettings
from sync.signing import load_private_key, public_key_b64
from tests.kiosk.test_privacy_pages import sign_in as kiosk_sign_in
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.hub import add_admin, hub_app
from tests.support.hub import sign_in as hub_sign_in
from tests.support.kiosk import KIOSK_SITE, TEST_TUNING
from tests.support.site import Site
from tests.support.wait import wait_until

BADGE = "A1B2C3D4"


def door_text(site: Site) -> str:
    """Everything the door's database says in the tables that could name a person."""
    with site.db.read() as s:
        rows: list[object] = list(s.scalars(select(Event.data)))
        rows += [(m.first_name, m.last_name, m.email) for m in s.scalars(select(DoorMember))]
        rows += list(s.scalars(select(Credential.value))) + list(s.scalars(select(BadgeHistory.value)))
    return json.dumps(rows, ensure_ascii=False, default=str)


@pytest.mark.parametrize("hub_db", ["postgresql"], indirect=True)
def test_an_erasure_at_the_hub_reaches_the_door_and_the_half_day_still_counts(
    hub_db: HubDatabase,
    hub_settings: HubSettings,
    broker: Mosquitto,
    make_worker: Callable[..., HubWorker],
    start_agent: Callable[..., SyncAgent],
    new_site: Callable[..., Site],
    door_rig: Callable[..., DoorRig],
    tmp_path: Path,
) -> None:
    site = new_site(overrides={**ALL_DAY, **KIOSK_SITE})
    site_id, device = site.config.site.id, site.config.site.device
    admin.add_site(hub_db, site_id, site.config.site.name)
    plan = admin.add_plan(hub_db, "Illimité", "unlimited", hours_start=dt.time(0, 0), hours_end=dt.time(23, 59))
    member = admin.add_member(hub_db, "Bruno", "Martin", "bruno@example.org", home_site=site_id)
    admin.add_subscription(hub_db, member, plan)
    admin.enrol_badge(hub_db, member, BADGE)

    make_worker()
    start_agent(
        AgentSettings(
            site=site_id,
            device=device,
            database_url=site.config.database_url,
            hub=MqttSettings(broker.host, broker.port),
            public_key=public_key_b64(load_private_key(hub_settings.private_key_file)),
            state_path=str(tmp_path / "sync-state.sqlite"),
            status_interval_s=0.5,
        ),
        Database(site.config.database_url),
    )
    assert wait_until(lambda: outbox.roster_version(site.db) is not None, 15), "the roster never reached the site"
    rig = door_rig(site)
    rig.start()
    rig.tap(BADGE)
    [entry] = rig.wait_events(1, "entry")
    assert entry.data["granted"] is True and entry.data["uid"] == BADGE

    def hub_uses() -> int:
        with hub_db.read() as s:
            return int(s.scalar(select(func.count()).select_from(Use).where(Use.holder_id == member)) or 0)

    assert wait_until(lambda: hub_uses() == 1, 15), "the hub never counted the half-day"
    assert wait_until(lambda: outbox.outbox_state(site.db, device).backlog == 0, 15)
    assert "Bruno" in door_text(site) and BADGE in door_text(site)

    erase_member(hub_db, member, actor=SYSTEM)

    # The roster's delta reaches the door: it erases the member once, in its database...
    def erased_here() -> bool:
        with site.db.read() as s:
            return s.get(Erasure, member) is not None

    assert wait_until(erased_here, 15), "the erasure never reached the door"
    text = door_text(site)
    assert "Bruno" not in text and "Martin" not in text and "bruno@" not in text and BADGE not in text
    with site.db.read() as s:
        assert s.scalar(select(func.count()).select_from(DoorUse).where(DoorUse.holder_id == member)) == 1

    # ... and its pages: the admin's members, journal, usage export and the member's export, the wall.
    app = create_app(site.config, connect_bus=False, tuning=TEST_TUNING)
    try:
        client = app.test_client()
        kiosk_sign_in(client, site)
        month = dt.datetime.now(site.config.site.tz).strftime("%Y-%m")
        for url in (
            "/admin/members",
            "/admin/events",
            f"/admin/exports/usage/{month}.csv",
            "/display/",
            f"/admin/members/{member}/export.json",
        ):
            answer = client.get(url)
            assert "Bruno" not in answer.text and BADGE not in answer.text, url
        assert "Membre effacé" in client.get(f"/admin/exports/usage/{month}.csv").text
    finally:
        app.extensions["halfday.kiosk"].close()

    # ... and its memory: once the door holds the change (it polls the ledger's state version), the badge no
    # longer opens.
    def door_holds_it() -> bool:
        with site.db.read() as s:
            return rig.daemon.cache.version == state_version(s)

    assert wait_until(door_holds_it, 10), "the door never reloaded after the erasure"
    rig.tap(BADGE)
    entries = rig.wait_events(2, "entry")
    assert len(entries) == 2 and entries[1].data["granted"] is False
    assert rig.relay_states() == [False, True, False]  # opened once, for the tap before the erasure
    # The door's last good state, kept beside the ledger for a damaged SD card, was written again without them.
    snapshots = list(site.folder.glob("door-snapshot*.json"))
    assert snapshots and all(BADGE not in p.read_text() and "Bruno" not in p.read_text() for p in snapshots)

    # The hub: no name in its pages and exports; the half-day still counts.
    add_admin(hub_db)
    hub = hub_app(hub_db).test_client()
    hub_sign_in(hub)
    today = dt.date.today()
    usage = hub.get(f"/export/usage.csv?month={today:%Y-%m}").get_data(as_text=True)
    exported = hub.get(f"/members/{member}/export.json").get_data(as_text=True)
    for shown in (usage, exported, hub.get("/members").get_data(as_text=True)):
        assert "Bruno" not in shown and "bruno@" not in shown and BADGE not in shown
    assert "Membre effacé" in usage
    with hub_db.read() as s:
        counted = {
            u.member_id: sum(u.by_site.values()) for u in reports.monthly_usage_by_member(s, today.year, today.month)
        }
    assert counted.get(member) == 1
    assert hub_uses() == 1
