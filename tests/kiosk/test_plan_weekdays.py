"""Plans valid on some weekdays at the kiosk: the door's words for a tap on another day, and the manager's plan
form with its boxes for the days (in Chromium, and posted by hand with days that do not exist)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from flask import Flask, session
from playwright.sync_api import Page, expect
from sqlalchemy import select

from access.models import Plan
from access.policy import Reason
from kiosk.serve import KioskServer
from kiosk.words import door_sentence
from tests.support.kiosk import TAP, WALL
from tests.support.site import MANAGER_PASSWORD, Site

REFUSED = dataclasses.replace(TAP, granted=False, reason=Reason.OUTSIDE_WEEKDAYS, charged=False, first_name="Alice")


def said(app: Flask, lang: str) -> str:
    with app.test_request_context("/"):
        session["lang"] = lang
        return door_sentence(REFUSED)


def test_a_tap_on_another_day_says_so_and_what_to_do(app: Flask) -> None:
    assert said(app, "fr") == (
        "Alice, votre formule n'est pas valable ce jour de la semaine. Revenez un jour qu'elle prévoit, ou achetez un "
        "pass à l'écran."
    )
    assert said(app, "en") == (
        "Alice, your plan is not valid on this day of the week. Come back on one of its days, or buy a pass on the "
        "screen."
    )


def log_in_to_plans(page: Page, kiosk: KioskServer, site: Site) -> None:
    site.set_password()
    page.goto(kiosk.url + "/admin/plans")
    page.fill("#password", MANAGER_PASSWORD)
    page.click("#login")
    expect(page.locator("#add-plan")).to_be_visible()


def stored_weekdays(site: Site, name: str) -> str | None:
    with site.db.read() as s:
        return s.scalars(select(Plan.weekdays).where(Plan.name == name)).one()


def test_the_manager_ticks_the_days_of_a_plan(open_page: Callable[..., Page], site: Site, kiosk: KioskServer) -> None:
    page = open_page(WALL)
    log_in_to_plans(page, kiosk, site)
    # The sample's plans admit every day.
    expect(page.locator("#plans tr", has_text="Illimité")).to_contain_text("tous les jours")
    form = page.locator("#add-plan")
    form.locator('input[name="name"]').fill("Semaine")
    form.locator('select[name="kind"]').select_option("carnet")
    for day in "12345":
        form.locator(f'#weekdays input[value="{day}"]').check()
    form.locator("button").click()
    # Refused for another reason: the ticked days are still ticked, Saturday and Sunday still not.
    expect(page.locator(".alert-error")).to_have_text("un carnet a besoin d'un nombre de demi-journées (1 ou plus)")
    for day in "12345":
        expect(page.locator(f'#weekdays input[value="{day}"]')).to_be_checked()
    for day in "67":
        expect(page.locator(f'#weekdays input[value="{day}"]')).not_to_be_checked()
    page.locator('#add-plan input[name="half_days"]').fill("10")
    page.locator("#add-plan button").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule créée : Semaine")
    expect(page.locator("#plans tr", has_text="Semaine")).to_contain_text("lun.–ven.")
    assert stored_weekdays(site, "Semaine") == "12345"

    # No box ticked: every day.
    page.locator('#add-plan input[name="name"]').fill("Toujours")
    page.locator("#add-plan button").click()
    expect(page.locator(".alert-ok")).to_have_text("Formule créée : Toujours")
    expect(page.locator("#plans tr", has_text="Toujours")).to_contain_text("tous les jours")
    assert stored_weekdays(site, "Toujours") is None

    # The same page in English.
    page.goto(kiosk.url + "/lang/en?next=/admin/plans")
    expect(page.locator("#plans tr", has_text="Semaine")).to_contain_text("Mon–Fri")


def test_days_that_do_not_exist_are_refused_and_nothing_is_written(
    open_page: Callable[..., Page], site: Site, kiosk: KioskServer
) -> None:
    page = open_page(WALL)
    log_in_to_plans(page, kiosk, site)
    token = page.locator('#add-plan input[name="csrf_token"]').get_attribute("value") or ""
    refused = page.request.post(
        f"{kiosk.url}/admin/plans",
        form={"csrf_token": token, "name": "Huitième jour", "kind": "unlimited", "weekdays": "8"},
    )
    assert refused.status == 422
    assert "jours « 8 » : attendu des chiffres de 1 (lundi) à 7 (dimanche)" in refused.text()
    with site.db.read() as s:
        assert s.scalars(select(Plan).where(Plan.name == "Huitième jour")).first() is None
