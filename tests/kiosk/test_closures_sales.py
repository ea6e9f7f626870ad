"""On a day the site is closed the touchscreen sells no pass: the door would refuse it, and a walk-in must not pay
for nothing. The screen says why, in the visitor's language, and a sale posted anyway is refused and not written."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from access.models import Closure, Pass, Sale
from kiosk.serve import KioskServer
from tests.kiosk.test_accessibility import check, switch_language
from tests.support.site import Site


def close_today(site: Site) -> None:
    with site.db.write() as s:
        s.add(Closure(date=dt.datetime.now(site.config.site.tz).date(), label="Inventaire"))


def written(site: Site) -> tuple[int, int]:
    with site.db.read() as s:
        return s.scalar(select(func.count()).select_from(Sale)) or 0, s.scalar(
            select(func.count()).select_from(Pass)
        ) or 0


def test_no_pass_is_sold_on_a_closed_day(page: Page, site: Site, kiosk: KioskServer) -> None:
    page.goto(kiosk.url)
    page.click("text=Acheter un pass")
    expect(page.locator(".offer").first).to_be_visible()  # an open day: passes on sale

    close_today(site)
    page.goto(kiosk.url + "/buy")
    expect(page.locator(".choose .alert-error")).to_have_text(
        "L'espace est fermé aujourd'hui : aucun pass n'est en vente. Revenez un jour d'ouverture."
    )
    expect(page.locator(".offer")).to_have_count(0)
    check(page, "screen-choose-closed-fr", "fr")
    switch_language(page, "en")
    expect(page.locator(".choose .alert-error")).to_have_text(
        "The space is closed today: no pass is on sale. Come back on a day it is open."
    )

    # The form's address typed by hand shows nothing to buy; a sale posted anyway is refused, nothing is written.
    page.goto(kiosk.url + "/buy/pass_halfday")
    assert page.url.endswith("/buy")
    page.goto(kiosk.url + "/code")
    token = page.locator('input[name="csrf_token"]').get_attribute("value") or ""
    refused = page.request.post(
        f"{kiosk.url}/buy/pass_halfday",
        form={"csrf_token": token, "name": "Zoé", "email": "zoe@example.org", "provider": "counter"},
    )
    assert refused.status == 409
    assert "The space is closed today: no pass is on sale." in refused.text()
    assert written(site) == (0, 0)
