"""Staff at a networked site: the hub's manager counts a member in the staff from the member's page, the roster
carries it (only when true, so everyone else's row is unchanged and an older hub's roster means "not staff"), a
device checks and applies it, and on a day the site's own calendar closes it the real door opens for staff and
refuses the other members."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from access import closure_days
from access.db import Database, migrate
from access.models import Member as DoorMember
from access.models import Use
from sync.agent import AgentSettings, SyncAgent, outbox
from sync.hub import accounts, admin
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import AuditEntry, Member, RosterTouch
from sync.hub.roster import build_roster_body
from sync.hub.worker import HubWorker
from sync.mqtt import MqttSettings
from sync.protocol import ProtocolError, dumps, utc_iso
from sync.signing import generate_private_key, load_private_key, public_key_b64, sign_roster, verify_roster
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.hub import add_admin, add_manager, hub_app, sign_in, token
from tests.support.site import Site
from tests.support.wait import wait_until

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
ZOE, LEO = "A1B2C3D4", "B2C3D4E5"
WHOLE_DAY = (dt.time(0, 0), dt.time(23, 59))


def roster(version: int, **member_fields: Any) -> dict[str, Any]:
    """A roster with one member, as a hub older than closures sent it, with `member_fields` laid over the member."""
    member = {"id": "a" * 32, "first_name": "Zoé", "last_name": "", "email": None, "active": True, **member_fields}
    return {
        "v": 1,
        "site": "site-a",
        "version": version,
        "issued_at": utc_iso(NOW),
        "seen": {},
        "members": [member],
        "credentials": [],
        "plans": [],
        "subscriptions": [],
    }


@pytest.mark.parametrize("staff", ["absent", True, False])
def test_a_device_accepts_staff_and_a_roster_without_it(staff: Any) -> None:
    key = generate_private_key()
    body = roster(3) if staff == "absent" else roster(3, staff=staff)
    checked = verify_roster(dumps(sign_roster(body, key)), key.public_key(), 2, site="site-a")
    assert checked["members"][0].get("staff", "absent") == staff


@pytest.mark.parametrize("staff", [None, 1, "true", "oui", [True]])
def test_a_device_refuses_staff_it_could_misread(staff: Any) -> None:
    key = generate_private_key()
    with pytest.raises(ProtocolError, match=r"roster\.members\[0\]\.staff"):
        verify_roster(dumps(sign_roster(roster(3, staff=staff), key)), key.public_key(), 2, site="site-a")


def test_a_roster_sets_and_clears_staff_in_the_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'halfday.db'}"
    migrate(url)
    db = Database(url)
    try:
        for version, fields, expected in ((1, {"staff": True}, True), (2, {}, False), (3, {"staff": True}, True)):
            outbox.apply_roster(db, roster(version, **fields), "door-1")
            with db.read() as session:
                assert session.scalars(select(DoorMember.staff)).one() is expected
    finally:
        db.dispose()


def test_the_hub_sends_staff_only_for_staff_and_only_its_managers_change_it(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    admin.add_site(hub_db, "site-b", "La Filature")
    plan = admin.add_plan(hub_db, "Illimité", "unlimited", sites=["site-a"])
    zoe = admin.add_member(hub_db, "Zoé", home_site="site-a")
    leo = admin.add_member(hub_db, "Léo", home_site="site-a")
    for member in (zoe, leo):
        admin.add_subscription(hub_db, member, plan)
    with hub_db.read() as session:
        before = build_roster_body(session, "site-a", NOW)["members"]
        touches = len(session.scalars(select(RosterTouch)).all())
    assert all("staff" not in row for row in before)

    admin.set_member_staff(hub_db, zoe, True)
    with hub_db.read() as session:
        rows = {row["first_name"]: row for row in build_roster_body(session, "site-a", NOW)["members"]}
        assert len(session.scalars(select(RosterTouch)).all()) > touches  # a delta goes to the site's doors
        audit = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert rows["Zoé"]["staff"] is True and "staff" not in rows["Léo"]
    assert rows["Léo"] == next(r for r in before if r["first_name"] == "Léo")  # byte for byte as before
    assert audit[-1] == "member.staff"

    # A manager of another site does not see Zoé: the same refusal as for any change of hers.
    account = accounts.load(hub_db, add_manager(hub_db, "bea", ["site-b"]))
    assert account is not None
    with pytest.raises(admin.HubError) as refused:
        admin.set_member_staff(hub_db, zoe, False, actor=account.actor)
    assert refused.value.code == "forbidden"
    with hub_db.read() as session:
        assert session.scalars(select(Member.staff).where(Member.id == zoe)).one() is True
    admin.set_member_staff(hub_db, zoe, False)
    with hub_db.read() as session:
        assert session.scalars(select(Member.staff).where(Member.id == zoe)).one() is False
        assert all("staff" not in row for row in build_roster_body(session, "site-a", NOW)["members"])


def test_the_hubs_member_page_counts_a_member_in_the_staff(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    admin.add_site(hub_db, "site-b", "La Filature")
    zoe = admin.add_member(hub_db, "Zoé", "Martin", home_site="site-a")
    add_admin(hub_db)
    add_manager(hub_db, "bea", ["site-b"])
    client = hub_app(hub_db).test_client()
    sign_in(client)
    page = f"/members/{zoe}"
    assert "Pas dans l'équipe" in html.unescape(client.get(page).get_data(as_text=True))
    done = client.post(f"{page}/staff", data={"staff": "1", "csrf_token": token(client, page)}, follow_redirects=True)
    text = html.unescape(done.get_data(as_text=True))
    assert "Compté·e dans l'équipe : ouvre les jours de fermeture." in text
    assert "Retirer de l'équipe" in text
    assert client.post(f"{page}/staff", data={"staff": "0"}).status_code == 400  # no token: refused
    with hub_db.read() as session:
        assert session.scalars(select(Member.staff).where(Member.id == zoe)).one() is True

    # The manager of another site does not even see her.
    other = hub_app(hub_db).test_client()
    sign_in(other, "bea")
    refused = other.post(f"{page}/staff", data={"staff": "0", "csrf_token": token(other, "/members")})
    assert refused.status_code == 404
    with hub_db.read() as session:
        assert session.scalars(select(Member.staff).where(Member.id == zoe)).one() is True


@pytest.fixture
def agent_on(
    broker: Mosquitto, hub_settings: HubSettings, tmp_path: Path, start_agent: Callable[..., SyncAgent]
) -> Callable[[Site], SyncAgent]:
    def start(site: Site) -> SyncAgent:
        settings = AgentSettings(
            site=site.config.site.id,
            device=site.config.site.device,
            database_url=site.config.database_url,
            hub=MqttSettings(broker.host, broker.port),
            public_key=public_key_b64(load_private_key(hub_settings.private_key_file)),
            state_path=str(tmp_path / "sync-state.sqlite"),
        )
        return start_agent(settings, Database(site.config.database_url))

    return start


def test_a_networked_site_closed_today_opens_for_the_hubs_staff_only(
    hub_db: HubDatabase,
    make_worker: Callable[..., HubWorker],
    agent_on: Callable[[Site], SyncAgent],
    new_site: Callable[..., Site],
    door_rig: Callable[..., DoorRig],
) -> None:
    site = new_site()
    admin.add_site(hub_db, site.config.site.id, site.config.site.name)
    start, end = WHOLE_DAY
    plan = admin.add_plan(hub_db, "Illimité", "unlimited", hours_start=start, hours_end=end)
    members = {}
    for name, uid in (("Zoé", ZOE), ("Léo", LEO)):
        members[name] = admin.add_member(hub_db, name)
        admin.add_subscription(hub_db, members[name], plan)
        admin.enrol_badge(hub_db, members[name], uid)
    admin.set_member_staff(hub_db, members["Zoé"], True)

    make_worker()
    agent_on(site)
    assert wait_until(lambda: outbox.roster_version(site.db) is not None, 15), "the roster never reached the site"
    with site.db.read() as session:
        staff = {name: is_staff for name, is_staff in session.execute(select(DoorMember.first_name, DoorMember.staff))}
    assert staff.get("Zoé") is True and staff.get("Léo") is False

    # The site's manager closes today, on the appliance: the calendar is the site's own.
    today = dt.datetime.now(site.config.site.tz).date()
    with site.db.write() as session:
        closure_days.add_closures(session, closure_days.Span(today, today), "Inventaire")
    rig = door_rig(site)
    rig.start()
    rig.tap(LEO)
    rig.wait_events(1, "entry")
    rig.tap(ZOE)
    entries = rig.wait_events(2, "entry")
    assert [(e.data["uid"], e.data["granted"], e.data["reason"], e.data["use"]) for e in entries] == [
        (LEO, False, "closed", None),
        (ZOE, True, "staff", None),
    ]
    assert wait_until(lambda: rig.relay_states() == [False, True, False], timeout=3)
    with site.db.read() as session:
        assert session.scalars(select(Use)).all() == []
