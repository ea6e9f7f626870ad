"""The holiday calendar in the admin, in Chromium: the manager closes the site for a day or a range with a reason,
reopens it, and names the staff who still come in; mistakes are said in French and change nothing; the page passes
the WCAG 2.1 AA audit at the four sizes, in French and English. And, on the real door daemon with taps over nfcpy:
a day made a closure from the page while the door runs refuses a member and opens for staff."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access import admin
from access.models import Balance, Closure, Event, Member, Subscription, Use
from access.store import state_version
from common.words import EventKind
from halfday.sample import ALICE, BRUNO
from kiosk.serve import KioskServer
from tests.kiosk.test_accessibility import check, switch_language
from tests.support.axe import SIZES
from tests.support.door import DoorRig
from tests.support.kiosk import TOUCH
from tests.support.site import MANAGER_PASSWORD, Site
from tests.support.wait import wait_until

DAY = dt.timedelta(days=1)


def today(site: Site) -> dt.date:
    return dt.datetime.now(site.config.site.tz).date()


def log_in(page: Page, kiosk: KioskServer, site: Site) -> None:
    site.set_password()
    page.goto(kiosk.url + "/admin/")
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    expect(page.locator("#unlock")).to_be_visible()
    page.click(".admin-nav >> text=Fermetures")
    expect(page.locator("main h1")).to_have_text("Fermetures")


def close_days(page: Page, first: dt.date, last: dt.date | None = None, label: str = "") -> None:
    form = page.locator("#add-closure")
    form.locator('input[name="first"]').fill(first.isoformat())
    form.locator('input[name="last"]').fill(last.isoformat() if last else "")
    form.locator('input[name="label"]').fill(label)
    form.locator("button").click()


def closed_dates(site: Site) -> set[dt.date]:
    with site.db.read() as s:
        return set(s.scalars(select(Closure.date)))


def version(site: Site) -> int:
    with site.db.read() as s:
        return state_version(s)


def test_the_manager_keeps_the_calendar_and_the_staff(page: Page, site: Site, kiosk: KioskServer) -> None:
    log_in(page, kiosk, site)
    now = today(site)
    expect(page.locator("#coming tbody tr")).to_have_text(["Aucune fermeture."])
    before = version(site)

    christmas = now + 20 * DAY
    close_days(page, christmas, christmas + 2 * DAY, "Noël")
    expect(page.locator(".alert-ok")).to_have_text("Fermeture enregistrée : 3 jours.")
    row = page.locator("#coming tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("3 jours")
    expect(row.locator("td").nth(2)).to_have_text("Noël")
    expect(row.locator("td").first).to_contain_text("du ")
    assert closed_dates(site) == {christmas, christmas + DAY, christmas + 2 * DAY}
    assert version(site) > before  # the door reloads

    close_days(page, now, label="Inventaire")
    expect(page.locator("#closed-today")).to_have_text("L'espace est fermé aujourd'hui.")
    expect(page.locator("#coming tbody tr")).to_have_count(2)
    close_days(page, now - 30 * DAY, label="Dégât des eaux")
    expect(page.locator("#past tbody tr")).to_have_count(1)
    expect(page.locator("#past tbody tr td").nth(2)).to_have_text("Dégât des eaux")

    # Mistakes: a French sentence, the form kept, nothing written.
    written = closed_dates(site)
    close_days(page, christmas + 10 * DAY, christmas + 5 * DAY, "À l'envers")
    expect(page.locator(".alert-error")).to_have_text("la date de fin précède la date de début")
    expect(page.locator('#add-closure input[name="label"]')).to_have_value("À l'envers")
    close_days(page, christmas, christmas + 2 * DAY)
    expect(page.locator(".alert-error")).to_have_text("ces jours sont déjà fermés")
    close_days(page, now + 100 * DAY, now + 300 * DAY)
    expect(page.locator(".alert-error")).to_contain_text("92 jours au plus")
    assert closed_dates(site) == written

    # The reason is edited by entering the days again with another.
    close_days(page, christmas, christmas + 2 * DAY, "Fêtes de fin d'année")
    expect(page.locator(".alert-ok")).to_have_text("Fermeture enregistrée : 3 jours.")
    expect(page.locator("#coming tbody tr", has_text="Fêtes de fin d'année")).to_have_count(1)
    expect(page.locator("#coming tbody tr", has_text="Noël")).to_have_count(0)

    # Reopen one run: its days go, the others stay.
    page.locator("#coming tbody tr", has_text="Fêtes").locator("button").click()
    expect(page.locator(".alert-ok")).to_have_text("3 jours rouverts.")
    assert closed_dates(site) == {now, now - 30 * DAY}

    # The staff: chosen among active members, removed again.
    expect(page.locator("#staff-list li")).to_have_text(["Personne dans l'équipe."])
    page.locator('#add-staff select[name="member"]').select_option(label="Bruno Petit")
    page.locator("#add-staff button").click()
    expect(page.locator(".alert-ok")).to_have_text(
        "Bruno Petit fait partie de l'équipe : entre les jours de fermeture."
    )
    expect(page.locator("#staff-list li")).to_have_count(1)
    expect(page.locator("#staff-list li a")).to_have_text("Bruno Petit")
    expect(page.locator('#add-staff select[name="member"] option', has_text="Bruno Petit")).to_have_count(0)
    with site.db.read() as s:
        assert s.scalars(select(Member.first_name).where(Member.staff.is_(True))).all() == ["Bruno"]
    page.locator("#staff-list li button").click()
    expect(page.locator(".alert-ok")).to_have_text("Bruno Petit ne fait plus partie de l'équipe.")
    with site.db.read() as s:
        assert s.scalars(select(Member.id).where(Member.staff.is_(True))).all() == []


def test_without_login_or_token_nothing_changes(page: Page, site: Site, kiosk: KioskServer) -> None:
    site.set_password()
    page.goto(kiosk.url + "/admin/closures")
    assert "/admin/login" in page.url
    token = page.locator('input[name="csrf_token"]').get_attribute("value") or ""
    day = today(site).isoformat()
    assert page.request.post(f"{kiosk.url}/admin/closures", form={"csrf_token": token, "first": day}).status == 401
    with site.db.read() as s:
        alice = s.scalars(select(Member.id).where(Member.first_name == "Alice")).one()
    assert page.request.post(f"{kiosk.url}/admin/staff", form={"csrf_token": token, "member": alice}).status == 401
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    assert page.request.post(f"{kiosk.url}/admin/closures", form={"first": day}).status == 400
    assert page.request.post(f"{kiosk.url}/admin/staff", form={"member": alice}).status == 400
    assert closed_dates(site) == set()
    with site.db.read() as s:
        assert s.scalars(select(Member.id).where(Member.staff.is_(True))).all() == []


def test_a_networked_site_keeps_its_calendar_and_shows_its_staff_read_only(
    page: Page, site: Site, start_kiosk: Callable[..., KioskServer]
) -> None:
    with site.db.write() as s:
        alice = s.scalars(select(Member).where(Member.first_name == "Alice")).one()
        alice.staff = True
        bruno_id = s.scalars(select(Member.id).where(Member.first_name == "Bruno")).one()
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-kiosk"}
    kiosk = start_kiosk(config=site.reconfigure({"hub": hub}))
    log_in(page, kiosk, site)
    expect(page.locator("#staff-list li")).to_have_text(["Alice Martin"])
    expect(page.locator("#networked-notice")).to_be_visible()
    expect(page.locator("#add-staff")).to_have_count(0)
    token = page.locator('form[action="/admin/logout"] input[name="csrf_token"]').get_attribute("value") or ""
    refused = page.request.post(f"{kiosk.url}/admin/staff", form={"csrf_token": token, "member": bruno_id})
    assert "relié au hub" in refused.text()
    with site.db.read() as s:
        assert s.scalars(select(Member.first_name).where(Member.staff.is_(True))).all() == ["Alice"]
    close_days(page, today(site) + 5 * DAY, label="Pont")
    expect(page.locator(".alert-ok")).to_have_text("Fermeture enregistrée : 1 jour.")


def test_a_members_page_shows_the_days_of_their_plan_and_the_end_closures_moved(
    page: Page, site: Site, kiosk: KioskServer
) -> None:
    now = today(site)
    with site.db.write() as s:
        admin.add_plan(s, admin.PlanSpec("Semaine", "unlimited", weekdays="1-5"))
        spec = admin.MemberSpec("Wanda", "Leroy", "wanda@example.org", "Semaine", None, str(now), str(now + 9 * DAY))
        member_id = admin.add_member(s, spec, site.config.site.device).id
    log_in(page, kiosk, site)
    close_days(page, now + 2 * DAY, now + 3 * DAY, "Pont")
    page.goto(f"{kiosk.url}/admin/members/{member_id}")
    line = page.locator("li", has_text="Semaine")
    expect(line).to_contain_text(f"{now} → {now + 9 * DAY}")
    expect(line.locator(".extended")).to_have_text(f"(prolongée jusqu'au {now + 11 * DAY} par les fermetures)")
    expect(line).to_contain_text("lun.–ven.")
    switch_language(page, "en")
    expect(line.locator(".extended")).to_have_text(f"(extended to {now + 11 * DAY} by closures)")
    expect(line).to_contain_text("Mon–Fri")


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_the_calendar_page_is_accessible_at_every_size(sized_page: Page, site: Site, kiosk: KioskServer) -> None:
    now = today(site)
    with site.db.write() as s:
        s.add_all(Closure(date=now + i * DAY, label="Fermeture estivale du lieu pour travaux") for i in range(3, 17))
        s.add_all([Closure(date=now, label="Inventaire"), Closure(date=now - 40 * DAY, label="Grève")])
        for member in s.scalars(select(Member).where(Member.first_name.in_(("Alice", "Gaëlle")))):
            member.staff = True
    page = sized_page
    log_in(page, kiosk, site)
    for lang in ("fr", "en"):
        switch_language(page, lang)
        expect(page.locator("#coming tbody tr")).to_have_count(2)
        expect(page.locator("#staff-list li")).to_have_count(2)
        check(page, f"admin-closures-full-{lang}", lang)
    expect(page.locator("main h1")).to_have_text("Closures")
    expect(page.locator("#closed-today")).to_have_text("The space is closed today.")
    close_days(page, now + 3 * DAY)
    expect(page.locator(".alert-error")).to_be_visible()
    check(page, "admin-closures-error-en", "en")


def test_a_closed_day_refuses_a_member_and_opens_for_staff(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer, door: DoorRig
) -> None:
    """The acceptance: today made a closure from the admin page while the door runs, taps over nfcpy."""
    with site.db.read() as s:
        bruno = s.scalars(select(Member).where(Member.first_name == "Bruno")).one()
        carnet = s.scalars(select(Balance).join(Subscription).where(Subscription.member_id == bruno.id)).one()
        bruno_id, bruno_balance = bruno.id, carnet.amount
    screen = open_page(TOUCH)
    screen.goto(kiosk.url)
    assert wait_until(lambda: kiosk.kiosk.live.listeners >= 1)
    admin = open_page({"width": 1366, "height": 768})
    log_in(admin, kiosk, site)
    admin.locator('#add-staff select[name="member"]').select_option(label="Bruno Petit")
    admin.locator("#add-staff button").click()
    expect(admin.locator("#staff-list li a")).to_have_text("Bruno Petit")
    close_days(admin, today(site), label="Inventaire")
    expect(admin.locator("#closed-today")).to_be_visible()
    assert wait_until(lambda: today(site) in door.daemon.cache.state.closures, timeout=5), "the door did not reload"

    overlay = screen.locator("#tap")
    door.tap(ALICE)
    expect(overlay).to_have_class(re.compile("tap-refused"))
    expect(overlay.locator(".tap-message")).to_have_text(
        "Alice, l'espace est fermé aujourd'hui. Revenez un jour d'ouverture."
    )
    entries = door.wait_events(1, EventKind.ENTRY)
    assert (entries[-1].data["granted"], entries[-1].data["reason"]) == (False, "closed")
    assert door.relay_states() == [False]

    door.tap(BRUNO)
    expect(overlay).to_have_class(re.compile("tap-granted"))
    expect(overlay.locator(".tap-message")).to_have_text(
        "Bonjour Bruno ! L'espace est fermé aujourd'hui : entrée de l'équipe, rien n'est compté."
    )
    expect(overlay.locator(".tap-chips li")).to_have_text(["Équipe : jour de fermeture"])
    assert wait_until(lambda: door.relay_states() == [False, True, False], timeout=5)
    entries = door.wait_events(2, EventKind.ENTRY)
    assert (entries[-1].data["granted"], entries[-1].data["reason"], entries[-1].data["use"]) == (True, "staff", None)
    with site.db.read() as s:
        assert s.scalars(select(Use).where(Use.holder_id == bruno_id)).all() == []
        assert s.scalars(select(Balance.amount).where(Balance.subscription_id == carnet.subscription_id)).one() == (
            bruno_balance
        )
        assert s.scalars(select(Event).where(Event.kind == EventKind.ENTRY)).all()[-1].data["holder"] == bruno_id

    # Reopened from the page: the member is let in again, the door follows without a restart.
    admin.locator("#coming tbody tr", has_text="Inventaire").locator("button").click()
    expect(admin.locator(".alert-ok")).to_have_text("1 jour rouvert.")
    assert wait_until(lambda: not door.daemon.cache.state.closures, timeout=5)
    door.tap(ALICE)
    # Let in while the touchscreen waits: her account opens, headed by what the door said.
    expect(screen.locator("main h1")).to_have_text("Votre compte, Alice")
    expect(screen.locator("#door-text")).to_have_class(re.compile("door-ok"))
    assert door.wait_events(3, EventKind.ENTRY)[-1].data["reason"] == "granted"
