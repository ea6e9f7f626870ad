"""The hub's pages, French first: login, doors, members and revocation, usage, sales, overdrafts, CSV exports."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from common.web.login import LoginRules
from sync.hub import admin
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import Credential
from sync.hub.web import create_hub_app
from sync.payloads import validate_batch
from tests.support.hub import PASSWORD, add_admin, add_manager, hub_app, sign_in, token
from tests.sync.devicesim import make_event


@pytest.fixture
def client(hub_db: HubDatabase) -> FlaskClient:
    add_admin(hub_db)
    return hub_app(hub_db).test_client()


def login(client: FlaskClient) -> None:
    sign_in(client)


def seed(db: HubDatabase) -> dict[str, Any]:
    admin.add_site(db, "site-a", "Le Local")
    member = admin.add_member(db, "Zoé", "Martin", "zoe@example.org")
    plan = admin.add_plan(db, "Carnet 1", "carnet", half_days=1)
    sub = admin.add_subscription(db, member, plan)
    admin.enrol_badge(db, member, "A1B2C3D4")
    uses = [
        {"date": "2026-11-03", "slot": slot, "spent": 1, "subscription": sub, "pass": None}
        for slot in ("morning", "afternoon")
    ]
    sale = {
        "sale": "5" * 32,
        "kind": "pass_day",
        "amount_cents": 1400,
        "provider": "counter",
        "paid": True,
        "pass": "6" * 32,
        "date": "2026-11-03",
        "slots": ["morning", "afternoon"],
        "name": "=Léa",
        "email": "lea@example.org",
    }
    events = [
        make_event(
            "site-a",
            "door-1",
            i + 1,
            "entry",
            {"uid": "A1B2C3D4", "holder": member, "granted": True, "reason": "ok", "plan": plan, "use": use},
        )
        for i, use in enumerate(uses)
    ] + [make_event("site-a", "door-1", 3, "sale", sale)]
    Ingestor(db, gap_wait_s=0).ingest(validate_batch({"v": 1, "site": "site-a", "device": "door-1", "events": events}))
    return {"member": member}


def visit(holder: str, date: str, slot: str = "morning", sub: str | None = None) -> tuple[str, dict[str, Any]]:
    use = {"date": date, "slot": slot, "spent": 1 if sub else 0, "subscription": sub, "pass": None}
    return "entry", {"uid": "A1B2C3D4", "holder": holder, "granted": True, "reason": "ok", "plan": None, "use": use}


def sold(name: str) -> tuple[str, dict[str, Any]]:
    return "sale", {
        "sale": uuid.uuid4().hex,
        "kind": "pass_halfday",
        "amount_cents": 800,
        "provider": "counter",
        "paid": True,
        "pass": uuid.uuid4().hex,
        "date": "2026-11-05",
        "slots": ["morning"],
        "name": name,
        "email": "",
    }


def arrive(db: HubDatabase, site: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    """What a site's door sends: its entries and sales, in one batch."""
    batch = [make_event(site, "door-1", i + 1, kind, data) for i, (kind, data) in enumerate(events)]
    Ingestor(db, gap_wait_s=0).ingest(validate_batch({"v": 1, "site": site, "device": "door-1", "events": batch}))


def test_pages_need_an_account(client: FlaskClient) -> None:
    assert client.get("/members").status_code == 302
    bad = client.post(
        "/login", data={"login": "admin", "password": "nope", "csrf_token": token(client)}, follow_redirects=True
    )
    assert "Identifiant ou mot de passe incorrect." in bad.get_data(as_text=True)
    nobody = client.post("/login", data={"login": "nobody", "password": PASSWORD, "csrf_token": token(client)})
    assert nobody.status_code == 403
    assert client.get("/members").status_code == 302
    login(client)
    assert client.get("/members").status_code == 200


def test_reports_in_french_then_english(client: FlaskClient, hub_db: HubDatabase) -> None:
    seed(hub_db)
    login(client)
    doors = client.get("/").get_data(as_text=True)
    assert "Le Local" in doors and "door-1" in doors and "Hors ligne" in doors
    usage = client.get("/usage?month=2026-11").get_data(as_text=True)
    assert "Zoé Martin" in usage and "Usage du mois" in usage
    overdraft = client.get("/overdrafts").get_data(as_text=True)
    assert "Zoé Martin" in overdraft and "-1" in overdraft
    assert "14.00 €" in client.get("/sales?month=2026-11").get_data(as_text=True)
    switched = client.get("/lang/en?next=/usage?month=2026-11")
    assert switched.status_code == 302 and switched.headers["Location"] == "/usage?month=2026-11"
    assert "Month's usage" in client.get("/usage?month=2026-11").get_data(as_text=True)
    assert client.get("/usage?month=2026-13").status_code == 400


