"""The kiosk with the real door daemon: a badge on the virtual card, nfcpy's reader loop, the door's decision,
the local bus, the kiosk, Chromium. The relay is gpiozero's MockFactory pin, read back with its transitions."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.models import Credential, Event, Pass
from common.words import PlanKind
from halfday.sample import BRUNO, NEW_BADGE, UNKNOWN
from kiosk.serve import KioskServer
from kiosk.vouchers import voucher_book
from tests.kiosk.test_touchscreen import type_on_screen
from tests.support.door import DoorRig
from tests.support.kiosk import TOUCH, WALL
from tests.support.site import MANAGER_PASSWORD, Site
from tests.support.wait import wait_until


def events(site: Site, kind: str) -> list[Event]:
    with site.db.read() as s:
        return list(s.scalars(select(Event).where(Event.kind == kind).order_by(Event.seq)))


def test_a_members_tap_shows_the_welcome_and_moves_the_wall_display(
    open_page: Callable[..., Page], kiosk: KioskServer, door: DoorRig
) -> None:
    screen = open_page(TOUCH)
    screen.goto(kiosk.url)
    wall = open_page(WALL)
    wall.goto(kiosk.url + "/display/")
    expect(wall.locator("#present")).to_have_text("0")
    expect(wall.locator("#door-state")).to_have_text("Verrouillée · fermée")
    assert wait_until(lambda: kiosk.kiosk.live.listeners >= 2)

    door.tap(BRUNO)
    # A member's tap on the waiting screen opens their account (kiosk/account.py), headed by the door's answer.
    expect(screen.locator("#door-text")).to_contain_text("Bonjour Bruno ! Une demi-journée décomptée")
    expect(screen.locator("#rights")).to_contain_text("9 demi-journées restantes")
    overlay = screen.locator("#tap")
    expect(wall.locator("#present")).to_have_text("1")
    expect(wall.locator("#month-uses")).to_have_text("1")
    expect(wall.locator("#arrivals li").first).to_contain_text("Bruno")
    assert wait_until(lambda: door.relay_states() == [False, True, False], timeout=5)

    door.tap(UNKNOWN)
    expect(overlay).to_have_class(re.compile("tap-refused"))
    expect(overlay.locator(".tap-message")).to_have_text(
        "Badge inconnu. Achetez un pass à l'écran ou adressez-vous à l'accueil."
    )
    expect(wall.locator("#present")).to_have_text("1")


def buy(page: Page, kiosk: KioskServer, name: str, provider: str, voucher: str = "") -> None:
    page.goto(kiosk.url)
    page.click("text=Acheter un pass")
    page.click('a.offer[data-kind="pass_halfday"]')
    page.click("#name")
    type_on_screen(page, name)
    page.fill("#email", f"{name.lower()}@example.org")
    page.click(f"#pay-{provider}")
    if voucher:
        page.fill("#voucher", voucher)
    page.click("#pay")


def test_walk_ins_buy_with_a_voucher_and_at_the_counter_and_the_relay_pulses(
    page: Page, site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    assert door.relay_states() == [False]
    buy(page, kiosk, "Zoé", "voucher", voucher_book(site.config).mint(PlanKind.PASS_HALFDAY, 9).printed)
    expect(page.locator("#door-text")).to_have_text("La porte est ouverte : entrez !")
    assert wait_until(lambda: door.relay_states() == [False, True, False], timeout=5)
    expect(page.locator("#tap")).to_be_hidden()  # the pass page does not cover its own code with the welcome

    buy(page, kiosk, "Yann", "counter")
    expect(page.locator("#door-text")).to_have_text("La porte est ouverte : entrez !")
    expect(page.locator("#to-pay")).to_be_visible()
    assert wait_until(lambda: door.relay_states() == [False, True, False, True, False], timeout=5)
    code = page.locator("#pass-code").inner_text().replace(" ", "")

    # Yann comes back later in the same half-day with the code: free re-entry, the door opens again.
    page.goto(kiosk.url + "/code")
    page.fill("#code", code)
    page.click("#keypad .key-ok")
    expect(page.locator("#door-text")).to_have_text("La porte est ouverte : entrez !")
    assert wait_until(lambda: door.relay_states() == [False] + [True, False] * 3, timeout=5)

    entries = events(site, "entry")
    with site.db.read() as s:
        passes = {p.id: p.holder_name for p in s.scalars(select(Pass))}
    assert [(passes[e.data["holder"]], e.data["granted"]) for e in entries] == [
        ("Zoé", True),
        ("Yann", True),
        ("Yann", True),
    ]
    assert entries[2].data["use"] is None  # the re-entry was free
    assert [e.data["provider"] for e in events(site, "sale")] == ["voucher", "counter"]


def test_the_manager_enrols_a_badge_by_tapping_it(page: Page, site: Site, kiosk: KioskServer, door: DoorRig) -> None:
    site.set_password()
    page.goto(kiosk.url + "/admin/members")
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    page.click("text=Emma Garcia")
    page.click("#enrol", no_wait_after=True)
    expect(page.locator("#waiting")).to_contain_text("Présentez le badge au lecteur de la porte")
    assert wait_until(lambda: door.daemon.enrol is not None, timeout=5)
    door.tap(NEW_BADGE)
    expect(page.locator(".alert-ok")).to_have_text(f"Badge {NEW_BADGE} attribué.")
    expect(page.locator("#badges")).to_contain_text(NEW_BADGE)
    assert door.relay_states() == [False]  # enrolling is not an entry
    with site.db.read() as s:
        card = s.scalars(select(Credential).where(Credential.value == NEW_BADGE)).one()
    assert card.member_id is not None and [e.data["uid"] for e in events(site, "enrol")] == [NEW_BADGE]

    # The new badge opens the door at once: the door reloads on the state version the admin bumped.
    door.tap(NEW_BADGE)
    assert wait_until(lambda: bool(events(site, "entry")), timeout=5)
    entry = events(site, "entry")[0]
    assert (entry.data["first_name"], entry.data["granted"]) == ("Emma", True)


def test_remote_unlock_from_the_admin(page: Page, site: Site, kiosk: KioskServer, door: DoorRig) -> None:
    site.set_password()
    page.goto(kiosk.url + "/admin/")
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    page.click("#unlock")
    expect(page.locator(".alert-ok")).to_have_text("Porte ouverte.")
    assert wait_until(lambda: door.relay_states() == [False, True, False], timeout=5)
    assert wait_until(lambda: bool(events(site, "unlock")), timeout=5)
    assert events(site, "unlock")[0].data["by"] == "manager"


def test_a_walk_in_links_a_card_and_comes_back_in_with_it(
    page: Page, site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    page.goto(kiosk.url)
    page.click("text=Acheter un pass")
    page.click('a.offer[data-kind="pass_halfday"]')
    page.fill("#name", "Xavier Durand")
    page.fill("#email", "xavier@example.org")
    page.click("#bind-card")
    expect(page.locator("#card-status")).to_have_text("Présentez votre carte au lecteur de la porte…")
    assert wait_until(lambda: door.daemon.enrol is not None, timeout=5)
    door.tap(NEW_BADGE)
    expect(page.locator("#card-status")).to_have_text("Carte associée : elle vous ouvrira la porte.")
    assert NEW_BADGE not in page.content()  # the page holds a token for the card, never its UID
    page.click("#pay-counter")
    page.click("#pay")
    expect(page.locator("#door-text")).to_have_text("La porte est ouverte : entrez !")
    assert wait_until(lambda: door.relay_states() == [False, True, False], timeout=5)

    door.tap(NEW_BADGE)  # back from lunch in the same half-day, with the card
    assert wait_until(lambda: len(events(site, "entry")) == 2, timeout=5)
    again = events(site, "entry")[1]
    assert (again.data["uid"], again.data["first_name"], again.data["granted"]) == (NEW_BADGE, "Xavier", True)
    assert wait_until(lambda: door.relay_states() == [False] + [True, False] * 2, timeout=5)
