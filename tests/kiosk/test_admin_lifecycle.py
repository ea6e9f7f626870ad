"""A member's year from the manager's pages, in Chromium: edit, subscribe, renew (from the member's page and from
"À renouveler ce mois-ci"), change plan, deactivate and reactivate; badges lost, re-issued and found, with their
history. The refusals are shown next to their form. And at the door, for real: a renewed month lets the member in
the next day (the door daemon started on tomorrow's date by faketime); a re-issued badge opens, the old one not."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access import admin
from access.models import Credential, Event, Member, Subscription
from common.periods import months_end
from halfday.sample import ALICE, BRUNO
from hardware.virtual_card import VirtualCard
from kiosk.serve import KioskServer
from tests.kiosk.test_admin import log_in
from tests.support.axe import SIZES, assert_accessible, assert_no_horizontal_scroll
from tests.support.door import LIBFAKETIME, TAP_GAP_S, DoorRig
from tests.support.kiosk import WALL
from tests.support.site import Site
from tests.support.wait import wait_until

NINA_BADGE = "6A6B6C6D"  # emulated UIDs must not start with 04 (nfcpy would read them as NXP's own)
NEW_BADGE = "2C2C2C2C"


def today_at(site: Site) -> dt.date:
    return dt.datetime.now(site.config.site.tz).date()


def a_month_ending_today(site: Site) -> tuple[dt.date, dt.date]:
    """A month's subscription (common/periods.py) whose last day is today."""
    today = today_at(site)
    for back in range(27, 33):
        start = today - dt.timedelta(days=back)
        if months_end(start, 1) == today:
            return start, today
    raise AssertionError(f"no month ends on {today}")


def add_nina(site: Site, period: tuple[dt.date, dt.date]) -> str:
    """Nina, on the unlimited plan for a month ending today, with a badge."""
    spec = admin.MemberSpec(
        "Nina", "Lefèvre", "nina@example.org", "Illimité", NINA_BADGE, f"{period[0]}", f"{period[1]}"
    )
    with site.db.write() as s:
        return admin.add_member(s, spec, site.config.site.device).id


def member_id(site: Site, first_name: str) -> str:
    with site.db.read() as s:
        return s.scalars(select(Member.id).where(Member.first_name == first_name)).one()


