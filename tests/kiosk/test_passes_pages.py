"""The pass screens at every size people see them (800x480 touchscreen, 1366x768, 1920x1080, a 390-px phone), in
French and English, with the longest words they carry (a week's span, the late rule, a closure given back), and the
manager's sales with a pass to stop and one stopped: each passes axe-core's WCAG 2.1 AA audit and none scrolls
sideways. Screens are saved to artifacts/accessibility/."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from access.models import Closure
from common.words import PlanKind
from kiosk.serve import KioskServer
from kiosk.vouchers import voucher_book
from tests.kiosk.test_accessibility import check, switch_language
from tests.kiosk.test_admin import log_in
from tests.support.axe import SIZES
from tests.support.site import Site

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# A Wednesday, half an hour before the test site's noon (slots 00:00-12:00-23:59): late in the morning.
LATE_MORNING = dt.datetime(2026, 12, 2, 11, 30, tzinfo=PARIS).astimezone(dt.UTC)


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_the_pass_screens_at_every_size(sized_page: Page, site: Site, start_kiosk: Callable[..., KioskServer]) -> None:
    page = sized_page
    with site.db.write() as s:
        s.add(Closure(date=dt.date(2026, 12, 4), label="Inventaire"))
    config = site.reconfigure({"kiosk": {"late_minutes": 60}})
    kiosk = start_kiosk(config, clock=lambda: LATE_MORNING, connect_bus=False)
    for lang in ("fr", "en"):
        page.goto(kiosk.url)
        switch_language(page, lang)
        page.goto(kiosk.url + "/buy")
        expect(page.locator(".offer")).to_have_count(4)
        expect(page.locator("#late")).to_be_visible()
        check(page, f"screen-choose-passes-{lang}", lang)
        page.click('a.offer[data-kind="pass_week"]')
        expect(page.locator("#span")).to_be_visible()
        check(page, f"screen-buy-week-{lang}", lang)
    expect(page.locator("#span")).to_contain_text(
        "This pass opens: from Wednesday 2 December, morning, to Wednesday 9 December, afternoon."
    )
    expect(page.locator("#span")).to_contain_text("Closed on Friday 4 December")

    # The manager's sales, every pass with its last day and a button to stop it, then one stopped.
    page.click("#pay-voucher")
    page.fill("#name", "Inès Martin")
    page.fill("#email", "ines@example.org")
    page.fill("#voucher", voucher_book(config).mint(PlanKind.PASS_WEEK, 1).printed)
    page.click("#pay")
    expect(page.locator("#pass-code")).to_be_visible()
    log_in(page, kiosk, site, "/admin/sales?show=all")
    switch_language(page, "fr")
    row = page.locator("#sales tbody tr").first
    expect(row).to_contain_text("2026-12-02 → 2026-12-09")
    check(page, "admin-sales-passes-fr", "fr")
    row.locator("button", has_text="Arrêter le pass").click()
    expect(page.locator(".alert-ok")).to_have_text("Pass de Inès Martin arrêté : la porte ne s'ouvre plus pour lui.")
    switch_language(page, "en")
    expect(page.locator("#sales tbody tr").first).to_contain_text("pass stopped on 02/12/2026")
    check(page, "admin-sales-passes-en", "en")
