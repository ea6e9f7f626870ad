"""A plan's weekdays in the roster: the hub sends them, a device checks and applies them (an older hub's roster
without them included), and the door refuses a tap on another day, from the hub's database to the relay."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from access.db import Database, migrate
from access.models import Plan as DoorPlan
from access.policy import Reason, decide
from access.store import load_state
from sync.agent import AgentSettings, SyncAgent, outbox
from sync.hub import admin
from sync.hub.config import HubSettings
from sync.hub.db import HubDatabase
from sync.hub.models import Plan as HubPlan
from sync.hub.roster import build_roster_body
from sync.hub.worker import HubWorker
from sync.mqtt import MqttSettings
from sync.protocol import ProtocolError, dumps, utc_iso
from sync.signing import generate_private_key, load_private_key, public_key_b64, sign_roster, verify_roster
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.site import Site
from tests.support.wait import wait_until

PARIS = ZoneInfo("Europe/Paris")
SATURDAY_10H = dt.datetime(2026, 11, 28, 10, tzinfo=PARIS).astimezone(dt.UTC)
FRIDAY_10H = SATURDAY_10H - dt.timedelta(days=1)
ZOE, LEO, MAX = "A1B2C3D4", "B2C3D4E5", "C3D4E5F6"
WHOLE_DAY = (dt.time(0, 0), dt.time(23, 59))
NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------- the device's check


def roster(version: int, **plan_fields: Any) -> dict[str, Any]:
    """A roster with one plan, as a hub older than weekdays sent it, with `plan_fields` laid over the plan."""
    member, plan = "a" * 32, "b" * 32
    body: dict[str, Any] = {
        "v": 1,
        "site": "site-a",
        "version": version,
        "issued_at": utc_iso(NOW),
        "seen": {},
        "members": [{"id": member, "first_name": "Zoé", "last_name": "", "email": None, "active": True}],
        "credentials": [],
        "plans": [
            {
                "id": plan,
                "name": "Semaine",
                "kind": "unlimited",
                "half_days": None,
                "allow_overdraft": False,
                "hours_start": None,
                "hours_end": None,
                "price_cents": 0,
            }
        ],
        "subscriptions": [],
    }
    body["plans"][0].update(plan_fields)
    return body


@pytest.mark.parametrize("weekdays", ["absent", None, "12345", "67", "1", "7", "1234567"])
def test_a_device_accepts_weekdays_and_a_roster_without_them(weekdays: str | None) -> None:
    key = generate_private_key()
    body = roster(3) if weekdays == "absent" else roster(3, weekdays=weekdays)
    checked = verify_roster(dumps(sign_roster(body, key)), key.public_key(), 2, site="site-a")
    assert checked["plans"][0].get("weekdays") == (None if weekdays == "absent" else weekdays)


@pytest.mark.parametrize("weekdays", ["", "0", "8", "54321", "112", "12345678", "1 2", "1-5", 12345, True, ["1"]])
def test_a_device_refuses_weekdays_it_could_misread(weekdays: Any) -> None:
    key = generate_private_key()
    with pytest.raises(ProtocolError, match=r"roster\.plans\[0\]\.weekdays"):
        verify_roster(dumps(sign_roster(roster(3, weekdays=weekdays), key)), key.public_key(), 2, site="site-a")


def test_an_older_hubs_roster_gives_every_day_and_a_newer_one_the_days(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'halfday.db'}"
    migrate(url)
    db = Database(url)
    try:
        outbox.apply_roster(db, roster(1, weekdays="12345"), "door-1")
        with db.read() as session:
            assert session.scalars(select(DoorPlan.weekdays)).one() == "12345"
        outbox.apply_roster(db, roster(2), "door-1")  # no key: an older hub
        with db.read() as session:
            assert session.scalars(select(DoorPlan.weekdays)).one() is None
        outbox.apply_roster(db, roster(3, weekdays="67"), "door-1")
        with db.read() as session:
            assert session.scalars(select(DoorPlan.weekdays)).one() == "67"
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------- the hub's roster


def set_weekdays(hub_db: HubDatabase, plan_id: str, weekdays: str | None) -> None:
    with hub_db.write() as session:
        plan = session.get(HubPlan, plan_id)
        assert plan is not None
        plan.weekdays = weekdays
        admin.touch_rosters(session, plans=[plan_id])


def test_the_hubs_roster_sends_each_plans_days(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    week = admin.add_plan(hub_db, "Semaine", "unlimited")
    always = admin.add_plan(hub_db, "Illimité", "unlimited")
    set_weekdays(hub_db, week, "12345")
    with hub_db.read() as session:
        body = build_roster_body(session, "site-a", NOW)
    sent = {p["name"]: p["weekdays"] for p in body["plans"]}
    assert sent == {"Semaine": "12345", "Illimité": None}
    assert always in {p["id"] for p in body["plans"]}
    # What the hub sends, a device accepts.
    key = generate_private_key()
    signed = sign_roster({**copy.deepcopy(body), "version": 1, "issued_at": utc_iso(NOW)}, key)
    assert verify_roster(dumps(signed), key.public_key(), None, site="site-a")["plans"] == body["plans"]


# ---------------------------------------------------------------------------------------------- end to end


@pytest.fixture
def agent_on(
    broker: Mosquitto, hub_settings: HubSettings, tmp_path: Path, start_agent: Callable[..., SyncAgent]
) -> Callable[[Site], SyncAgent]:
    """Factory: the sync agent of `site`, on the test's broker, trusting the test hub's key; stopped after."""

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


def member_on(hub_db: HubDatabase, name: str, plan_id: str, uid: str) -> None:
    member = admin.add_member(hub_db, name)
    admin.add_subscription(hub_db, member, plan_id)
    admin.enrol_badge(hub_db, member, uid)


def test_a_roster_with_weekdays_applied_at_the_door_refuses_another_day(
    hub_db: HubDatabase,
    make_worker: Callable[..., HubWorker],
    agent_on: Callable[[Site], SyncAgent],
    new_site: Callable[..., Site],
    door_rig: Callable[..., DoorRig],
) -> None:
    site = new_site()
    tz = site.config.site.tz
    # The door decides on this machine's clock: a plan for every day but today and tomorrow is refused now, even
    # if midnight passes during the test.
    today = dt.datetime.now(tz).date()
    not_now = "".join(d for d in "1234567" if int(d) not in (today.isoweekday(), today.isoweekday() % 7 + 1))

    admin.add_site(hub_db, site.config.site.id, site.config.site.name)
    start, end = WHOLE_DAY
    plans = {
        name: admin.add_plan(hub_db, name, "unlimited", hours_start=start, hours_end=end)
        for name in ("Semaine", "Pas aujourd'hui", "Illimité")
    }
    set_weekdays(hub_db, plans["Semaine"], "12345")
    set_weekdays(hub_db, plans["Pas aujourd'hui"], not_now)
    member_on(hub_db, "Zoé", plans["Semaine"], ZOE)
    member_on(hub_db, "Léo", plans["Pas aujourd'hui"], LEO)
    member_on(hub_db, "Max", plans["Illimité"], MAX)

    make_worker()  # the keeper signs and publishes the site's roster, retained
    agent_on(site)
    assert wait_until(lambda: outbox.roster_version(site.db) is not None, 15), "the roster never reached the site"
    with site.db.read() as session:
        days = {name: weekdays for name, weekdays in session.execute(select(DoorPlan.name, DoorPlan.weekdays))}
        assert days == {"Semaine": "12345", "Pas aujourd'hui": not_now, "Illimité": None}
        saturday = load_state(session, site.config.site.rules, site.config.site.id, "door-1", SATURDAY_10H.date())
    # A Saturday tap on a weekdays plan, decided on what the roster left in the door's ledger.
    refused = decide(ZOE, SATURDAY_10H, saturday)
    assert (refused.granted, refused.reason, refused.first_name) == (False, Reason.OUTSIDE_WEEKDAYS, "Zoé")
    assert decide(ZOE, FRIDAY_10H, saturday).reason == Reason.GRANTED
    assert decide(MAX, SATURDAY_10H, saturday).reason == Reason.GRANTED

    # The real door, today: Léo's plan does not cover today, Max's does.
    rig = door_rig(site)
    rig.start()
    rig.tap(LEO)
    rig.wait_events(1, "entry")
    rig.tap(MAX)
    entries = rig.wait_events(2, "entry")
    assert [(e.data["uid"], e.data["granted"], e.data["reason"]) for e in entries] == [
        (LEO, False, "outside_weekdays"),
        (MAX, True, "granted"),
    ]
    assert entries[0].data["first_name"] == "Léo" and entries[0].data["use"] is None
    # One unlock, Max's: the relay went on once and back off.
    assert wait_until(lambda: rig.relay_states() == [False, True, False], timeout=3)