def test_the_member_page_runs_the_year(open_page: Callable[..., Page], site: Site, kiosk: KioskServer) -> None:
    page = open_page(WALL)
    bruno = member_id(site, "Bruno")
    log_in(page, kiosk, site, f"/admin/members/{bruno}")
    today = today_at(site)

    # Another member's address is refused next to the form, which keeps what was typed.
    form = page.locator("#edit-member")
    form.locator('input[name="first_name"]').fill("Bruno-Marie")
    form.locator('input[name="email"]').fill("alice@example.org")
    page.click("#save-member")
    expect(page.locator("#edit-error")).to_have_text("un autre membre a déjà l'adresse alice@example.org")
    expect(form.locator('input[name="first_name"]')).to_have_value("Bruno-Marie")
    form.locator('input[name="email"]').fill("bruno.petit@example.org")
    form.locator('input[name="staff"]').check()
    form.locator('input[name="monthly_statement"]').check()
    form.locator('select[name="language"]').select_option("en")
    page.click("#save-member")
    expect(page.locator(".alert-ok")).to_have_text("Membre modifié.")
    expect(page.locator("h1")).to_contain_text("Bruno-Marie Petit")
    expect(page.locator("h1 .tag")).to_have_text("équipe")
    with site.db.read() as s:
        m = s.get_one(Member, bruno)
        assert (m.email, m.staff, m.monthly_statement, m.language) == ("bruno.petit@example.org", True, True, "en")
    page.goto(kiosk.url + "/admin/members")
    expect(page.locator("#members tr", has_text="Bruno-Marie Petit").locator(".tag")).to_have_text("équipe")
    page.goto(f"{kiosk.url}/admin/members/{bruno}")

    # From the carnet to the unlimited plan, for a month from today.
    until = months_end(today, 1)
    change = page.locator("form.change-plan")
    expect(change).to_have_count(1)
    change.locator('select[name="plan"]').select_option("Illimité")
    change.locator('input[name="valid_until"]').fill(f"{until}")
    change.locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule changée à partir d'aujourd'hui.")
    expect(page.locator("#plans li")).to_have_count(2)
    expect(page.locator("#plans li").first).to_contain_text(f"Illimité (Illimité) {today} → {until} · en cours")
    expect(page.locator("#plans li").nth(1)).to_contain_text("Carnet 10")
    expect(page.locator("#plans li").nth(1)).to_contain_text("terminée")

    # Renewed in one click: the next month, from the day after.
    page.locator("#plans button.renew").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule renouvelée.")
    following = until + dt.timedelta(days=1)
    expect(page.locator("#plans li").first).to_contain_text(f"{following} → {months_end(following, 1)} · à venir")
    expect(page.locator("#plans button.renew")).to_have_count(1)  # only the last one renews

    # A plan with its dates the wrong way round is refused next to its form.
    subscribe = page.locator("#subscribe")
    subscribe.locator('select[name="plan"]').select_option("Carnet 10")
    subscribe.locator('input[name="valid_from"]').fill("2027-03-10")
    subscribe.locator('input[name="valid_until"]').fill("2027-03-01")
    subscribe.locator("button").click()
    expect(page.locator("#subscribe-error")).to_have_text("la date de fin précède la date de début")
    expect(subscribe.locator('input[name="valid_from"]')).to_have_value("2027-03-10")
    subscribe.locator('input[name="valid_until"]').fill("")
    subscribe.locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule donnée.")
    with site.db.read() as s:
        assert len(s.scalars(select(Subscription).where(Subscription.member_id == bruno)).all()) == 4

    # Given by mistake: its dates corrected wrong are refused, then it is taken back.
    given = page.locator("#plans li", has_text="à venir").filter(has_text="Carnet 10")
    given.locator("summary").click()
    given.locator('input[name="valid_from"]').fill("2027-03-10")
    given.locator('input[name="valid_until"]').fill("2027-03-01")
    given.get_by_role("button", name="Corriger les dates").click()
    expect(page.locator("#plans-error")).to_have_text("la date de fin précède la date de début")
    given = page.locator("#plans li", has_text="à venir").filter(has_text="Carnet 10")
    given.locator("summary").click()
    given.get_by_role("button", name="Retirer cette formule donnée par erreur").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule retirée.")
    with site.db.read() as s:
        assert len(s.scalars(select(Subscription).where(Subscription.member_id == bruno)).all()) == 3

    # A lost badge: another member's is refused; a new one replaces it; then the old one is found.
    reissue = page.locator("form.reissue")
    reissue.locator('input[name="new_uid"]').fill(ALICE)
    reissue.locator("button").click()
    expect(page.locator("#badge-error")).to_have_text(
        f"le badge {ALICE} est déjà attribué à un autre membre : désactivez-le d'abord"
    )
    reissue = page.locator("form.reissue")
    reissue.locator('input[name="new_uid"]').fill("2c:2c:2c:2c")
    reissue.locator('input[name="reason"]').fill("perdu au marché")
    reissue.locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Badge remplacé : l'ancien n'ouvre plus.")
    expect(page.locator("#badges")).to_contain_text(f"{BRUNO} · désactivé")
    expect(page.locator("#badges")).to_contain_text(f"{NEW_BADGE} · actif")
    expect(page.locator("#badge-history li").first).to_contain_text(f"{NEW_BADGE} · attribué")
    expect(page.locator("#badge-history li").nth(1)).to_contain_text(f"{BRUNO} · désactivé · perdu au marché")
    page.locator("form.giveback button").click()
    expect(page.locator(".alert-ok")).to_have_text(f"Badge {BRUNO} rendu.")
    expect(page.locator("#badge-history li").first).to_contain_text(f"{BRUNO} · rendu")
    with site.db.read() as s:
        assert set(
            s.scalars(select(Credential.value).where(Credential.member_id == bruno, Credential.status == "active"))
        ) == {BRUNO, NEW_BADGE}

    # Deactivated, and back.
    page.click("text=Désactiver ce membre")
    expect(page.locator("h1 .tag").first).to_have_text("désactivé")
    page.click("#reactivate")
    expect(page.locator(".alert-ok")).to_have_text("Membre réactivé·e.")
    with site.db.read() as s:
        assert s.get_one(Member, bruno).active