def test_csv_exports(client: FlaskClient, hub_db: HubDatabase) -> None:
    ids = seed(hub_db)
    login(client)
    usage = client.get("/export/usage.csv?month=2026-11")
    assert usage.mimetype == "text/csv"
    assert (
        usage.get_data(as_text=True)
        == f"\ufeffmembre_id;membre;site;demi_journees\r\n{ids['member']};Zoé Martin;site-a;2\r\n"
    )
    sales = client.get("/export/sales.csv?month=2026-11").get_data(as_text=True)
    assert ";'=Léa;" in sales  # a formula typed at a kiosk stays text in the spreadsheet


def test_revoking_a_badge_and_adding_a_member(client: FlaskClient, hub_db: HubDatabase) -> None:
    ids = seed(hub_db)
    login(client)
    page = f"/members/{ids['member']}"
    with hub_db.read() as s:
        badge = s.execute(select(Credential.id)).scalar_one()
    revoke = f"{page}/badges/{badge}/revoke"
    forged = client.post(revoke, data={"csrf_token": "forged"})
    assert forged.status_code == 400 and "Ce formulaire a expiré" in forged.get_data(as_text=True)
    assert client.post(revoke).status_code == 400  # no token at all: refused too
    done = client.post(revoke, data={"csrf_token": token(client, page)}, follow_redirects=True)
    assert "Badge révoqué" in done.get_data(as_text=True)
    assert not admin.revoke_badge(hub_db, "A1B2C3D4")
    # The page names a badge by its last digits only: a screenshot of it does not give a badge away.
    assert "A1B2C3D4" not in done.get_data(as_text=True) and "…C3D4" in done.get_data(as_text=True)
    added = client.post(
        "/members",
        data={"first_name": "Léo", "last_name": "Petit", "email": "", "csrf_token": token(client, "/members")},
        follow_redirects=True,
    )
    assert "Membre ajouté." in added.get_data(as_text=True) and "Léo Petit" in added.get_data(as_text=True)


def test_the_app_refuses_to_start_without_a_secret(hub_db: HubDatabase) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        create_hub_app(hub_db, secret_key="")


def test_logout_ends_the_session(client: FlaskClient) -> None:
    login(client)
    assert client.get("/members").status_code == 200
    assert client.post("/logout", data={"csrf_token": token(client, "/members")}).status_code == 302
    assert client.get("/members").status_code == 302


def test_repeated_wrong_passwords_lock_the_account_out_from_any_client(
    hub_db: HubDatabase, client: FlaskClient
) -> None:
    for _attempt in range(5):
        wrong = {"login": "admin", "password": "nope", "csrf_token": token(client)}
        assert client.post("/login", data=wrong).status_code == 403
    locked = client.post("/login", data={"login": "admin", "password": PASSWORD, "csrf_token": token(client)})
    assert locked.status_code == 429 and "Trop d&#39;essais" in locked.get_data(as_text=True)
    # The same account from another address: still locked (failures count per account, not only per client).
    other = client.application.test_client()
    elsewhere = {"REMOTE_ADDR": "192.0.2.7"}
    tok = token(other)
    attempt = other.post(
        "/login", data={"login": "admin", "password": PASSWORD, "csrf_token": tok}, environ_base=elsewhere
    )
    assert attempt.status_code == 429


def test_one_client_guessing_many_accounts_is_throttled(hub_db: HubDatabase, client: FlaskClient) -> None:
    for i in range(5):
        wrong = {"login": f"someone{i}", "password": "nope", "csrf_token": token(client)}
        assert client.post("/login", data=wrong).status_code == 403
    locked = client.post("/login", data={"login": "admin", "password": PASSWORD, "csrf_token": token(client)})
    assert locked.status_code == 429


def test_a_password_change_ends_the_other_sessions(hub_db: HubDatabase, client: FlaskClient) -> None:
    login(client)
    other = client.application.test_client()
    sign_in(other)
    assert other.get("/members").status_code == 200
    changed = client.post(
        "/account",
        data={
            "current": PASSWORD,
            "new_password": "another long passphrase",
            "confirm": "another long passphrase",
            "csrf_token": token(client, "/account"),
        },
        follow_redirects=True,
    )
    assert "Mot de passe changé" in changed.get_data(as_text=True)
    assert client.get("/members").status_code == 200  # this session goes on
    assert other.get("/members").status_code == 302  # the other one has ended
    assert (
        other.post("/login", data={"login": "admin", "password": PASSWORD, "csrf_token": token(other)}).status_code
        == 403
    )


