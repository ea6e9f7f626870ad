"""Personal data at the appliance's pages: the walk-in buys without an e-mail, the touchscreen's privacy page shows
the durations and the contact to anyone at the screen (and no one's data); the manager exports a member's data and
erases them after a confirmation, after which the member's name is on no admin page, wall or export and the badge
no longer opens; a networked site refuses to erase here. The new pages pass axe at four sizes, in French and English."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.models import Credential, Erasure, Member, Sale
from halfday.sample import BRUNO
from kiosk.app import create_app
from kiosk.serve import KioskServer
from tests.kiosk.test_accessibility import check, switch_language
from tests.support.axe import SIZES
from tests.support.kiosk import TEST_TUNING, record_taps
from tests.support.site import MANAGER_PASSWORD, Site


def form_token(client: FlaskClient, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert found is not None, f"no form on {url}"
    return found.group(1)


def sign_in(client: FlaskClient, site: Site) -> None:
    site.set_password()
    token = form_token(client, "/admin/login")
    assert client.post("/admin/login", data={"csrf_token": token, "password": MANAGER_PASSWORD}).status_code == 302


def bruno(site: Site) -> str:
    with site.db.read() as s:
        return s.scalars(select(Credential.member_id).where(Credential.value == BRUNO)).one()  # type: ignore[return-value]


def test_a_walk_in_buys_without_an_e_mail_and_is_told_what_is_kept(site: Site) -> None:
    site.reconfigure({"privacy": {"contact": "bureau@lelocal.example", "walk_in_months": 6}})
    app = create_app(site.config, connect_bus=False, tuning=TEST_TUNING)
    client = app.test_client()
    form = client.get("/buy/pass_halfday").text
    assert "E-mail pour le reçu (facultatif)" in form and "6 mois" in form and "bureau@lelocal.example" in form
    bought = client.post(
        "/buy/pass_halfday",
        data={
            "csrf_token": form_token(client, "/buy/pass_halfday"),
            "name": "Zoé Lemoine",
            "email": "",
            "provider": "counter",
        },
    )
    assert bought.status_code == 302, bought.text
    with site.db.read() as s:
        assert s.execute(select(Sale.buyer_name, Sale.buyer_email)).one() == ("Zoé Lemoine", None)
    page = client.get("/privacy").text
    assert "bureau@lelocal.example" in page and "3 mois" in page and "Zoé" not in page
    app.extensions["halfday.kiosk"].close()


def test_the_manager_exports_then_erases_a_member(site: Site, client: FlaskClient) -> None:
    record_taps(site, [BRUNO])
    member_id = bruno(site)
    assert client.get(f"/admin/members/{member_id}/export.json").status_code == 302  # signed in only
    sign_in(client, site)
    page = client.get(f"/admin/members/{member_id}").text
    assert "Exporter ses données (JSON)" in page and "seuls le prénom et le badge sont nécessaires" in page
    exported = client.get(f"/admin/members/{member_id}/export.json")
    body = json.loads(exported.data)
    assert body["badges"][0]["value"] == BRUNO and len(body["uses"]) == 1 and body["member"][0]["first_name"] == "Bruno"
    with zipfile.ZipFile(io.BytesIO(client.get(f"/admin/members/{member_id}/export.zip").data)) as archive:
        assert BRUNO in archive.read("badges.csv").decode("utf-8-sig")
    assert client.get("/admin/members/nobody/export.json").status_code == 404
    # Without the box ticked, nothing happens.
    erase = f"/admin/members/{member_id}/erase"
    refused = client.post(erase, data={"csrf_token": form_token(client, erase)}, follow_redirects=True)
    assert "Cochez la case" in refused.text
    with site.db.read() as s:
        assert s.get(Erasure, member_id) is None
    done = client.post(erase, data={"csrf_token": form_token(client, erase), "confirm": "yes"}, follow_redirects=True)
    assert "Membre effacé" in done.text
    month = dt.datetime.now(site.config.site.tz).strftime("%Y-%m")
    for url in ("/admin/members", f"/admin/members/{member_id}", f"/admin/exports/usage/{month}.csv", "/admin/events"):
        shown = client.get(url).text
        assert "Bruno" not in shown and BRUNO not in shown, url
    usage = client.get(f"/admin/exports/usage/{month}.csv").text
    assert "Membre effacé" in usage  # the half-day still counts, under the neutral name
    assert "Bruno" not in client.get("/display/").text
    exported_after = client.get(f"/admin/members/{member_id}/export.json").text
    assert "Bruno" not in exported_after and BRUNO not in exported_after
    with site.db.read() as s:
        assert s.scalar(select(Credential.id).where(Credential.value == BRUNO)) is None
        assert s.get(Member, member_id).email is None  # type: ignore[union-attr]
    assert "a été effacé" in client.get(erase).text


def test_a_networked_site_erases_at_the_hub_not_here(site: Site, client: FlaskClient) -> None:
    site.reconfigure({"hub": {"url": "mqtts://hub.example.org:8883", "public_key": "x" * 44}})
    app = create_app(site.config, connect_bus=False, tuning=TEST_TUNING)
    networked = app.test_client()
    sign_in(networked, site)
    member_id = bruno(site)
    erase = f"/admin/members/{member_id}/erase"
    assert "sur la fiche du membre au hub" in networked.get(erase).text
    refused = networked.post(
        erase, data={"csrf_token": form_token(networked, f"/admin/members/{member_id}"), "confirm": "yes"}
    )
    assert refused.status_code == 302
    with site.db.read() as s:
        assert s.get(Erasure, member_id) is None
        assert s.get(Member, member_id).first_name == "Bruno"  # type: ignore[union-attr]
    app.extensions["halfday.kiosk"].close()


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_privacy_pages_are_accessible(sized_page: Page, site: Site, kiosk: KioskServer) -> None:
    page = sized_page
    member_id = bruno(site)
    for lang in ("fr", "en"):
        page.goto(kiosk.url + "/privacy")
        switch_language(page, lang)
        check(page, f"screen-privacy-{lang}", lang)
        page.goto(kiosk.url + "/buy/pass_halfday")
        expect(page.locator("#privacy-notice")).to_be_visible()
        check(page, f"screen-buy-notice-{lang}", lang)
    site.set_password()
    page.goto(kiosk.url + "/admin/")
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    for lang in ("fr", "en"):
        switch_language(page, lang)
        for path, name in (("privacy", "privacy"), (f"members/{member_id}/erase", "erase")):
            page.goto(f"{kiosk.url}/admin/{path}")
            check(page, f"admin-{name}-{lang}", lang)
