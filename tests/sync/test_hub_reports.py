"""Balances recomputed from uses, the overdraft report, monthly usage, and roster versions, on both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.tables import to_csv
from sync.hub import admin
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.reports import balances, monthly_usage_by_member, monthly_usage_by_site, overdrafts
from sync.hub.roster import RosterKeeper
from sync.payloads import validate_batch
from sync.signing import generate_private_key, verify_roster
from tests.sync.devicesim import make_event


def entry(member: str, sub: str | None, date: str, slot: str, spent: int, pass_id: str | None = None) -> dict[str, Any]:
    use = {"date": date, "slot": slot, "spent": spent, "subscription": sub, "pass": pass_id}
    return {"uid": "A1B2C3D4", "holder": member, "granted": True, "reason": "ok", "plan": None, "use": use}


def send(db: HubDatabase, site: str, device: str, datas: list[dict[str, Any]], first_seq: int = 1) -> None:
    events = [make_event(site, device, first_seq + i, "entry", d) for i, d in enumerate(datas)]
    Ingestor(db, gap_wait_s=0).ingest(validate_batch({"v": 1, "site": site, "device": device, "events": events}))


@pytest.fixture
def carnet(hub_db: HubDatabase) -> tuple[str, str]:
    admin.add_site(hub_db, "site-a", "Le Local")
    admin.add_site(hub_db, "site-b", "La Fabrique")
    member = admin.add_member(hub_db, "Zoé", "Martin")
    plan = admin.add_plan(hub_db, "Carnet 2", "carnet", half_days=2)
    return member, admin.add_subscription(hub_db, member, plan)


def test_offline_sites_spending_one_carnet_show_in_the_overdraft_report(
    hub_db: HubDatabase, carnet: tuple[str, str]
) -> None:
    member, sub = carnet
    send(hub_db, "site-a", "door-1", [entry(member, sub, "2026-11-23", "morning", 1)])
    send(hub_db, "site-b", "door-1", [entry(member, sub, "2026-11-23", "afternoon", 1)])
    send(hub_db, "site-b", "door-1", [entry(member, sub, "2026-11-24", "morning", 1)], first_seq=2)
    with hub_db.read() as session:
        assert balances(session)[sub] == -1
        [over] = overdrafts(session)
    assert (over.member, over.credited, over.spent, over.balance) == ("Zoé Martin", 2, 3, -1)
    assert over.spent_by_site == {"site-a": 1, "site-b": 2}
    admin.top_up(hub_db, sub, 10)
    with hub_db.read() as session:
        assert balances(session)[sub] == 9
        assert overdrafts(session) == []


def test_monthly_usage_per_member_and_per_site(hub_db: HubDatabase, carnet: tuple[str, str]) -> None:
    member, sub = carnet
    send(
        hub_db,
        "site-a",
        "door-1",
        [
            entry(member, sub, "2026-11-03", "morning", 1),
            entry(member, sub, "2026-11-03", "afternoon", 1),
            entry(member, sub, "2026-12-01", "morning", 1),
            entry("f" * 32, None, "2026-11-03", "morning", 0, pass_id="f" * 32),
        ],
    )
    with hub_db.read() as session:
        [usage] = monthly_usage_by_member(session, 2026, 11)
        assert (usage.member, usage.by_site, usage.total) == ("Zoé Martin", {"site-a": 2}, 2)
        assert monthly_usage_by_site(session, 2026, 11) == {"site-a": {"members": 2, "passes": 1, "total": 3}}
        assert monthly_usage_by_site(session, 2026, 12)["site-a"]["total"] == 1
    assert to_csv(["a", "b"], [["é", 1]]) == "a;b\r\né;1\r\n"


def test_roster_versions_go_up_only_when_something_changed(hub_db: HubDatabase, carnet: tuple[str, str]) -> None:
    member, sub = carnet
    key = generate_private_key()
    published: list[tuple[str, bytes]] = []

    def publish(topic: str, payload: bytes) -> bool:
        published.append((topic, payload))
        return True

    keeper = RosterKeeper(hub_db, key, publish)
    keeper.refresh()
    assert sorted(t for t, _ in published) == ["halfday/v1/site-a/roster", "halfday/v1/site-b/roster"]
    first = {json.loads(p)["site"]: json.loads(p) for _, p in published}
    published.clear()
    assert keeper.refresh(balances_due=True) == []  # nothing moved
    send(hub_db, "site-a", "door-1", [entry(member, sub, "2026-11-23", "morning", 1)])
    assert keeper.refresh() == []  # balances only move on the balance interval
    made = keeper.refresh(balances_due=True)
    assert sorted(made) == [("site-a", 2), ("site-b", 2)]
    rosters = {json.loads(p)["site"]: verify_roster(p, key.public_key(), 1) for _, p in published}
    # The balance is after exactly the events `seen` names: the door subtracts only its own later uses.
    assert rosters["site-a"]["seen"] == {"door-1": 1}
    assert rosters["site-a"]["subscriptions"][0]["balance"] == 1
    assert rosters["site-b"]["subscriptions"][0]["balance"] == 1
    assert first["site-a"]["subscriptions"][0]["balance"] == 2
    published.clear()
    admin.enrol_badge(hub_db, member, "0a0b0c0d")
    assert sorted(keeper.refresh()) == [("site-a", 3), ("site-b", 3)]
    assert keeper.republish_all() == 2


def test_a_roster_that_the_broker_did_not_confirm_is_published_again(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    answers = [False, True]
    tries: list[int] = []

    def publish(topic: str, payload: bytes) -> bool:
        tries.append(json.loads(payload)["version"])
        return answers.pop(0)

    keeper = RosterKeeper(hub_db, generate_private_key(), publish)
    keeper.refresh()
    assert keeper.publish_pending() == 1
    assert tries == [1, 1]
    assert keeper.publish_pending() == 0


def test_admin_refuses_a_badge_already_active_for_someone_else(hub_db: HubDatabase) -> None:
    zoe = admin.add_member(hub_db, "Zoé")
    leo = admin.add_member(hub_db, "Léo")
    first = admin.enrol_badge(hub_db, zoe, "a1b2c3d4")
    assert admin.enrol_badge(hub_db, zoe, "A1B2C3D4") == first
    with pytest.raises(admin.HubError) as refused:
        admin.enrol_badge(hub_db, leo, "A1B2C3D4")
    assert refused.value.code == "uid_in_use"
    assert admin.revoke_badge(hub_db, "a1b2c3d4")
    assert not admin.revoke_badge(hub_db, "a1b2c3d4")
    assert admin.enrol_badge(hub_db, leo, "A1B2C3D4") == first  # the same badge, given again
    with pytest.raises(admin.HubError):
        admin.enrol_badge(hub_db, "9" * 32, "11223344")
