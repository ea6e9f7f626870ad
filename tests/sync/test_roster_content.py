"""What a site's roster carries: what its doors need to decide and no more. A plan valid at other sites only opens
none of this site's doors; no last name or e-mail leaves the hub; a badge revoked long ago is forgotten."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from common.db import utcnow
from sync.hub import admin, reports
from sync.hub.audit import SYSTEM
from sync.hub.db import HubDatabase
from sync.hub.models import AuditEntry, Credential
from sync.hub.roster import REISSUE_AFTER, REVOKED_GRACE, RosterKeeper, build_roster_body
from sync.signing import generate_private_key, verify_delta, verify_roster
from tests.support.hub import add_admin, add_manager, hub_app, sign_in
from tests.support.rosters import Published, doors_ask


def test_each_site_gets_its_own_members_plans_and_badges(hub_db: HubDatabase) -> None:
    for site in ("site-a", "site-b"):
        admin.add_site(hub_db, site, site)
    only_a = admin.add_plan(hub_db, "Carnet A", "carnet", half_days=10, sites=["site-a"])
    everywhere = admin.add_plan(hub_db, "Réseau", "unlimited")
    zoe = admin.add_member(hub_db, "Zoé", "Martin", "zoe@example.org")
    admin.add_subscription(hub_db, zoe, only_a)
    admin.enrol_badge(hub_db, zoe, "A1A1A1A1")
    leo = admin.add_member(hub_db, "Léo", "Petit", "leo@example.org")
    admin.add_subscription(hub_db, leo, everywhere)
    admin.enrol_badge(hub_db, leo, "B2B2B2B2")
    desk = admin.add_member(hub_db, "Ana", "Roux", home_site="site-b")  # created at B's desk, no plan yet
    nobody = admin.add_member(hub_db, "Max", "Blanc")  # no plan, no site: no door's business
    admin.enrol_badge(hub_db, nobody, "C3C3C3C3")
    now = utcnow()
    with hub_db.read() as s:
        a, b = build_roster_body(s, "site-a", now), build_roster_body(s, "site-b", now)
    assert {m["first_name"] for m in a["members"]} == {"Zoé", "Léo"}
    assert {m["first_name"] for m in b["members"]} == {"Léo", "Ana"}
    assert {p["name"] for p in a["plans"]} == {"Carnet A", "Réseau"} and {p["name"] for p in b["plans"]} == {"Réseau"}
    assert {c["value"] for c in a["credentials"]} == {"A1A1A1A1", "B2B2B2B2"}
    assert {c["value"] for c in b["credentials"]} == {"B2B2B2B2"}  # Zoé's badge opens no door of site B
    assert {sub["member_id"] for sub in b["subscriptions"]} == {leo}
    assert desk in {m["id"] for m in b["members"]} and nobody not in {m["id"] for m in a["members"] + b["members"]}
    for body in (a, b):
        assert all(m["last_name"] == "" and m["email"] is None for m in body["members"])


def test_a_retired_plan_runs_on_and_revoked_badges_are_kept_a_while(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "A")
    plan = admin.add_plan(hub_db, "Ancien", "unlimited")
    zoe = admin.add_member(hub_db, "Zoé")
    admin.add_subscription(hub_db, zoe, plan)
    admin.set_plan_active(hub_db, plan, False, actor=SYSTEM)
    admin.enrol_badge(hub_db, zoe, "A1A1A1A1")
    admin.enrol_badge(hub_db, zoe, "B2B2B2B2")
    admin.revoke_badge(hub_db, "A1A1A1A1")
    admin.revoke_badge(hub_db, "B2B2B2B2")
    with hub_db.write() as s:
        long_ago = utcnow() - REVOKED_GRACE - dt.timedelta(days=1)
        s.execute(update(Credential).where(Credential.value == "B2B2B2B2").values(revoked_at=long_ago))
    with hub_db.read() as s:
        body = build_roster_body(s, "site-a", utcnow())
    assert [p["name"] for p in body["plans"]] == ["Ancien"]  # retired, but Zoé's subscription runs to its end
    assert [(c["value"], c["status"]) for c in body["credentials"]] == [("A1A1A1A1", "revoked")]


def test_a_row_no_roster_can_carry_is_left_out_and_the_rest_goes(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "A")
    plan = admin.add_plan(hub_db, "Réseau", "unlimited")
    for name, uid in (("Zoé", "A1A1A1A1"), ("Léo", "B2B2B2B2")):
        member = admin.add_member(hub_db, name)
        admin.add_subscription(hub_db, member, plan)
        admin.enrol_badge(hub_db, member, uid)
    # A value typed around the hub's checks (by hand in the database): a device would refuse the whole roster.
    with hub_db.write() as s:
        s.execute(update(Credential).where(Credential.value == "B2B2B2B2").values(value="not a badge"))
    published = Published()
    keeper = RosterKeeper(hub_db, generate_private_key(), published)
    doors_ask(hub_db, "site-a")
    assert keeper.refresh() == [("site-a", 1)]
    roster = verify_roster(published[-1][1], keeper.key.public_key(), None, site="site-a")
    assert [c["value"] for c in roster["credentials"]] == ["A1A1A1A1"]
    assert {m["first_name"] for m in roster["members"]} == {"Zoé", "Léo"}
    assert len(keeper.left_out) == 1 and "badge" in keeper.left_out[0]
    # Shown on the doors page to network admins, and in the audit log once (not at every pass, nor every restart).
    keeper.refresh(balances_due=True)
    RosterKeeper(hub_db, generate_private_key(), published).refresh(balances_due=True)
    with hub_db.read() as s:
        assert reports.roster_problems(s) == keeper.left_out
        logged = s.execute(select(AuditEntry).where(AuditEntry.action == "roster.left_out")).scalars().all()
        assert len(logged) == 1 and logged[0].actor == "hub"
    add_admin(hub_db)
    add_manager(hub_db, "camille", ["site-a"])
    admin_page, manager_page = hub_app(hub_db).test_client(), hub_app(hub_db).test_client()
    sign_in(admin_page)
    sign_in(manager_page, "camille")
    assert "Laissé hors des listes des membres" in admin_page.get("/").get_data(as_text=True)
    assert "Laissé hors des listes des membres" not in manager_page.get("/").get_data(as_text=True)
    assert "laissé hors des listes des membres" in admin_page.get("/audit").get_data(as_text=True)


def test_a_quiet_sites_roster_is_issued_again_before_doors_call_it_old(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "A")
    published = Published()
    keeper = RosterKeeper(hub_db, generate_private_key(), published)
    doors_ask(hub_db, "site-a")
    start = utcnow()
    assert keeper.refresh(start) == [("site-a", 1)]
    # Nothing changed: an hour later nothing new; past REISSUE_AFTER, an empty delta under a new issue time.
    assert keeper.refresh(start + dt.timedelta(hours=1), balances_due=True) == []
    assert keeper.refresh(start + REISSUE_AFTER + dt.timedelta(minutes=1), balances_due=True) == [("site-a", 2)]
    heartbeat = verify_delta(published[-1][1], keeper.key.public_key(), site="site-a")
    assert (heartbeat["base"], heartbeat["members"], heartbeat["removed_members"]) == (1, [], [])
    assert dt.timedelta(hours=24) > REISSUE_AFTER  # the doors' default alarm


def test_a_touched_row_no_delta_can_carry_is_left_out_and_shown_at_once(hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "A")
    plan = admin.add_plan(hub_db, "Réseau", "unlimited")
    zoe, leo = admin.add_member(hub_db, "Zoé"), admin.add_member(hub_db, "Léo")
    for member in (zoe, leo):
        admin.add_subscription(hub_db, member, plan)
    published = Published()
    keeper = RosterKeeper(hub_db, generate_private_key(), published)
    doors_ask(hub_db, "site-a")
    keeper.refresh()
    # One change gives Zoé a badge and Léo one typed around the hub's checks, in the same pass.
    admin.enrol_badge(hub_db, zoe, "A1A1A1A1")
    with hub_db.write() as s:
        s.add(Credential(member_id=leo, value="pas un badge"))
        admin.touch_rosters(s, members=[leo])
    assert keeper.refresh() == [("site-a", 2)]
    delta = verify_delta(published[-1][1], keeper.key.public_key(), site="site-a")
    assert {m["first_name"] for m in delta["members"]} == {"Zoé", "Léo"}
    assert [c["value"] for c in delta["credentials"]] == ["A1A1A1A1"]
    with hub_db.read() as s:
        assert len(reports.roster_problems(s)) == 1 and "badge" in reports.roster_problems(s)[0]
