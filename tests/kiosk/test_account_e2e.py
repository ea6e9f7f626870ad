"""A member's account and guests on the real door daemon: badges on the virtual card through nfcpy's reader loop,
the door's decision, the local bus, the kiosk, Chromium at the touchscreen; the relay read back from gpiozero's
MockFactory pin. And the account's screens audited by axe-core at the four sizes people see them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.admin import set_guest_half_days
from access.models import Event, Guest, Member, Subscription, Use
from access.policy import Reason, decide
from access.store import GUEST_CREDENTIAL_PREFIX, load_state
from halfday.sample import ALICE, BRUNO
from kiosk.account import account_link
from kiosk.serve import KioskServer
from sync.localbus import Tap
from tests.kiosk.test_touchscreen import type_on_screen
from tests.support.axe import SIZES, assert_accessible, assert_no_horizontal_scroll, keep_picture
from tests.support.door import DoorRig
from tests.support.kiosk import TOUCH, record_taps
from tests.support.site import MANAGER_PASSWORD, Site
from tests.support.wait import wait_until

OPEN = "La porte est ouverte : entrez !"


def entries(site: Site) -> list[Event]:
    with site.db.read() as s:
        return list(s.scalars(select(Event).where(Event.kind == "entry").order_by(Event.seq)))


def subscription_of(site: Site, first_name: str) -> str:
    with site.db.read() as s:
        member = s.scalars(select(Member.id).where(Member.first_name == first_name)).one()
        return s.scalars(select(Subscription.id).where(Subscription.member_id == member)).one()


def tap_to_account(page: Page, kiosk: KioskServer, door: DoorRig, badge: str, first_name: str) -> None:
    """The touchscreen waits; the member taps at the door; the screen turns to their account."""
    page.goto(kiosk.url)
    assert wait_until(lambda: kiosk.kiosk.live.listeners >= 1)
    door.tap(badge)
    expect(page).to_have_url(re.compile(r"/account/\?t="))
    expect(page.locator("#account h1")).to_have_text(f"Votre compte, {first_name}")


def invite(page: Page, name: str) -> str:
    """Register a guest from the account with the on-screen keyboard; the guest's code."""
    page.click("#invite")
    type_on_screen(page, name)
    page.click("#register-guest")
    expect(page.locator("#guest-done h1")).to_contain_text(name)
    return page.locator("#guest-code").inner_text().replace(" ", "")


def enter_code(page: Page, kiosk: KioskServer, code: str) -> None:
    page.goto(kiosk.url)
    page.click("text=J'ai un code")
    page.fill("#code", code)
    page.click("#keypad .key-ok")


