"""The wall display recovers by itself: after a bus outage (paho reconnects, the figures are read again from the
database) and after a kiosk restart (the browser's EventSource reconnects and gets a fresh panel). Taps during
either outage are decided and recorded by the door alone, and show up once the display is back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import urllib.request
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from access.config import load_config
from common.words import Alarm
from halfday.sample import ALICE, BRUNO
from kiosk.app import create_app
from kiosk.serve import KioskServer, check_schema
from sync import localbus as bus
from tests.kiosk.test_screenshots import fits
from tests.support.axe import SIZES, assert_accessible
from tests.support.broker import Mosquitto
from tests.support.door import DoorRig
from tests.support.kiosk import TEST_TUNING, WALL, BusProbe, record_taps
from tests.support.site import Site
from tests.support.wait import wait_until

# No periodic refresh during these tests: only the reconnection can bring the new figures.
NO_REFRESH = dataclasses.replace(TEST_TUNING, display_refresh_s=600.0)


def test_display_catches_up_after_the_bus_restarts(
    open_page: Callable[..., Page], start_kiosk: Callable[..., KioskServer], broker: Mosquitto, door: DoorRig
) -> None:
    kiosk = start_kiosk(tuning=NO_REFRESH)
    wall = open_page(WALL)
    wall.goto(kiosk.url + "/display/")
    expect(wall.locator("#door-state")).to_contain_text("Verrouillée")
    broker.kill()
    expect(wall.locator("#door-state")).to_have_text("Liaison avec la porte interrompue", timeout=20_000)
    door.tap(BRUNO)  # the door decides and records without the bus
    assert wait_until(lambda: door.daemon.taps_recorded == 1)
    # No assertion on the count while the bus is down: the display re-reads the database on every change of the
    # link's state (each failed reconnect is one), so it may already show the tap. The link must come back.
    broker.start()
    expect(wall.locator("#present")).to_have_text("1", timeout=20_000)
    expect(wall.locator("#door-state")).to_contain_text("Verrouillée", timeout=20_000)


def test_display_catches_up_after_the_kiosk_restarts(
    open_page: Callable[..., Page], start_kiosk: Callable[..., KioskServer], door: DoorRig
) -> None:
    kiosk = start_kiosk(tuning=NO_REFRESH)
    wall = open_page(WALL)
    wall.goto(kiosk.url + "/display/")
    expect(wall.locator("#present")).to_have_text("0")
    port = kiosk.port
    kiosk.stop()
    expect(wall.locator("#live")).to_have_text("reconnexion…")
    door.tap(ALICE)
    assert wait_until(lambda: door.daemon.taps_recorded == 1)
    start_kiosk(tuning=NO_REFRESH, port=port)
    expect(wall.locator("#present")).to_have_text("1", timeout=20_000)
    expect(wall.locator("#live")).to_have_text("en direct")


def test_names_are_hidden_when_show_names_is_off(site: Site) -> None:
    site.reconfigure({"kiosk": {"show_names": False}})
    config = load_config(site.config_path)
    app: Flask = create_app(config, connect_bus=False, tuning=TEST_TUNING)
    try:
        record_taps(site, [ALICE, BRUNO])
        page = app.test_client().get("/display/").text
        assert 'id="present">2<' in page
        assert "Alice" not in page and "Bruno" not in page and "Dernières arrivées" not in page
    finally:
        app.extensions["halfday.kiosk"].close()


def test_a_networked_site_shows_the_link_to_the_hub(
    site: Site, start_kiosk: Callable[..., KioskServer], probe: BusProbe
) -> None:
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-kiosk"}
    kiosk = start_kiosk(config=site.reconfigure({"hub": hub}))

    def panel() -> str:
        with urllib.request.urlopen(kiosk.url + "/display/panel", timeout=5) as response:
            return str(response.read().decode())

    assert "Synchronisation : pas de nouvelles" in panel()
    last_contact = dt.datetime(2026, 11, 23, 8, 5, tzinfo=dt.UTC)
    probe.publish(bus.SyncStatus(online=False, last_contact=last_contact, backlog=12), retain=True)
    assert wait_until(lambda: "Hub injoignable" in panel())
    text = panel()
    assert "dernier contact 23/11 09:05" in text and "12 événement(s) en attente d'envoi" in text


def test_alarms_and_reader_trouble_are_on_the_display(kiosk: KioskServer, probe: BusProbe) -> None:
    def panel() -> str:
        with urllib.request.urlopen(kiosk.url + "/display/panel", timeout=5) as response:
            return str(response.read().decode())

    assert "Porte hors ligne" in panel()  # no retained state yet
    reader = bus.ReaderHealth("error", "lecteur introuvable sur usb", 3)
    state = bus.DoorState(online=True, locked=False, open=True, alarms=(Alarm.FORCED,), reader=reader)
    probe.publish(state, retain=True)
    assert wait_until(lambda: "Alarme : porte forcée" in panel())
    text = panel()
    assert "Déverrouillée · ouverte" in text and "Lecteur de badges en panne" in text
    assert "lecteur introuvable sur usb" in text
    # A damaged ledger: the door says so, and what the manager does about it.
    probe.publish(bus.DoorState(online=True, locked=True, open=False, alarms=(Alarm.DATABASE,)), retain=True)
    assert wait_until(lambda: "Alarme : base de données illisible" in panel())
    assert "halfday restore" in panel()


def test_a_damaged_ledger_still_shows_the_doors_alarm_on_the_wall(
    site: Site, start_kiosk: Callable[..., KioskServer], probe: BusProbe
) -> None:
    """The kiosk on a damaged ledger once failed at start, and restarted in a loop: the alarm showed nowhere."""
    site.db.dispose()
    ledger = site.config.database_url.removeprefix("sqlite:///")
    with open(ledger, "r+b") as f:
        f.write(b"\0" * 100)  # the header lost: not even a SQLite file any more
    check_schema(site.config)  # the kiosk's start does not refuse it
    kiosk = start_kiosk()
    probe.publish(bus.DoorState(online=True, locked=True, open=False, alarms=(Alarm.DATABASE,)), retain=True)

    def panel() -> str:
        with urllib.request.urlopen(kiosk.url + "/display/panel", timeout=5) as response:
            return str(response.read().decode())

    assert wait_until(lambda: "Alarme : base de données illisible" in panel())
    assert "Chiffres indisponibles" in panel()


@pytest.mark.parametrize("size", ["tv", "laptop"])
def test_the_wall_tells_the_members_lists_age_and_a_list_that_failed(
    size: str,
    site: Site,
    start_kiosk: Callable[..., KioskServer],
    probe: BusProbe,
    open_page: Callable[..., Page],
    door: DoorRig,
) -> None:
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-kiosk"}
    kiosk = start_kiosk(config=site.reconfigure({"hub": hub}))
    record_taps(site, [ALICE, BRUNO])
    width, height = SIZES[size]
    wall = open_page({"width": width, "height": height})
    wall.goto(kiosk.url + "/display/")
    expect(wall.locator("#door-state")).to_contain_text("Verrouillée")
    now = dt.datetime.now(dt.UTC)
    issued = now - dt.timedelta(minutes=3)
    probe.publish(bus.SyncStatus(True, now, 0, 7, roster_issued_at=issued, roster_stale=False), retain=True)
    expect(wall.locator("#roster-age")).to_have_text("Liste des membres reçue il y a 3 minutes")
    expect(wall.locator("#roster-failure")).to_have_count(0)
    assert fits(wall), f"the wall display of a networked site scrolls at {width}x{height}"

    # The worst the hub link can show at once: a list that failed with the longest reason, and an old one.
    why = ("liste mal formée (roster.members[12].email doit être une chaîne d'au plus 254 caractères) " * 3)[:200]
    failed = bus.SyncStatus(
        True,
        now,
        12,
        7,
        roster_issued_at=now - dt.timedelta(days=2),
        roster_failed_at=now - dt.timedelta(minutes=5),
        roster_failure=why,
        roster_stale=True,
    )
    probe.publish(failed, retain=True)
    expect(wall.locator("#roster-failure")).to_have_text(
        "La dernière liste des membres envoyée par le hub n'a pas pu être appliquée (il y a 5 minutes) : " + why
    )
    expect(wall.locator("#roster-stale")).to_contain_text("Liste des membres trop ancienne (reçue il y a 2 jours)")
    expect(wall.locator("#roster-age")).to_have_count(0)  # the warning says the age already
    assert fits(wall), f"the wall display scrolls at {width}x{height}"
    assert_accessible(wall, f"wall display with a failed members list, {width}x{height}")

    # A list that applies again: the warnings go.
    probe.publish(bus.SyncStatus(True, now, 0, 8, roster_issued_at=now), retain=True)
    expect(wall.locator("#roster-age")).to_contain_text("Liste des membres reçue")
    expect(wall.locator("#roster-failure")).to_have_count(0)
    expect(wall.locator("#roster-stale")).to_have_count(0)