def test_renewals_page_renews_in_one_click_and_says_why_it_cannot(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer
) -> None:
    period = a_month_ending_today(site)
    nina = add_nina(site, period)
    page = open_page(WALL)
    log_in(page, kiosk, site, "/admin/")
    page.click("nav >> text=À renouveler")
    expect(page.locator("h1")).to_have_text("À renouveler ce mois-ci")
    row = page.locator("#renewals tbody tr", has_text="Nina Lefèvre")
    expect(row).to_contain_text(f"{period[1]:%d/%m/%Y}")
    # The member is deactivated in another tab meanwhile: the renewal is refused, and says why.
    with site.db.write() as s:
        admin.deactivate_member(s, nina)
    row.locator("button").click()
    expect(page.locator(".alert-error")).to_have_text(
        "Nina Lefèvre est désactivé·e : réactivez ce membre avant de renouveler"
    )
    with site.db.write() as s:
        admin.reactivate_member(s, nina)
    page.goto(kiosk.url + "/admin/renewals")
    page.locator("#renewals tbody tr", has_text="Nina Lefèvre").locator("button").click()
    following = period[1] + dt.timedelta(days=1)
    expect(page.locator(".alert-ok")).to_have_text(
        f"« Illimité » de Nina Lefèvre renouvelée jusqu'au {months_end(following, 1):%d/%m/%Y}."
    )
    expect(page.locator("#renewals")).not_to_contain_text("Nina")
    # The list of the month the renewal ends in has it.
    page.locator('#choose-month input[name="month"]').fill(f"{months_end(following, 1):%Y-%m}")
    page.click("#choose-month button")
    expect(page.locator("h1")).to_have_text(f"À renouveler en {months_end(following, 1):%m/%Y}")
    expect(page.locator("#renewals")).to_contain_text("Nina Lefèvre")


def test_a_networked_site_shows_renewals_but_leaves_them_to_the_hub(
    page: Page, site: Site, start_kiosk: Callable[..., KioskServer]
) -> None:
    add_nina(site, a_month_ending_today(site))
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-kiosk"}
    kiosk = start_kiosk(config=site.reconfigure({"hub": hub}))
    log_in(page, kiosk, site, "/admin/renewals")
    expect(page.locator("#renewals")).to_contain_text("Nina Lefèvre")
    expect(page.locator("#renewals button")).to_have_count(0)
    page.goto(f"{kiosk.url}/admin/members/{member_id(site, 'Nina')}")
    expect(page.locator("#edit-member")).to_have_count(0)
    expect(page.locator("form.reissue")).to_have_count(0)
    token = page.locator('form[action="/admin/logout"] input[name="csrf_token"]').get_attribute("value") or ""
    with site.db.read() as s:
        sub = s.scalars(select(Subscription.id).join(Member).where(Member.first_name == "Nina")).one()
    refused = page.request.post(f"{kiosk.url}/admin/subscriptions/{sub}/renew", form={"csrf_token": token})
    assert "relié au hub" in refused.text()
    with site.db.read() as s:
        assert len(s.scalars(select(Subscription).join(Member).where(Member.first_name == "Nina")).all()) == 1


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_the_new_pages_fit_every_screen_and_pass_the_audit(sized_page: Page, site: Site, kiosk: KioskServer) -> None:
    page = sized_page
    nina = add_nina(site, a_month_ending_today(site))
    with site.db.write() as s:
        admin.reissue_badge(s, NINA_BADGE, "6E6E6E6E", "perdu")
    log_in(page, kiosk, site, "/admin/renewals")
    for lang in ("fr", "en"):
        page.goto(kiosk.url + "/admin/renewals")
        page.click(f"nav.languages a[lang='{lang}']")
        expect(page.locator("#renewals")).to_contain_text("Nina Lefèvre")
        what = f"renewals ({lang}) at {page.viewport_size}"
        assert_no_horizontal_scroll(page, what)
        assert_accessible(page, what)
        page.goto(f"{kiosk.url}/admin/members/{nina}")
        page.locator('#edit-member input[name="email"]').fill("alice@example.org")
        page.click("#save-member")
        expect(page.locator("#edit-error")).to_be_visible()
        expect(page.locator("#badge-history li")).to_have_count(3)
        what = f"member with an error ({lang}) at {page.viewport_size}"
        assert_no_horizontal_scroll(page, what)
        assert_accessible(page, what)


# ---------------------------------------------------------------------------------------------------- at the door


