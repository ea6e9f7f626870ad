"""Balances recomputed from uses, the overdraft report, monthly usage, and roster versions, on both databases."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from common.tables import to_csv
from sync.hub import admin
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.reports import (
    balances,
    count_sales_in_month,
    monthly_usage_by_member,
    monthly_usage_by_site,
    monthly_usage_page,
    overdrafts,
    sales_in_month,
)
from sync.hub.roster import RosterKeeper
from sync.payloads import validate_batch
from sync.signing import generate_private_key, verify_delta
from tests.support.rosters import Published, doors_ask
from tests.sync.devicesim import make_event


def entry(member: str, sub: str | None, date: str, slot: str, spent: int, pass_id: str | None = None) -> dict[str, Any]:
    use = {"date": date, "slot": slot, "spent": spent, "subscription": sub, "pass": pass_id}
    return {"uid": "A1B2C3D4", "holder": member, "granted": True, "reason": "ok", "plan": None, "use": use}


def send(db: HubDatabase, site: str, device: str, datas: list[dict[str, Any]], first_seq: int = 1) -> None:
    events = [make_event(site, device, first_seq + i, "entry", d) for i, d in enumerate(datas)]
    Ingestor(db, gap_wait_s=0).ingest(validate_batch({"v": 1, "site": site, "device": device, "events": events}))


def sale(name: str, date: str = "2026-11-03") -> dict[str, Any]:
    return {
        "sale": uuid.uuid4().hex,
        "kind": "pass_day",
        "amount_cents": 1400,
        "provider": "counter",
        "paid": True,
        "pass": uuid.uuid4().hex,
        "date": date,
        "slots": ["morning", "afternoon"],
        "name": name,
        "email": "",
    }


def send_sales(db: HubDatabase, site: str, datas: list[dict[str, Any]], first_seq: int = 1) -> None:
    events = [make_event(site, "door-1", first_seq + i, "sale", d) for i, d in enumerate(datas)]
    Ingestor(db, gap_wait_s=0).ingest(validate_batch({"v": 1, "site": site, "device": "door-1", "events": events}))


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


def test_a_month_of_usage_is_ranked_and_paged_in_sql_and_counted_at_chosen_sites_only(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    admin.add_site(hub_db, "site-b", "La Fabrique")
    anna, bruno, carla, dora = (admin.add_member(hub_db, name, "Roy") for name in ("Anna", "Bruno", "Carla", "Dora"))
    walk_in = "f" * 32
    send(
        hub_db,
        "site-a",
        "door-1",
        [
            entry(anna, None, "2026-11-03", "morning", 0),
            entry(anna, None, "2026-11-04", "morning", 0),
            entry(bruno, None, "2026-11-03", "morning", 0),
            entry(dora, None, "2026-11-05", "afternoon", 0),
            entry(dora, None, "2026-12-01", "morning", 0),  # another month
            entry(walk_in, None, "2026-11-03", "morning", 0, pass_id=walk_in),  # no member row: not listed
        ],
    )
    send(
        hub_db,
        "site-b",
        "door-1",
        [
            entry(anna, None, "2026-11-10", "morning", 0),  # Anna roams
            entry(bruno, None, "2026-11-10", "morning", 0),
            entry(carla, None, "2026-11-10", "morning", 0),
            entry(carla, None, "2026-11-10", "afternoon", 0),
        ],
    )
    with hub_db.read() as s:
        first = monthly_usage_page(s, 2026, 11, offset=0, limit=2)
        second = monthly_usage_page(s, 2026, 11, offset=2, limit=2)
        past = monthly_usage_page(s, 2026, 11, offset=4, limit=2)
        whole = monthly_usage_by_member(s, 2026, 11)
        # Most half-days first; Bruno and Carla both have two, by name.
        assert [(u.member, u.by_site) for u in first.rows] == [
            ("Anna Roy", {"site-a": 2, "site-b": 1}),
            ("Bruno Roy", {"site-a": 1, "site-b": 1}),
        ]
        assert [(u.member, u.total) for u in second.rows] == [("Carla Roy", 2), ("Dora Roy", 1)]
        assert first.members == second.members == past.members == 4 and past.rows == []
        assert first.rows + second.rows == whole  # the pages in the CSV's order
        # A manager of site-a: the uses there only, so Carla (site-b only) is not theirs and Anna counts two.
        mine = frozenset({"site-a"})
        page = monthly_usage_page(s, 2026, 11, mine, offset=0, limit=50)
        assert [(u.member, u.by_site) for u in page.rows] == [
            ("Anna Roy", {"site-a": 2}),
            ("Bruno Roy", {"site-a": 1}),
            ("Dora Roy", {"site-a": 1}),
        ]
        assert page.members == 3 and monthly_usage_by_member(s, 2026, 11, mine) == page.rows
        assert monthly_usage_by_site(s, 2026, 11, mine) == {"site-a": {"members": 4, "passes": 1, "total": 5}}
        assert set(monthly_usage_by_site(s, 2026, 11)) == {"site-a", "site-b"}
        # An account with no site reads nothing (an empty IN, not the whole network).
        assert monthly_usage_page(s, 2026, 11, frozenset(), offset=0, limit=50) == monthly_usage_page(
            s, 2026, 11, frozenset(), offset=50, limit=50
        )
        assert monthly_usage_page(s, 2026, 11, frozenset(), offset=0, limit=50).members == 0
        assert monthly_usage_by_member(s, 2026, 11, frozenset()) == []
        assert monthly_usage_by_site(s, 2026, 11, frozenset()) == {}


def test_sales_and_overdrafts_of_chosen_sites_are_picked_in_sql(hub_db: HubDatabase, carnet: tuple[str, str]) -> None:
    zoe, zoe_carnet = carnet
    leo = admin.add_member(hub_db, "Léo", "Petit")
    leo_carnet = admin.add_subscription(hub_db, leo, admin.add_plan(hub_db, "Carnet 1", "carnet", half_days=1))
    # Zoé's carnet is overdrawn by both sites; Léo's by site-b alone.
    send(hub_db, "site-a", "door-1", [entry(zoe, zoe_carnet, "2026-11-23", "morning", 1)])
    send(
        hub_db,
        "site-b",
        "door-1",
        [
            entry(zoe, zoe_carnet, "2026-11-23", "afternoon", 1),
            entry(zoe, zoe_carnet, "2026-11-24", "morning", 1),
            entry(leo, leo_carnet, "2026-11-24", "morning", 1),
            entry(leo, leo_carnet, "2026-11-24", "afternoon", 1),
        ],
    )
    send_sales(hub_db, "site-a", [sale("Ana"), sale("Bea"), sale("Cyd"), sale("Old", "2026-10-31")], first_seq=2)
    send_sales(hub_db, "site-b", [sale("Dan")], first_seq=5)
    with hub_db.read() as s:
        mine = frozenset({"site-a"})
        assert [x.name for x in sales_in_month(s, 2026, 11, mine)] == ["Ana", "Bea", "Cyd"]  # as they were made
        assert [x.name for x in sales_in_month(s, 2026, 11, mine, offset=1, limit=1)] == ["Bea"]
        assert count_sales_in_month(s, 2026, 11, mine) == 3
        assert count_sales_in_month(s, 2026, 11) == 4 and len(sales_in_month(s, 2026, 11)) == 4
        assert sales_in_month(s, 2026, 11, frozenset()) == [] and count_sales_in_month(s, 2026, 11, frozenset()) == 0
        # A manager of site-a sees Zoé's carnet, with what site-b spent of it (where the overdraft comes from).
        [theirs] = overdrafts(s, mine)
        assert (theirs.member, theirs.spent_by_site) == ("Zoé Martin", {"site-a": 1, "site-b": 2})
        assert [o.member for o in overdrafts(s, frozenset({"site-b"}))] == ["Léo Petit", "Zoé Martin"]
        assert [o.member for o in overdrafts(s)] == ["Léo Petit", "Zoé Martin"]
        assert overdrafts(s, frozenset()) == []


def test_roster_versions_go_up_only_when_something_changed(hub_db: HubDatabase, carnet: tuple[str, str]) -> None:
    member, sub = carnet
    key = generate_private_key()
    published = Published()
    keeper = RosterKeeper(hub_db, key, published)
    assert keeper.refresh() == []  # no door asked yet: no snapshot, no delta (no door could apply it)
    doors_ask(hub_db, "site-a", "site-b")
    keeper.refresh()
    assert sorted(t for t, _ in published) == ["halfday/v1/site-a/roster", "halfday/v1/site-b/roster"]
    assert published.retained == [False, False]  # a thousand sites' snapshots would weigh a GB in the broker
    first = {json.loads(p)["site"]: json.loads(p) for _, p in published}
    published.clear()
    assert keeper.refresh(balances_due=True) == []  # nothing moved
    send(hub_db, "site-a", "door-1", [entry(member, sub, "2026-11-23", "morning", 1)])
    assert keeper.refresh() == []  # balances only move on the balance interval
    made = keeper.refresh(balances_due=True)
    assert sorted(made) == [("site-a", 2), ("site-b", 2)]
    assert sorted(t for t, _ in published) == ["halfday/v1/site-a/delta", "halfday/v1/site-b/delta"]
    assert published.retained == [True, True]  # a door that reconnects sees at once whether it missed one
    deltas = {json.loads(p)["site"]: verify_delta(p, key.public_key()) for _, p in published}
    # The balance is after exactly the events `seen` names: the door subtracts only its own later uses.
    assert deltas["site-a"]["seen"] == {"door-1": 1}
    assert deltas["site-a"]["subscriptions"][0]["balance"] == 1
    assert deltas["site-b"]["subscriptions"][0]["balance"] == 1
    assert first["site-a"]["subscriptions"][0]["balance"] == 2
    assert keeper.refresh(balances_due=True) == []  # sent once
    published.clear()
    admin.enrol_badge(hub_db, member, "0a0b0c0d")
    assert sorted(keeper.refresh()) == [("site-a", 3), ("site-b", 3)]
    assert keeper.republish_all() == 2


def test_a_roster_that_the_broker_did_not_confirm_is_published_again(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    answers: list[bool] = []
    tries: list[tuple[str, int]] = []

    def publish(messages: Sequence[tuple[str, bytes]], _retain: bool) -> bool:
        tries.extend((topic.rsplit("/", 1)[1], json.loads(payload)["version"]) for topic, payload in messages)
        return answers.pop(0)

    keeper = RosterKeeper(hub_db, generate_private_key(), publish)
    # A snapshot refused is made again, a new version, at the next pass (snapshots are not kept).
    answers += [False, True]
    doors_ask(hub_db, "site-a")
    keeper.refresh()
    assert tries == [("roster", 1)]
    keeper.refresh()
    assert tries == [("roster", 1), ("roster", 2)]
    # A delta refused when made, and by the retry at the end of the same pass, is published again later as it was.
    tries.clear()
    answers += [False, False, True]
    admin.add_member(hub_db, "Zoé", home_site="site-a")
    keeper.refresh()
    assert tries == [("delta", 3), ("delta", 3)]
    assert keeper.publish_pending() == 1
    assert tries == [("delta", 3)] * 3
    assert keeper.publish_pending() == 0
    # Two deltas the broker did not take while it was away: both go again, in order (a door misses neither).
    tries.clear()
    answers += [False, False, False, False, True]
    for name in ("Léo", "Ana"):
        admin.add_member(hub_db, name, home_site="site-a")
        keeper.refresh()
    assert keeper.publish_pending() == 2
    assert tries[-2:] == [("delta", 4), ("delta", 5)]


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
