"""Every screen at the touchscreen's 800x480, the 1024x600 panel and the 1920x1080 wall screen, saved to
artifacts/screenshots/ (git-ignored) for review. Each capture also checks that the page fits its screen where
it must: the touchscreen never scrolls."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from access.policy import Reason
from halfday.sample import ALICE, BRUNO, UNKNOWN
from kiosk.serve import KioskServer
from sync import localbus as bus
from tests.support.kiosk import TAP, TOUCH, TOUCH_1024, WALL, BusProbe, record_taps, screenshot
from tests.support.site import MANAGER_PASSWORD, Site
from tests.support.wait import wait_until

SIZES = [TOUCH, TOUCH_1024, WALL]


def fits(page: Page) -> bool:
    """Nothing on the page reaches below the bottom of the screen."""
    return bool(
        page.evaluate(
            "Array.from(document.querySelectorAll('main *')).every("
            "e => e.getBoundingClientRect().bottom <= window.innerHeight + 1)"
        )
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s['width']}x{s['height']}")
def test_touchscreen_screens(
    size: dict[str, int], open_page: Callable[..., Page], kiosk: KioskServer, probe: BusProbe
) -> None:
    page = open_page(size)
    page.goto(kiosk.url)
    assert fits(page)
    screenshot(page, "screen-attract")
    wait_until(lambda: kiosk.kiosk.live.listeners > 0)
    probe.publish(TAP)
    expect(page.locator("#tap")).to_be_visible()
    screenshot(page, "screen-tap-granted")
    probe.publish(
        dataclasses.replace(
            TAP, event="f" * 32, granted=False, reason=Reason.NO_CREDIT, first_name="Bruno", charged=False
        )
    )
    expect(page.locator("#tap")).to_have_class(re.compile("tap-refused"))
    screenshot(page, "screen-tap-refused")
    page.click("#tap")
    page.click("text=Acheter un pass")
    assert fits(page)
    screenshot(page, "screen-choose")
    page.click('a.offer[data-kind="pass_halfday"]')
    page.click("#pay-voucher")
    page.fill("#voucher", "1K4P-7RQD-M2XA")
    page.click("#pay")
    expect(page.locator("#error")).to_be_visible()
    screenshot(page, "screen-buy-error")
    assert fits(page), "the purchase form with its keyboard must fit the screen"
    page.fill("#name", "Zoé Lemoine")
    page.fill("#email", "zoe@example.org")
    page.click("#pay-counter")
    page.click("#pay")
    expect(page.locator("#pass-code")).to_be_visible()
    assert fits(page)
    screenshot(page, "screen-pass")
    code = page.locator("#pass-code").inner_text().replace(" ", "")
    page.goto(kiosk.url + "/code")
    assert fits(page)
    screenshot(page, "screen-code")
    page.fill("#code", code)
    page.click("#keypad .key-ok")
    expect(page.locator("main h1")).to_have_text("Bon retour Zoé !")
    assert fits(page)
    screenshot(page, "screen-welcome-back")


@pytest.mark.parametrize("size", [TOUCH, WALL], ids=lambda s: f"{s['width']}x{s['height']}")
def test_wall_display(
    size: dict[str, int], open_page: Callable[..., Page], site: Site, kiosk: KioskServer, probe: BusProbe
) -> None:
    record_taps(site, [ALICE, BRUNO, UNKNOWN])
    probe.publish(bus.DoorState(online=True, locked=True, open=False, reader=bus.ReaderHealth("ok")), retain=True)
    page = open_page(size)
    page.goto(kiosk.url + "/display/")
    expect(page.locator("#present")).to_have_text("2")
    expect(page.locator("#door-state")).to_contain_text("Verrouillée")
    if size == WALL:
        assert fits(page)
    screenshot(page, "display")


@pytest.mark.parametrize("size", [TOUCH, WALL], ids=lambda s: f"{s['width']}x{s['height']}")
def test_admin_pages(size: dict[str, int], open_page: Callable[..., Page], site: Site, kiosk: KioskServer) -> None:
    page = open_page(size)
    page.goto(kiosk.url + "/admin/")
    screenshot(page, "admin-no-password")
    site.set_password()
    record_taps(site, [ALICE, BRUNO])
    page.reload()
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    expect(page.locator("main h1")).to_have_text("Tableau de bord")
    screenshot(page, "admin-dashboard")
    for path, name in [
        ("members", "admin-members"),
        ("plans", "admin-plans"),
        ("sales?show=all", "admin-sales"),
        ("events", "admin-events"),
        ("exports", "admin-exports"),
    ]:
        page.goto(f"{kiosk.url}/admin/{path}")
        screenshot(page, name)
    page.goto(f"{kiosk.url}/admin/members")
    page.click("text=Bruno Petit")
    screenshot(page, "admin-member")