def entries(site: Site, uid: str) -> list[dict[str, Any]]:
    with site.db.read() as s:
        rows = s.scalars(select(Event).where(Event.kind == "entry").order_by(Event.seq)).all()
        return [e.data for e in rows if e.data.get("uid") == uid]


def start_door_tomorrow(site: Site, log: Path) -> subprocess.Popen[bytes]:
    """`halfday door` as its unit runs it, but living one day ahead (Debian's libfaketime): the door decides on
    tomorrow's date while the kiosk and the test stay today."""
    # libfaketime preloaded into the door itself: the `faketime` command runs the door as its own child and does not
    # pass on the SIGTERM that stops it, which left the door running after the test.
    env = {
        **os.environ,
        "LD_PRELOAD": LIBFAKETIME,
        "FAKETIME": "+1d",
        "HALFDAY_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "DONT_FAKE_MONOTONIC": "1",
    }
    command = [sys.executable, "-m", "halfday.cli", "door", "--config", str(site.config_path)]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def tap_until_recorded(card: VirtualCard, site: Site, uid: str, timeout: float = 30.0) -> None:
    """Tap until the door records the badge: the door process takes a few seconds to start its reader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        card.present(uid, 0.3)
        if wait_until(lambda: bool(entries(site, uid)), TAP_GAP_S * 2):
            return
    raise AssertionError(f"the door never recorded {uid}")


def test_a_month_renewed_from_the_due_list_keeps_the_member_in_the_next_day(
    tmp_path: Path, open_page: Callable[..., Page], site: Site, kiosk: KioskServer
) -> None:
    period = a_month_ending_today(site)
    add_nina(site, period)
    tomorrow = period[1] + dt.timedelta(days=1)
    card = VirtualCard()
    site.reconfigure({"hardware": {"reader": {"path": card.path}}})
    door = start_door_tomorrow(site, tmp_path / "door.log")
    try:
        # Tomorrow, before the renewal: her month is over.
        tap_until_recorded(card, site, NINA_BADGE)  # the first taps may come before the door reads
        refused = entries(site, NINA_BADGE)[-1]
        assert (refused["granted"], refused["reason"]) == (False, "expired")

        page = open_page(WALL)
        log_in(page, kiosk, site, "/admin/renewals")
        page.locator("#renewals tbody tr", has_text="Nina Lefèvre").locator("button").click()
        expect(page.locator(".alert-ok")).to_contain_text("« Illimité » de Nina Lefèvre renouvelée")

        # The door sees the change by itself; she comes in, and the half-day counted is tomorrow's.
        time.sleep(1.0)
        card.present(NINA_BADGE, 0.3)
        assert wait_until(lambda: len(entries(site, NINA_BADGE)) >= 2, 10)
        admitted = entries(site, NINA_BADGE)[-1]
        assert (admitted["granted"], admitted["reason"]) == (True, "granted")
        assert admitted["use"]["date"] == f"{tomorrow}"
    finally:
        door.send_signal(signal.SIGTERM)
        try:
            door.wait(10)
        finally:
            card.close()


def test_a_reissued_badge_opens_and_the_old_one_is_refused(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    bruno = member_id(site, "Bruno")
    door.tap(BRUNO)
    assert wait_until(lambda: bool(entries(site, BRUNO)), 5) and entries(site, BRUNO)[-1]["granted"]
    page = open_page(WALL)
    log_in(page, kiosk, site, f"/admin/members/{bruno}")
    reissue = page.locator("form.reissue")
    reissue.locator('input[name="new_uid"]').fill(NEW_BADGE)
    reissue.locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("Badge remplacé : l'ancien n'ouvre plus.")
    # The door reads the change at its next poll of the state version.
    assert wait_until(lambda: not door.daemon.cache.state.credentials[BRUNO].active, 10)
    pulses = door.relay_states().count(True)
    door.tap(BRUNO)
    assert wait_until(lambda: len(entries(site, BRUNO)) >= 2, 5)
    assert (entries(site, BRUNO)[-1]["granted"], entries(site, BRUNO)[-1]["reason"]) == (False, "revoked")
    door.tap(NEW_BADGE)
    assert wait_until(lambda: bool(entries(site, NEW_BADGE)), 5)
    assert entries(site, NEW_BADGE)[-1]["granted"] and entries(site, NEW_BADGE)[-1]["first_name"] == "Bruno"
    assert wait_until(lambda: door.relay_states().count(True) == pulses + 1, 5)  # one more pulse: the new badge's