def test_a_members_guest_on_the_carnet_then_a_refill_the_door_uses_at_once(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    page = open_page(TOUCH)
    tap_to_account(page, kiosk, door, BRUNO, "Bruno")
    # The door's answer, as the tap's overlay words it, heads the account.
    expect(page.locator("#door-text")).to_have_text(
        re.compile(r"^Bonjour Bruno ! Une demi-journée décomptée pour (ce matin|cet après-midi), il vous en reste 9\.$")
    )
    expect(page.locator("#rights")).to_contain_text("9 demi-journées restantes")
    expect(page.locator("#month-used")).to_have_text("Ce mois-ci : 1 demi-journée")
    assert BRUNO not in page.content()

    code = invite(page, "Jeanne")
    expect(page.locator("#guest-charge")).to_contain_text("Décompté de votre carnet")
    enter_code(page, kiosk, code)
    expect(page.locator("#door-text")).to_have_text(OPEN)
    assert wait_until(lambda: door.relay_states() == [False, True, False, True, False], timeout=5)
    carnet = subscription_of(site, "Bruno")
    with site.db.read() as s:
        guest = s.scalars(select(Guest)).one()
        use = s.scalars(select(Use).where(Use.holder_id == guest.id)).one()
    assert (guest.charge, use.subscription_id, use.spent) == ("carnet", carnet, 1)

    # Bruno comes back in the same half-day (free): the door's balance already counts his guest's half-day.
    tap_to_account(page, kiosk, door, BRUNO, "Bruno")
    assert entries(site)[-1].data["balance"] == 8
    expect(page.locator("#door-text")).to_have_text("Bonjour Bruno ! Demi-journée déjà comptée.")
    expect(page.locator("#rights")).to_contain_text("8 demi-journées restantes")
    expect(page.locator("#guests-today")).to_have_text("Vos invités aujourd'hui : Jeanne")

    # He refills at the touchscreen, to pay at the desk: the door decides on the new balance at his next tap.
    page.click("#refill-1")
    expect(page.locator("#summary")).to_contain_text("10 demi-journées de plus")
    page.click("#pay")
    expect(page.locator("#done")).to_have_text("Carnet rechargé. À régler à l'accueil ou dans la boîte.")
    expect(page.locator("#rights")).to_contain_text("18 demi-journées restantes")
    door.tap(BRUNO)
    assert wait_until(lambda: len(entries(site)) == 4, timeout=5)
    assert (entries(site)[-1].data["granted"], entries(site)[-1].data["balance"]) == (True, 18)


def test_an_included_guest_comes_in_once_for_the_day_and_not_the_next(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    with site.db.write() as s:
        set_guest_half_days(s, "Illimité", 2)
    page = open_page(TOUCH)
    tap_to_account(page, kiosk, door, ALICE, "Alice")
    code = invite(page, "Paul")
    expect(page.locator("#guest-charge")).to_contain_text("Compris dans votre formule")
    enter_code(page, kiosk, code)
    expect(page.locator("#door-text")).to_have_text(OPEN)
    assert wait_until(lambda: door.relay_states() == [False] + [True, False] * 2, timeout=5)
    # The same code again in the same half-day: in, and nothing more counted.
    enter_code(page, kiosk, code)
    expect(page.locator("#door-text")).to_have_text(OPEN)
    assert wait_until(lambda: door.relay_states() == [False] + [True, False] * 3, timeout=5)
    with site.db.read() as s:
        guest = s.scalars(select(Guest)).one()
        uses = s.scalars(select(Use).where(Use.holder_id == guest.id)).all()
    assert guest.charge == "included"
    assert [(u.subscription_id, u.spent) for u in uses] == [(subscription_of(site, "Alice"), 0)]
    assert [e.data["use"] is None for e in entries(site) if e.data["holder"] == guest.id] == [False, True]

    # The next day the code opens nothing: the door's own decision on the state it holds today.
    now = dt.datetime.now(dt.UTC)
    config = site.config.site
    with site.db.read() as s:
        state = load_state(s, config.rules, config.id, config.device, now.astimezone(config.tz).date())
    key = GUEST_CREDENTIAL_PREFIX + guest.id
    assert decide(key, now, state).granted
    assert decide(key, now + dt.timedelta(days=1), state).reason == Reason.EXPIRED


# ---------------------------------------------------------------------------------------------- accessibility


def check(page: Page, name: str) -> None:
    size = page.viewport_size
    assert size is not None
    what = f"{name} at {size['width']}x{size['height']}"
    keep_picture(page, name)
    assert_no_horizontal_scroll(page, what)
    assert_accessible(page, what)


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_the_account_screens_pass_the_audit(sized_page: Page, site: Site, kiosk: KioskServer) -> None:
    page = sized_page
    with site.db.write() as s:
        set_guest_half_days(s, "Carnet 10", 1)
    record_taps(site, [BRUNO])
    with site.db.read() as s:
        event = s.scalars(select(Event).where(Event.kind == "entry")).one()
    news = Tap(event.id, event.seq, event.at, True, Reason.GRANTED, holder=event.data["holder"])
    with kiosk.app.test_request_context():
        link = account_link(news)
    assert link is not None
    page.goto(kiosk.url + link)
    expect(page.locator("#rights")).to_contain_text("9 demi-journées restantes")
    check(page, "account")
    page.click("#refill-1")
    expect(page.locator("#pay")).to_be_visible()
    check(page, "account-refill")
    page.go_back()
    page.click("#invite")
    check(page, "account-guest")
    page.click("#register-guest")
    expect(page.locator("#error")).to_have_text("Indiquez le prénom de votre invité.")
    check(page, "account-guest-error")
    type_on_screen(page, "Jeanne")
    page.click("#register-guest")
    expect(page.locator("#guest-charge")).to_contain_text("Compris dans votre formule")
    check(page, "account-guest-code")
    # The manager's side: the guest in this month's list, and the plans with their guest half-days.
    site.set_password()
    page.goto(kiosk.url + "/admin/guests")
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    page.goto(kiosk.url + "/admin/guests")
    expect(page.locator("#guests tbody tr")).to_have_count(1)
    expect(page.locator("#guests tbody tr")).to_contain_text("Jeanne")
    check(page, "admin-guests-with-one")
    page.goto(kiosk.url + "/admin/plans")
    expect(page.locator("#plans input[name=guest_half_days]").first).to_be_visible()
    check(page, "admin-plans-guests")
