"""The wall display's alarms: each raised alarm in a plain sentence with since when, whoever raised it (the door on the
bus, the door's or the sync agent's events in the ledger), gone once cleared; in French and English, audited by axe
in Chromium at the four sizes, without sideways scroll."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from access.alarms import record_alarm
from access.store import Stamp
from common.words import Alarm
from kiosk.serve import KioskServer
from sync import localbus as bus
from tests.kiosk.test_account import form_token
from tests.support.axe import SIZES, assert_accessible, assert_no_horizontal_scroll
from tests.support.kiosk import BusProbe
from tests.support.site import MANAGER_PASSWORD, Site


def raise_alarm(site: Site, alarm: Alarm, active: bool, at: dt.datetime, device: str = "door-1") -> None:
    with site.db.write() as session:
        stamp = Stamp(at, time.monotonic_ns(), "boot", True)
        record_alarm(session, device, alarm, active, stamp, None, site.config.site.name, site.config.site.tz)


def panel(app: Flask) -> str:
    """The panel's words, without its tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", app.test_client().get("/display/panel").text))


def test_raised_alarms_show_with_since_when_and_cleared_ones_go(site: Site, make_app: Callable[[Site], Flask]) -> None:
    app = make_app(site)
    assert "Alarmes" not in panel(app)
    tz = site.config.site.tz
    earlier = dt.datetime.now(tz).replace(hour=14, minute=5, second=0, microsecond=0) - dt.timedelta(days=1)
    raise_alarm(site, Alarm.DISK, True, earlier.astimezone(dt.UTC))
    raise_alarm(site, Alarm.BACKUP, True, earlier.astimezone(dt.UTC))
    raise_alarm(site, Alarm.BACKUP, False, earlier.astimezone(dt.UTC) + dt.timedelta(minutes=3))
    # The sync agent's backlog alarm, raised just now under the same device: it shows with today's time.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    raise_alarm(site, Alarm.BACKLOG, True, now)
    text = panel(app)
    assert f"Alarme : disque presque plein (depuis le {earlier:%d/%m} à 14 h 05)" in text
    local = now.astimezone(tz)
    assert (
        f"Alarme : passages non transmis au hub depuis trop longtemps (depuis {local.hour} h {local.minute:02d})"
        in (text)
    )
    assert "sauvegarde" not in text  # raised and cleared: nothing left to do
    raise_alarm(site, Alarm.DISK, False, now)
    assert "disque presque plein" not in panel(app)


def test_the_doors_own_alarm_from_the_bus_shows_at_once(kiosk: KioskServer, probe: BusProbe, page: Page) -> None:
    probe.publish(bus.DoorState(online=True, locked=True, open=True, alarms=(Alarm.FORCED,)), retain=True)
    page.goto(kiosk.url + "/display/")
    expect(page.locator("#alarms [data-alarm='forced']")).to_have_text("Alarme : porte forcée")


@pytest.mark.parametrize("name", list(SIZES))
def test_the_alarms_pass_the_audit_in_french_and_english(
    name: str, site: Site, kiosk: KioskServer, probe: BusProbe, open_page: Callable[..., Page]
) -> None:
    probe.publish(bus.DoorState(online=True, locked=True, open=False, alarms=(Alarm.READER,)), retain=True)
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    for alarm in (Alarm.READER, Alarm.CLOCK, Alarm.ROSTER, Alarm.BACKLOG, Alarm.DISK, Alarm.BACKUP):
        raise_alarm(site, alarm, True, at)
    width, height = SIZES[name]
    wall = open_page({"width": width, "height": height})
    for lang, first in (("fr", "Alarme : lecteur de badges absent"), ("en", "Alarm: badge reader gone")):
        wall.goto(f"{kiosk.url}/lang/{lang}")
        wall.goto(kiosk.url + "/display/")
        expect(wall.locator("html")).to_have_attribute("lang", lang)
        expect(wall.locator("#alarms li")).to_have_count(6)
        expect(wall.locator("#alarms [data-alarm='reader']")).to_contain_text(first)
        what = f"wall display with six alarms ({lang}) at {width}x{height}"
        assert_no_horizontal_scroll(wall, what)
        assert_accessible(wall, what)


def test_the_admin_dashboard_lists_the_raised_alarms_too(site: Site, make_app: Callable[[Site], Flask]) -> None:
    site.set_password()
    app = make_app(site)
    client = app.test_client()
    raise_alarm(site, Alarm.BACKUP, True, dt.datetime.now(dt.UTC))
    token = form_token(client, "/admin/login")
    assert client.post("/admin/login", data={"csrf_token": token, "password": MANAGER_PASSWORD}).status_code == 302
    text = html.unescape(re.sub(r"<[^>]+>", "", client.get("/admin/").text))
    assert "Alarme : sauvegarde en échec ou trop ancienne (depuis" in text
