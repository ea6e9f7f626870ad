"""Personal data at the hub's pages: the privacy page, open to anyone and naming no one; a member's export and erasure
from their page, with its confirmation, by whom the rules allow; and axe on the new pages at four sizes, French and
English."""

from __future__ import annotations

import html
import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from common.config import Association
from common.privacy import PrivacyConfig
from sync.hub import admin
from sync.hub.db import HubDatabase
from sync.hub.models import AuditEntry, Member
from tests.support.axe import SIZES
from tests.support.hub import PASSWORD, add_admin, add_manager, hub_app, sign_in, token
from tests.sync.test_hub_accessibility import Audit, HubServer

CONTACT = "rgpd@reseau.example"


def _member(db: HubDatabase, home: str | None = "site-a") -> str:
    member = admin.add_member(db, "Bruno", "Martin", "bruno@example.org", home_site=home)
    admin.enrol_badge(db, member, "A1A1A1A1")
    return member


@pytest.fixture
def sites(hub_db: HubDatabase) -> HubDatabase:
    for site in ("site-a", "site-b"):
        admin.add_site(hub_db, site, site)
    return hub_db


def test_the_privacy_page_is_open_and_names_the_contact(sites: HubDatabase) -> None:
    client = hub_app(
        sites, privacy=PrivacyConfig(access_log_months=2, contact=CONTACT), association=Association("Réseau Lot")
    ).test_client()
    page = html.unescape(client.get("/privacy").get_data(as_text=True))
    assert client.get("/privacy").status_code == 200  # no login
    assert CONTACT in page and "2 mois" in page and "Réseau Lot" in page
    assert client.get("/members").status_code == 302  # the rest still asks for a login


def test_a_member_is_exported_and_erased_from_their_page(sites: HubDatabase) -> None:
    member = _member(sites)
    add_admin(sites)
    add_manager(sites, "bea", ["site-b"])
    add_manager(sites, "camille", ["site-a"])
    client = hub_app(sites).test_client()
    sign_in(client)
    page = f"/members/{member}"
    shown = html.unescape(client.get(page).get_data(as_text=True))
    assert "Exporter ses données (JSON)" in shown and "Effacer ce membre à sa demande" in shown
    body = json.loads(client.get(f"{page}/export.json").data)
    assert body["member"][0]["email"] == "bruno@example.org" and body["badges"][0]["value"] == "A1A1A1A1"
    with zipfile.ZipFile(io.BytesIO(client.get(f"{page}/export.zip").data)) as archive:
        assert "bruno@example.org" in archive.read("member.csv").decode("utf-8-sig")

    # A manager of another site sees nothing of them, export included.
    other = hub_app(sites).test_client()
    sign_in(other, "bea")
    assert other.get(f"{page}/export.json").status_code == 404
    assert (
        other.post(f"{page}/erase", data={"confirm": "yes", "csrf_token": token(other, "/members")}).status_code == 404
    )

    # Not ticked: nothing erased. Ticked, by the manager of the member's home site: erased.
    erase = f"{page}/erase"
    refused = client.post(erase, data={"csrf_token": token(client, erase)}, follow_redirects=True)
    assert "Cochez la case" in html.unescape(refused.get_data(as_text=True))
    manager = hub_app(sites).test_client()
    sign_in(manager, "camille")
    done = manager.post(erase, data={"confirm": "yes", "csrf_token": token(manager, erase)}, follow_redirects=True)
    text = html.unescape(done.get_data(as_text=True))
    assert "Membre effacé" in text and "Bruno" not in text and "bruno@" not in text
    with sites.read() as s:
        row = s.get(Member, member)
        assert row is not None and row.erased_at is not None
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last is not None and last.action == "member.erase" and last.actor == "compte camille"
    for url in ("/members", page, f"{page}/export.json", f"/audit?target=member:{member}"):
        after = html.unescape(client.get(url).get_data(as_text=True))
        assert "Bruno" not in after and "bruno@" not in after and "A1A1A1A1" not in after, url
    again = client.post(erase, data={"confirm": "yes", "csrf_token": token(client, erase)}, follow_redirects=True)
    assert "déjà effacé" in html.unescape(again.get_data(as_text=True))


@pytest.fixture
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    db = HubDatabase(f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.sqlite'}")
    db.create_all()
    admin.add_site(db, "site-a", "Le Tiers-Lieu coopératif de Marcillac-la-Croisille")
    member = admin.add_member(db, "Marie-Ange-Bénédicte", "de La Rochefoucauld-Montbel", home_site="site-a")
    add_admin(db)
    server = HubServer(db)
    yield server.url, member
    server.stop()
    db.dispose()


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_the_hubs_privacy_pages_are_accessible(sized_page: Page, served: tuple[str, str]) -> None:
    page, (url, member) = sized_page, served
    audit = Audit(page)
    audit.visit(url + "/privacy", "privacy-signed-out-fr")
    page.goto(url + "/login")
    page.fill("input[name=login]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button")
    expect(page.locator("main h1")).to_have_text("Portes")
    for lang in ("fr", "en"):
        if lang == "en":
            page.click("header nav a[lang='en']")
            expect(page.locator("html")).to_have_attribute("lang", "en")
        audit.visit(url + "/privacy", f"privacy-{lang}")
        audit.visit(f"{url}/members/{member}/erase", f"erase-{lang}")
        audit.visit(f"{url}/members/{member}", f"member-privacy-{lang}")
    audit.passed()
