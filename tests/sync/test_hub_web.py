"""The hub's pages, French first: login, doors, members and revocation, usage, sales, overdrafts, CSV exports."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from sync.hub import admin
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.web import create_hub_app
from sync.payloads import validate_batch
from tests.sync.devicesim import make_event

PASSWORD = "correct horse battery"


@pytest.fixture
def client(hub_db: HubDatabase) -> FlaskClient:
    app = create_hub_app(hub_db, secret_key="k" * 32, password_hash=generate_password_hash(PASSWORD))
    app.testing = True
    return app.test_client()


def token(client: FlaskClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found
    return found.group(1)


def login(client: FlaskClient) -> None:
    response = client.post("/login", data={"password": PASSWORD, "csrf_token": token(client)})
    assert response.status_code == 302


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


def test_pages_need_the_password(client: FlaskClient) -> None:
    assert client.get("/members").status_code == 302
    bad = client.post("/login", data={"password": "nope", "csrf_token": token(client)}, follow_redirects=True)
    assert "Mot de passe incorrect." in bad.get_data(as_text=True)
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
    seed(hub_db)
    login(client)
    forged = client.post("/badges/A1B2C3D4/revoke", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and "Ce formulaire a expiré" in forged.get_data(as_text=True)
    assert client.post("/badges/A1B2C3D4/revoke").status_code == 400  # no token at all: refused too
    page = client.post("/badges/A1B2C3D4/revoke", data={"csrf_token": token(client, "/members")}, follow_redirects=True)
    assert "Badge révoqué" in page.get_data(as_text=True)
    assert not admin.revoke_badge(hub_db, "A1B2C3D4")
    added = client.post(
        "/members",
        data={"first_name": "Léo", "last_name": "Petit", "email": "", "csrf_token": token(client, "/members")},
        follow_redirects=True,
    )
    assert "Membre ajouté." in added.get_data(as_text=True) and "Léo Petit" in added.get_data(as_text=True)


def test_the_app_refuses_to_start_without_secrets(hub_db: HubDatabase) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        create_hub_app(hub_db, secret_key="", password_hash="x")
    with pytest.raises(ValueError, match="mot de passe"):
        create_hub_app(hub_db, secret_key="k" * 32, password_hash="")


def test_logout_ends_the_session(client: FlaskClient) -> None:
    login(client)
    assert client.get("/members").status_code == 200
    assert client.post("/logout", data={"csrf_token": token(client, "/members")}).status_code == 302
    assert client.get("/members").status_code == 302


def test_repeated_wrong_passwords_lock_the_login_out(client: FlaskClient) -> None:
    for _attempt in range(5):
        assert client.post("/login", data={"password": "nope", "csrf_token": token(client)}).status_code == 403
    locked = client.post("/login", data={"password": PASSWORD, "csrf_token": token(client)})
    assert locked.status_code == 429 and "Trop d&#39;essais" in locked.get_data(as_text=True)