def test_a_deactivated_account_is_signed_out(hub_db: HubDatabase, client: FlaskClient) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    manager = add_manager(hub_db, "camille", ["site-a"])
    login(client)
    theirs = client.application.test_client()
    sign_in(theirs, "camille")
    assert theirs.get("/members").status_code == 200
    assert theirs.get("/accounts").status_code == 403  # accounts are the network admin's
    edit = client.post(
        f"/accounts/{manager}",
        data={"name": "Camille", "role": "site_manager", "sites": "site-a", "csrf_token": token(client, "/accounts")},
        follow_redirects=True,
    )
    assert "Compte enregistré." in edit.get_data(as_text=True)
    assert theirs.get("/members").status_code == 302


def test_idle_sessions_expire(hub_db: HubDatabase) -> None:
    add_admin(hub_db)
    app = hub_app(hub_db, login=LoginRules(idle_s=0.2))
    client = app.test_client()
    sign_in(client)
    assert client.get("/members").status_code == 200
    time.sleep(0.3)
    assert client.get("/members").status_code == 302


def test_the_audit_log_names_every_author(hub_db: HubDatabase, client: FlaskClient) -> None:
    login(client)
    created = client.post(
        "/sites",
        data={
            "site_id": "site-b",
            "name": "La Fabrique",
            "timezone": "Europe/Paris",
            "csrf_token": token(client, "/sites"),
        },
        follow_redirects=True,
    )
    assert "Site créé." in created.get_data(as_text=True)
    bad = client.post(
        "/sites",
        data={"site_id": "site-c", "name": "X", "timezone": "Mars/Olympus", "csrf_token": token(client, "/sites")},
        follow_redirects=True,
    )
    assert "fuseau horaire inconnu" in bad.get_data(as_text=True)
    log = client.get("/audit").get_data(as_text=True)
    assert "compte admin" in log and "site créé" in log and "site:site-b" in log
    assert "site-c" not in log


def test_the_month_usage_shows_fifty_members_a_page_and_the_csv_all_of_them(
    client: FlaskClient, hub_db: HubDatabase
) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    zoe = admin.add_member(hub_db, "Zoé", "Martin")
    others = [admin.add_member(hub_db, "Membre", f"{i:02d}") for i in range(1, 55)]
    arrive(
        hub_db,
        "site-a",
        [visit(zoe, "2026-11-03"), visit(zoe, "2026-11-04")] + [visit(m, "2026-11-03") for m in others],
    )
    login(client)
    first = client.get("/usage?month=2026-11").get_data(as_text=True)
    assert "55 membre(s)" in first and "Page 1 sur 2" in first
    # Most half-days first, then by name: Zoé (two), then Membre 01 to 49 (one each) fill the fifty rows.
    assert first.index("Zoé Martin") < first.index("Membre 01") < first.index("Membre 02") < first.index("Membre 49")
    assert "Membre 50" not in first and "Précédents" not in first
    assert 'href="/usage?month=2026-11&amp;page=2">Suivants' in first
    # The per-site table stays whole: the site's 56 half-days, on every page.
    assert '<td>site-a</td><td class="num">56</td>' in first
    second = client.get("/usage?month=2026-11&page=2").get_data(as_text=True)
    assert [f"Membre {i}" in second for i in range(50, 55)] == [True] * 5
    assert "Zoé Martin" not in second and "Membre 49" not in second and "Suivants" not in second
    assert 'href="/usage?month=2026-11&amp;page=1">Précédents' in second and "Page 2 sur 2" in second
    assert '<td>site-a</td><td class="num">56</td>' in second
    # A page past the end (a stale link) or not a number: still the page, with the month's count.
    beyond = client.get("/usage?month=2026-11&page=9")
    assert beyond.status_code == 200 and "55 membre(s)" in beyond.get_data(as_text=True)
    assert "Membre 01" not in beyond.get_data(as_text=True)
    assert "Zoé Martin" in client.get("/usage?month=2026-11&page=x").get_data(as_text=True)
    assert client.get(f"/usage?month=2026-11&page={10**30}").status_code == 200
    rows = client.get("/export/usage.csv?month=2026-11").get_data(as_text=True).splitlines()[1:]
    assert len(rows) == 55 and rows[0] == f"{zoe};Zoé Martin;site-a;2"
    client.get("/lang/en")
    english = client.get("/usage?month=2026-11").get_data(as_text=True)
    assert "55 member(s)" in english and "Next" in english


