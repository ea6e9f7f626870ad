"""The manager's admin in Chromium: members and plans (with the domain's refusals), sales to reconcile, the event
log with filters, CSV exports, and the read-only view of a site linked to a hub."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.models import Event, Member, Plan, Sale
from common.words import PlanKind
from halfday.sample import ALICE, BRUNO
from kiosk.sales import Payment, WalkIn, counter_at, record_sale
from kiosk.serve import KioskServer
from tests.support.kiosk import WALL, record_taps
from tests.support.site import MANAGER_PASSWORD, Site


def log_in(page: Page, kiosk: KioskServer, site: Site, path: str = "/admin/") -> None:
    site.set_password()
    page.goto(kiosk.url + path)
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")


def counter_sale(site: Site, kiosk: KioskServer, name: str) -> str:
    k = kiosk.kiosk
    offer = counter_at(dt.datetime.now(dt.UTC), k.rules, {PlanKind.PASS_HALFDAY: 800}).offers[0]
    with site.db.write() as s:
        sale, _pass = record_sale(
            s, "door-1", offer, WalkIn(name, "w@example.org"), Payment("counter", False), k.stamp()
        )
        return sale.id


def test_members_and_plans_with_the_domains_refusals(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer
) -> None:
    page = open_page(WALL)
    log_in(page, kiosk, site, "/admin/members")
    expect(page.locator("#members")).to_contain_text("Alice Martin")
    form = page.locator("#add-member")
    form.locator('input[name="first_name"]').fill("Eve")
    form.locator('input[name="email"]').fill("alice@example.org")
    form.locator("button").click()
    expect(page.locator(".alert-error")).to_have_text("un membre a déjà l'adresse alice@example.org")
    page.locator('#add-member input[name="email"]').fill("eve@example.org")
    page.locator('#add-member select[name="plan"]').select_option("Carnet 10")
    page.locator('#add-member input[name="badge"]').fill("e1:e2:e3:e4")
    page.locator("#add-member button").click()
    expect(page.locator(".alert-ok")).to_have_text("Membre ajouté : Eve")
    expect(page.locator("#badges")).to_contain_text("E1E2E3E4")
    expect(page.locator("#balance")).to_have_text("reste 10 demi-journée(s)")
    page.locator('input[name="half_days"]').fill("5")
    page.click("#topup")
    expect(page.locator("#balance")).to_have_text("reste 15 demi-journée(s)")
    page.click("#badges button")
    expect(page.locator(".alert-ok")).to_have_text("Badge E1E2E3E4 désactivé.")

    page.goto(kiosk.url + "/admin/plans")
    page.locator('#add-plan input[name="name"]').fill("Carnet 5")
    page.locator('#add-plan select[name="kind"]').select_option("carnet")
    page.locator("#add-plan button").click()
    expect(page.locator(".alert-error")).to_have_text("un carnet a besoin d'un nombre de demi-journées (1 ou plus)")
    page.locator('#add-plan input[name="half_days"]').fill("5")
    page.locator('#add-plan input[name="price"]').fill("35,50")
    page.locator("#add-plan button").click()
    expect(page.locator("#plans")).to_contain_text("35,50")
    with site.db.read() as s:
        assert s.scalars(select(Plan.price_cents).where(Plan.name == "Carnet 5")).one() == 3550
        assert s.scalars(select(Member.email).where(Member.first_name == "Eve")).one() == "eve@example.org"


def test_the_manager_marks_a_counter_sale_paid(page: Page, site: Site, kiosk: KioskServer) -> None:
    sale_id = counter_sale(site, kiosk, "Yann")
    log_in(page, kiosk, site, "/admin/sales")
    row = page.locator(f'tr[data-sale="{sale_id}"]')
    expect(row).to_contain_text("Yann")
    row.locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Vente de Yann marquée réglée.")
    expect(page.locator("#sales")).to_contain_text("Aucune vente à régler.")
    with site.db.read() as s:
        assert s.get(Sale, sale_id).paid  # type: ignore[union-attr]
        paid = s.scalars(select(Event).where(Event.kind == "sale_paid")).one()
    assert paid.data == {"sale": sale_id, "tender": "cash"}


def test_event_log_filters_and_csv_exports(open_page: Callable[..., Page], site: Site, kiosk: KioskServer) -> None:
    record_taps(site, [ALICE, BRUNO])
    counter_sale(site, kiosk, "Yann")
    page = open_page(WALL)
    log_in(page, kiosk, site, "/admin/events")
    expect(page.locator("#events tbody tr")).to_have_count(3)
    page.fill('#filters input[name="q"]', "Bruno")
    page.click("#filters button")
    expect(page.locator("#events tbody tr")).to_have_count(1)
    expect(page.locator("#events")).to_contain_text(BRUNO)
    page.goto(kiosk.url + "/admin/events?kind=sale")
    expect(page.locator("#events tbody tr")).to_have_count(1)
    expect(page.locator("#events")).to_contain_text("Yann")
    page.goto(kiosk.url + "/admin/events?day=2001-01-01")
    expect(page.locator("#events")).to_contain_text("Aucun événement.")

    page.goto(kiosk.url + "/admin/exports")
    month = dt.datetime.now(site.config.site.tz).strftime("%Y-%m")
    usage = page.request.get(f"{kiosk.url}{page.locator('#usage-csv').get_attribute('href')}")
    assert usage.ok and f'filename="usage-{month}.csv"' in usage.headers["content-disposition"]
    lines = usage.text().strip().splitlines()
    # The one CSV writer: a byte-order mark and `;` between cells, as French spreadsheets read them.
    assert lines[0] == "\ufeffdate;slot;holder_id;name;email;plan;spent;site"
    assert sorted(line.split(";")[3] for line in lines[1:]) == ["Alice Martin", "Bruno Petit"]
    summary = page.request.get(f"{kiosk.url}/admin/exports/summary/{month}.csv")
    assert summary.ok and summary.text().startswith("\ufeffholder_id;name;email;half_days")
    assert page.request.get(f"{kiosk.url}/admin/exports/usage/2026-13.csv").status == 404


def test_a_site_linked_to_a_hub_shows_members_read_only(
    page: Page, site: Site, start_kiosk: Callable[..., KioskServer]
) -> None:
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-kiosk"}
    kiosk = start_kiosk(config=site.reconfigure({"hub": hub}))
    log_in(page, kiosk, site, "/admin/members")
    expect(page.locator("#networked-notice")).to_be_visible()
    expect(page.locator("#add-member")).to_have_count(0)
    page.click("text=Alice Martin")
    expect(page.locator("#enrol")).to_have_count(0)
    token = page.locator('form[action="/admin/logout"] input[name="csrf_token"]').get_attribute("value")
    refused = page.request.post(f"{kiosk.url}/admin/members", form={"csrf_token": token or "", "first_name": "Eve"})
    assert "relié au hub" in refused.text()
    with site.db.read() as s:
        assert s.scalars(select(Member).where(Member.first_name == "Eve")).first() is None


def test_admin_refuses_a_request_without_login_and_a_form_without_its_token(
    page: Page, site: Site, kiosk: KioskServer
) -> None:
    site.set_password()
    page.goto(kiosk.url + "/admin/members")
    expect(page.locator("main h1")).to_have_text("Connexion de l'accueil")  # redirected, nothing shown
    assert "/admin/login" in page.url
    token = page.locator('input[name="csrf_token"]').get_attribute("value") or ""
    assert page.request.post(f"{kiosk.url}/admin/unlock", form={"csrf_token": token}).status == 401
    assert page.request.post(f"{kiosk.url}/admin/members", form={"first_name": "Eve"}).status == 400

    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    page.goto(kiosk.url + "/admin/members")
    page.locator('#add-member input[name="first_name"]').fill("Eve")
    page.evaluate("document.querySelector('#add-member input[name=csrf_token]').remove()")
    page.locator("#add-member button").click()
    expect(page.locator(".alert-error")).to_contain_text("Ce formulaire a expiré ou ne vient pas de cette page")
    with site.db.read() as s:
        assert s.scalars(select(Member).where(Member.first_name == "Eve")).first() is None
