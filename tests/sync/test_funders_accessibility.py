"""The hub's activity report in Chromium: the network's month and a site's year pass axe-core's WCAG 2.1 AA audit
at the four sizes people use (touchscreen, laptop, TV, phone), in French and in English, without scrolling
sideways, and show the figures the raw events give. SQLite only: the audit reads the markup, the same from either
database (tests/sync/test_funders_report.py runs the figures on both)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from sync.hub.db import HubDatabase
from tests.support.activity import Activity, expected
from tests.support.axe import assert_accessible, assert_no_horizontal_scroll, keep_picture
from tests.support.hub import add_admin
from tests.sync.test_funders_report import SITES, network
from tests.sync.test_hub_accessibility import HubServer, rows_overflowing, sign_in


@dataclass(frozen=True)
class Served:
    url: str
    act: Activity


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = HubDatabase(f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.sqlite'}")
    db.create_all()
    act = network(db)
    add_admin(db)
    server = HubServer(db)
    yield Served(server.url, act)
    server.stop()
    db.dispose()


def check(page: Page, name: str) -> list[str]:
    size = page.viewport_size
    assert size is not None
    what = f"report {name} at {size['width']}x{size['height']}"
    keep_picture(page, name, "hub-report")
    problems = [f"{what}: {row}" for row in rows_overflowing(page)]
    for assertion in (assert_no_horizontal_scroll, assert_accessible):
        try:
            assertion(page, what)
        except AssertionError as failed:
            problems.append(str(failed))
    return problems


@pytest.mark.parametrize("sized_page", ["touchscreen", "laptop", "tv", "phone"], indirect=True)
def test_the_report_pages_are_accessible_at_every_size_in_both_languages(sized_page: Page, served: Served) -> None:
    page, url = sized_page, served.url
    sign_in(page, url, "admin")
    month = expected(served.act, list(SITES), [(2026, 11)])
    year_a = expected(served.act, ["site-a"], [(2026, m) for m in range(1, 13)])
    problems: list[str] = []
    for lang in ("fr", "en"):
        page.goto(f"{url}/lang/{lang}?next=/reports")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.goto(f"{url}/reports?period=2026-11")
        total = page.locator("section.report-section").first.locator("tbody tr").nth(6).locator("td").last
        expect(total).to_have_text(str(sum(month.uses.values())))
        expect(page.locator("figure.report-chart svg")).to_have_count(3)
        problems += check(page, f"network-month-{lang}")
        page.goto(f"{url}/reports?period=2026&site=site-a")
        total = page.locator("section.report-section").first.locator("tbody tr").nth(6).locator("td").last
        expect(total).to_have_text(str(sum(year_a.uses.values())))
        problems += check(page, f"site-year-{lang}")
    # The form: a year typed in the period field, the site chosen from the list.
    page.goto(f"{url}/lang/fr?next=/reports")
    page.fill("input[name=period]", "2026-10")
    page.select_option("select[name=site]", "site-b")
    page.click("form.report-period button")
    expect(page).to_have_url(f"{url}/reports?period=2026-10&site=site-b")
    october_b = expected(served.act, ["site-b"], [(2026, 10)])
    total = page.locator("section.report-section").first.locator("tbody tr").nth(6).locator("td").last
    expect(total).to_have_text(str(sum(october_b.uses.values())))
    assert not problems, "\n".join(problems)