def test_the_month_sales_show_fifty_a_page(client: FlaskClient, hub_db: HubDatabase) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    arrive(hub_db, "site-a", [sold(f"Acheteur {i:02d}") for i in range(1, 53)])
    login(client)
    first = client.get("/sales?month=2026-11").get_data(as_text=True)
    assert "52 vente(s)" in first and "Acheteur 01" in first and "Acheteur 50" in first
    assert "Acheteur 51" not in first and "pass demi-journée" in first and "au comptoir" in first
    second = client.get("/sales?month=2026-11&page=2").get_data(as_text=True)
    assert "Acheteur 51" in second and "Acheteur 52" in second and "Acheteur 50" not in second
    assert 'href="/sales?month=2026-11&amp;page=1">Précédents' in second
    assert client.get("/export/sales.csv?month=2026-11").get_data(as_text=True).count("Acheteur") == 52
    client.get("/lang/en")
    english = client.get("/sales?month=2026-11").get_data(as_text=True)
    assert "52 sale(s)" in english and "half-day pass" in english and "at the counter" in english
    assert 'data-label="Buyer"' in english


def test_a_site_manager_reads_only_their_sites_usage_sales_and_overdrafts(
    client: FlaskClient, hub_db: HubDatabase
) -> None:
    admin.add_site(hub_db, "site-a", "Le Local")
    admin.add_site(hub_db, "site-b", "La Fabrique")
    add_manager(hub_db, "camille", ["site-a"])
    carnet = admin.add_plan(hub_db, "Carnet 2", "carnet", half_days=2)
    zoe = admin.add_member(hub_db, "Zoé", "Martin")  # roams: comes to both sites
    leo = admin.add_member(hub_db, "Léo", "Petit")  # site-b only
    zoe_carnet, leo_carnet = admin.add_subscription(hub_db, zoe, carnet), admin.add_subscription(hub_db, leo, carnet)
    arrive(hub_db, "site-a", [visit(zoe, "2026-11-03", sub=zoe_carnet), sold("Léa Ici")])
    arrive(
        hub_db,
        "site-b",
        [
            visit(zoe, "2026-11-04", "morning", zoe_carnet),
            visit(zoe, "2026-11-04", "afternoon", zoe_carnet),
            visit(leo, "2026-11-04", "morning", leo_carnet),
            visit(leo, "2026-11-04", "afternoon", leo_carnet),
            visit(leo, "2026-11-05", "morning", leo_carnet),
            sold("Bob Ailleurs"),
        ],
    )
    theirs = client.application.test_client()
    sign_in(theirs, "camille")
    usage = theirs.get("/usage?month=2026-11").get_data(as_text=True)
    assert "Zoé Martin" in usage and "site-a : 1" in usage and "1 membre(s)" in usage
    assert "site-b" not in usage and "Léo Petit" not in usage  # nor Zoé's uses there, nor its row per site
    sales = theirs.get("/sales?month=2026-11").get_data(as_text=True)
    assert "Léa Ici" in sales and "Bob Ailleurs" not in sales and "1 vente(s)" in sales
    csv = theirs.get("/export/usage.csv?month=2026-11").get_data(as_text=True)
    assert csv == f"\ufeffmembre_id;membre;site;demi_journees\r\n{zoe};Zoé Martin;site-a;1\r\n"
    sales_csv = theirs.get("/export/sales.csv?month=2026-11").get_data(as_text=True)
    assert "Léa Ici" in sales_csv and "Bob Ailleurs" not in sales_csv
    # Both carnets are overdrawn; Zoé's was used at site-a, shown with what site-b spent of it.
    overdrafts = theirs.get("/overdrafts").get_data(as_text=True)
    assert "Zoé Martin" in overdrafts and "site-a : 1, site-b : 2" in overdrafts and "Léo Petit" not in overdrafts
    # The network admin reads the whole network.
    login(client)
    usage = client.get("/usage?month=2026-11").get_data(as_text=True)
    assert "site-a : 1, site-b : 2" in usage and "Léo Petit" in usage and "2 membre(s)" in usage
    assert "Bob Ailleurs" in client.get("/sales?month=2026-11").get_data(as_text=True)
    assert "Léo Petit" in client.get("/overdrafts").get_data(as_text=True)


def test_the_language_chosen_before_signing_in_is_kept(hub_db: HubDatabase, client: FlaskClient) -> None:
    client.get("/lang/en?next=/login")
    page = client.post(
        "/login",
        data={"login": "admin", "password": PASSWORD, "csrf_token": token(client)},
        follow_redirects=True,
    )
    assert page.status_code == 200 and "Sign out" in page.get_data(as_text=True)
