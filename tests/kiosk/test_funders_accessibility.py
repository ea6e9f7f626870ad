"""A standalone site's activity report in Chromium, with months of activity behind it: a month and a year pass
axe-core's WCAG 2.1 AA audit at the four sizes (touchscreen, laptop, TV, phone), in French and English, without
scrolling sideways, and show the figures the raw events give."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from kiosk.serve import KioskServer
from tests.kiosk.test_accessibility import check, switch_language
from tests.kiosk.test_funders_report import write_activity
from tests.support.activity import expected
from tests.support.site import MANAGER_PASSWORD, Site


@pytest.mark.parametrize("sized_page", ["touchscreen", "laptop", "tv", "phone"], indirect=True)
def test_the_report_is_accessible_at_every_size_in_both_languages(
    sized_page: Page, site: Site, kiosk: KioskServer
) -> None:
    page = sized_page
    act = write_activity(site)
    site.set_password()
    october = expected(act, [site.config.site.id], [(2026, 10)])
    year = expected(act, [site.config.site.id], [(2026, m) for m in range(1, 13)])
    page.goto(kiosk.url + "/admin/")
    for lang in ("fr", "en"):
        switch_language(page, lang)
        if page.locator("#password").count():
            page.fill("#password", MANAGER_PASSWORD)
            page.click("#login")
            expect(page.locator("#unlock")).to_be_visible()
        page.goto(kiosk.url + "/admin/report?period=2026-10")
        total = page.locator("section.report-section").first.locator("tbody tr").nth(6).locator("td").last
        expect(total).to_have_text(str(sum(october.uses.values())))
        expect(page.locator("figure.report-chart svg")).to_have_count(3)
        check(page, f"admin-report-month-{lang}", lang)
        page.fill("input[name=period]", "2026")
        page.click("form.report-period button")
        expect(page).to_have_url(kiosk.url + "/admin/report?period=2026")
        total = page.locator("section.report-section").first.locator("tbody tr").nth(6).locator("td").last
        expect(total).to_have_text(str(sum(year.uses.values())))
        check(page, f"admin-report-year-{lang}", lang)
