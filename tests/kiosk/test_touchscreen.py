"""The touchscreen in Chromium: the attract screen, a tap's feedback from the bus, a walk-in's purchase with a
voucher or at the counter, the refusals that record nothing, re-entry by code.

Without the door running, the test's bus probe stands in for the door only to publish one message and check
how the kiosk shows it, and to see which command the kiosk sent (test_end_to_end.py runs the real door)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from access.models import Event, Pass, Sale
from access.policy import Reason
from common.words import PlanKind
from kiosk.serve import KioskServer
from kiosk.vouchers import voucher_book
from sync import localbus as bus
from tests.support.kiosk import TAP, BusProbe
from tests.support.site import Site
from tests.support.wait import wait_until


def type_on_screen(page: Page, text: str) -> None:
    """Type `text` with the on-screen keyboard, as a walk-in does (shift for capitals)."""
    for ch in text:
        if ch.isupper():
            page.click("#keyboard .key-shift")
        page.click(f'#keyboard [data-key="{ch.lower()}"]')


def sales_count(site: Site) -> int:
    with site.db.read() as s:
        return s.scalar(select(func.count()).select_from(Sale)) or 0


def test_attract_screen_then_a_welcome_and_a_refusal(page: Page, kiosk: KioskServer, probe: BusProbe) -> None:
    page.goto(kiosk.url)
    expect(page.locator("main h1")).to_have_text("Badgez ou achetez un pass")
    wait_until(lambda: kiosk.kiosk.live.listeners > 0)
    probe.publish(TAP)
    overlay = page.locator("#tap")
    expect(overlay).to_be_visible()
    expect(overlay).to_have_class(re.compile("tap-granted"))
    expect(overlay.locator(".tap-title")).to_have_text("Alice")
    expect(overlay.locator(".tap-message")).to_have_text(
        "Bonjour Alice ! Une demi-journée décomptée pour ce matin, il vous en reste 9."
    )
    expect(overlay.locator(".tap-chips li")).to_have_text(["1 demi-journée décomptée", "Il vous reste 9 demi-journées"])
    refusal = dataclasses.replace(
        TAP, event="f" * 32, granted=False, reason=Reason.UNKNOWN, holder=None, first_name=None, charged=False
    )
    probe.publish(refusal)
    expect(overlay).to_have_class(re.compile("tap-refused"))
    expect(overlay.locator(".tap-title")).to_have_text("Entrée refusée")
    expect(overlay.locator(".tap-message")).to_contain_text("Achetez un pass à l'écran")
    expect(overlay).to_be_hidden(timeout=8000)  # back to the attract screen by itself


def start_purchase(page: Page, kiosk: KioskServer, name: str = "Zoé Lemoine", email: str = "zoe@example.org") -> None:
    page.goto(kiosk.url)
    page.click("text=Acheter un pass")
    page.click('a.offer[data-kind="pass_halfday"]')
    page.click("#name")
    type_on_screen(page, name)
    page.click("#email")
    page.fill("#email", email)


def test_walk_in_pays_with_a_voucher_and_the_kiosk_admits_the_pass(
    page: Page, site: Site, kiosk: KioskServer, probe: BusProbe
) -> None:
    voucher = voucher_book(site.config).mint(PlanKind.PASS_HALFDAY, 41)
    start_purchase(page, kiosk)
    expect(page.locator("#name")).to_have_value("Zoé Lemoine")  # typed on the on-screen keyboard
    page.click("#pay-voucher")
    page.fill("#voucher", voucher.printed.lower())
    page.click("#pay")
    expect(page.locator("#pass-code")).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    expect(page.locator("#paid")).to_be_visible()
    with site.db.read() as s:
        sale = s.scalars(select(Sale)).one()
        pass_ = s.scalars(select(Pass)).one()
        assert s.scalar(select(func.count()).select_from(Event).where(Event.kind == "sale")) == 1
    assert (sale.provider, sale.paid, sale.voucher_code) == ("voucher", True, voucher.code)
    assert sale.buyer_name == "Zoé Lemoine"
    assert page.locator("#pass-code").inner_text().replace(" ", "") == pass_.code
    assert wait_until(lambda: bool(probe.commands_of(bus.Admit)))
    assert probe.commands_of(bus.Admit)[0].credential == f"pass:{pass_.id}"
    # No door answered in this test: the walk-in is told so, and what to do.
    expect(page.locator("#door-text")).to_contain_text("La porte ne répond pas")


def test_counter_sale_is_unpaid_and_the_code_lets_the_walk_in_back_in(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer, probe: BusProbe
) -> None:
    page = open_page()
    start_purchase(page, kiosk, "Yann", "yann@example.org")
    page.click("#pay-counter")
    page.click("#pay")
    expect(page.locator("#to-pay")).to_contain_text("8,00")
    code = page.locator("#pass-code").inner_text().replace(" ", "")
    with site.db.read() as s:
        sale = s.scalars(select(Sale)).one()
        pass_id = s.scalars(select(Pass.id)).one()
    assert (sale.provider, sale.paid, sale.voucher_code) == ("counter", False, None)
    later = open_page()
    later.goto(kiosk.url)
    later.click("text=J'ai un code")
    later.wait_for_url("**/code")  # loaded, its keypad script run: a key pressed before would be lost
    for digit in code:
        later.click(f'#keypad [data-key="{digit}"]')
    later.click("#keypad .key-ok")
    expect(later.locator("main h1")).to_have_text("Bon retour Yann !")
    assert wait_until(lambda: len(probe.commands_of(bus.Admit)) == 2)
    assert [c.credential for c in probe.commands_of(bus.Admit)] == [f"pass:{pass_id}"] * 2


def test_wrong_voucher_reused_voucher_and_empty_name_record_no_sale(
    page: Page, site: Site, kiosk: KioskServer, probe: BusProbe
) -> None:
    book = voucher_book(site.config)
    good = book.mint(PlanKind.PASS_HALFDAY, 5)
    wrong = good.code[:-1] + ("0" if good.code[-1] != "0" else "1")

    start_purchase(page, kiosk)
    page.click("#pay-voucher")
    page.fill("#voucher", wrong)
    page.click("#pay")
    expect(page.locator("#error")).to_contain_text("Ce code n'est pas un bon de ce lieu")
    expect(page.locator("#name")).to_have_value("Zoé Lemoine")  # what was typed is kept
    assert sales_count(site) == 0

    page.fill("#name", "")
    page.fill("#voucher", good.printed)
    page.click("#pay")
    expect(page.locator("#error")).to_contain_text("Indiquez votre nom")
    assert sales_count(site) == 0

    page.fill("#name", "Zoé Lemoine")
    page.click("#pay")
    expect(page.locator("#pass-code")).to_be_visible()
    assert sales_count(site) == 1

    start_purchase(page, kiosk, "Xavier", "xavier@example.org")
    page.click("#pay-voucher")
    page.fill("#voucher", good.printed)
    page.click("#pay")
    expect(page.locator("#error")).to_contain_text("Ce bon a déjà été utilisé")
    assert sales_count(site) == 1
    assert len(probe.commands_of(bus.Admit)) == 1


def test_a_day_voucher_for_a_half_day_pass_says_which_pass_to_choose(
    page: Page, site: Site, kiosk: KioskServer
) -> None:
    start_purchase(page, kiosk)
    page.click("#pay-voucher")
    page.fill("#voucher", voucher_book(site.config).mint(PlanKind.PASS_DAY, 1).code)
    page.click("#pay")
    expect(page.locator("#error")).to_contain_text("Ce bon est prévu pour un pass « Journée »")
    assert sales_count(site) == 0


def test_english_on_the_touchscreen(page: Page, kiosk: KioskServer, probe: BusProbe) -> None:
    page.goto(kiosk.url)
    page.click("a.lang >> text=EN")
    expect(page.locator("main h1")).to_have_text("Tap your badge or buy a pass")
    # The French page's stream may still be counted while the English page's is not yet open: a tap sent then
    # would go to the page that left. Leave, then come back to the language the kiosk now remembers.
    page.goto("about:blank")
    assert wait_until(lambda: kiosk.kiosk.live.listeners == 0)
    page.goto(kiosk.url)
    expect(page.locator("main h1")).to_have_text("Tap your badge or buy a pass")
    assert wait_until(lambda: kiosk.kiosk.live.listeners == 1)
    probe.publish(TAP)
    expect(page.locator("#tap .tap-message")).to_have_text(
        "Welcome Alice! One half-day used for this morning; 9 left on your carnet."
    )
    expect(page.locator("#tap .tap-chips li").last).to_have_text("9 half-days left")


def test_a_page_left_behind_frees_its_event_stream(page: Page, kiosk: KioskServer) -> None:
    page.goto(kiosk.url)
    assert wait_until(lambda: kiosk.kiosk.live.listeners == 1)
    page.goto(kiosk.url + "/code")  # every touchscreen page has its stream: the old one ends, the new one starts
    assert wait_until(lambda: kiosk.kiosk.live.listeners == 1)
    page.goto("about:blank")
    # The server thread that held the stream is free again within a poll, not after the next keep-alive.
    assert wait_until(lambda: kiosk.kiosk.live.listeners == 0, timeout=2)
