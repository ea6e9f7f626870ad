"""The wall display with rooms and offices: today's board (morning and afternoon, free or booked, the booker's
first name only if the site shows names), the month's count with booked half-days in it, shown apart and
together, and a wall that still fits a television and a laptop without scrolling, its chart's axis in view."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from access import bookings
from access.config import load_config
from access.models import Resource
from access.store import Stamp
from common.words import Slot
from halfday.sample import ALICE, BRUNO
from kiosk.app import create_app
from kiosk.chart import ChartLabels, month_chart
from kiosk.serve import KioskServer
from kiosk.tls import ensure_certificate
from sync import localbus as bus
from tests.kiosk.test_screenshots import fits
from tests.support.axe import SIZES, assert_accessible
from tests.support.door import DoorRig
from tests.support.kiosk import TEST_TUNING, BusProbe, record_taps
from tests.support.site import Site
from tests.support.wait import wait_until

# The worst board the wall draws: as many rooms as it has rows for, with long names and long first names.
ROOMS = [
    ("Grande salle de réunion du premier étage", "meeting_room"),
    ("Salle Jeanne-Barret", "meeting_room"),
    ("Bureau 1", "office"),
    ("Bureau 2 (côté jardin, avec fenêtre)", "office"),
    ("Bureau 3", "office"),
    ("Bureau 4", "office"),
    ("Cabine téléphonique", "phone_box"),
    ("Cabine 2", "phone_box"),
]


def add_resources(site: Site, rooms: list[tuple[str, str]]) -> dict[str, str]:
    """The rooms as the manager creates them; name -> id."""
    ids = {}
    with site.db.write() as s:
        for name, kind in rooms:
            resource = Resource(name=name, kind=kind, capacity=6, feed_secret="f" * 32)
            s.add(resource)
            s.flush()
            ids[name] = resource.id
    return ids


def book(site: Site, resource_id: str, name: str, slots: list[Slot]) -> str:
    """A walk-in's booking of today, paid at the counter, through the booking core as the touchscreen makes it;
    returns its group."""
    config = site.config
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(config.site.tz).date()
    with site.db.write() as s:
        rows = bookings.book(
            s,
            resource_id=resource_id,
            half_days=[(today, slot) for slot in slots],
            name=name,
            origin="kiosk",
            device_id=config.site.device,
            stamp=Stamp(now, 1, "boot", True),
            paid_by="counter",
            today=today,
            site_id=config.site.id,
        )
        return rows[0].group_id


def cancel(site: Site, group_id: str) -> None:
    config = site.config
    now = dt.datetime.now(dt.UTC)
    with site.db.write() as s:
        bookings.cancel(
            s,
            group_id,
            device_id=config.site.device,
            stamp=Stamp(now, 2, "boot", True),
            today=now.astimezone(config.site.tz).date(),
            by_manager=True,
            rule="day_before",
        )


def make_app(site: Site) -> Flask:
    return create_app(load_config(site.config_path), connect_bus=False, tuning=TEST_TUNING)


def test_the_board_shows_todays_bookings_with_first_names_only(site: Site) -> None:
    ids = add_resources(site, ROOMS[:3])
    book(site, ids["Salle Jeanne-Barret"], "Camille Durand-Lefèvre", [Slot.AFTERNOON])
    book(site, ids["Bureau 1"], "Yann Le Goff", [Slot.MORNING, Slot.AFTERNOON])
    # A cancelled booking leaves its slots free.
    cancel(site, book(site, ids["Grande salle de réunion du premier étage"], "Annulé", [Slot.MORNING]))
    app = make_app(site)
    try:
        page = app.test_client().get("/display/panel").text
    finally:
        app.extensions["halfday.kiosk"].close()
    assert 'id="board"' in page
    assert "Camille" in page and "Yann" in page
    assert "Durand" not in page and "Le Goff" not in page and "Annulé" not in page
    board = page[page.index('id="board"') : page.index("</table>")]
    assert board.count('class="booked"') == 3 and board.count('class="free"') == 3


def test_names_stay_off_the_board_when_the_site_hides_them(site: Site) -> None:
    site.reconfigure({"kiosk": {"show_names": False}})
    ids = add_resources(site, ROOMS[:2])
    book(site, ids["Salle Jeanne-Barret"], "Camille Durand", [Slot.MORNING])
    app = make_app(site)
    try:
        page = app.test_client().get("/display/").text
    finally:
        app.extensions["halfday.kiosk"].close()
    assert "Camille" not in page and "Durand" not in page
    board = page[page.index('id="board"') : page.index("</table>")]
    assert board.count("Réservé") == 1 and board.count('class="free"') == 3


def test_a_site_without_rooms_shows_no_board_and_no_split(site: Site) -> None:
    record_taps(site, [ALICE])
    app = make_app(site)
    try:
        page = app.test_client().get("/display/panel").text
    finally:
        app.extensions["halfday.kiosk"].close()
    assert 'id="month-uses">1<' in page
    assert 'id="board"' not in page and 'id="month-split"' not in page


def test_the_months_count_rises_by_the_booked_half_days(
    site: Site, start_kiosk: Callable[..., KioskServer], open_page: Callable[..., Page], door: DoorRig
) -> None:
    """Two members badge in at the real door, then three half-days of rooms are booked: the wall counts five."""
    ids = add_resources(site, ROOMS[:3])
    kiosk = start_kiosk()
    wall = open_page({"width": 1920, "height": 1080})
    wall.goto(kiosk.url + "/display/")
    door.tap(ALICE)
    door.tap(BRUNO)
    assert wait_until(lambda: door.daemon.taps_recorded == 2)
    expect(wall.locator("#month-uses")).to_have_text("2")
    expect(wall.locator("#present")).to_have_text("2")
    book(site, ids["Salle Jeanne-Barret"], "Camille", [Slot.MORNING, Slot.AFTERNOON])
    book(site, ids["Bureau 1"], "Yann", [Slot.AFTERNOON])
    # The panel's periodic refresh brings the bookings: three half-days more, shown apart and together.
    expect(wall.locator("#month-uses")).to_have_text("5", timeout=15_000)
    split = wall.locator("#month-split")
    expect(split.locator("[data-kind=open_space] .place-uses")).to_have_text("2")
    expect(split.locator("[data-kind=meeting_room] .place-uses")).to_have_text("2")
    expect(split.locator("[data-kind=office] .place-uses")).to_have_text("1")
    expect(split.locator("[data-kind=phone_box]")).to_have_count(0)  # the site has no phone box
    # A booked room is not a seat of the open space taken.
    expect(wall.locator("#present")).to_have_text("2")
    assert wall.locator(".month-chart .day-booked").count() == 1


def overflow(page: Page) -> dict[str, float]:
    """How tall the page is against the screen, and where the chart's lowest axis figure ends."""
    result: dict[str, float] = page.evaluate(
        """() => {
          const axis = Array.from(document.querySelectorAll('.month-chart text.axis'));
          return {
            scroll: document.scrollingElement.scrollHeight,
            inner: window.innerHeight,
            width: document.scrollingElement.scrollWidth,
            innerWidth: window.innerWidth,
            axisBottom: Math.max(...axis.map(e => e.getBoundingClientRect().bottom)),
            axisRight: Math.max(...axis.map(e => e.getBoundingClientRect().right)),
            axisCount: axis.length,
          };
        }"""
    )
    return result


# The worst the hub link can show at once (as in test_display): a members list that failed, with the longest reason.
WHY = ("liste mal formée (roster.members[12].email doit être une chaîne d'au plus 254 caractères) " * 3)[:200]


@pytest.mark.parametrize("size", ["tv", "laptop"])
@pytest.mark.parametrize(
    ("show_names", "rooms"), [(True, len(ROOMS)), (False, len(ROOMS)), (True, 0)], ids=["names", "no-names", "no-rooms"]
)
def test_the_wall_fits_the_screen_with_its_board_and_the_certificate(
    size: str,
    show_names: bool,
    rooms: int,
    site: Site,
    start_kiosk: Callable[..., KioskServer],
    open_page: Callable[..., Page],
    probe: BusProbe,
) -> None:
    """The fullest wall: a networked site whose members list failed, the certificate's fingerprint at the foot (the
    site's Wi-Fi is on), every row of the board, arrivals. It never scrolls, and the chart's axis is in view."""
    hub = {"url": "mqtts://hub.example.org:8883", "public_key": "not-used-by-the-kiosk"}
    config = site.reconfigure({"hub": hub, "kiosk": {"show_names": show_names, "lan_host": "192.168.1.20"}})
    ensure_certificate(config)
    ids = add_resources(site, ROOMS[:rooms])
    for i, (name, _kind) in enumerate(ROOMS[:rooms]):
        if i % 3 != 2:
            book(site, ids[name], "Marie-Christine Dupont-Aignan", [Slot.MORNING] if i % 2 else [Slot.AFTERNOON])
    record_taps(site, [ALICE, BRUNO])
    kiosk = start_kiosk(config=config)
    now = dt.datetime.now(dt.UTC)
    failed = bus.SyncStatus(
        True,
        now,
        12,
        7,
        roster_issued_at=now - dt.timedelta(days=2),
        roster_failed_at=now - dt.timedelta(minutes=5),
        roster_failure=WHY,
        roster_stale=True,
    )
    probe.publish(failed, retain=True)
    width, height = SIZES[size]
    wall = open_page({"width": width, "height": height})
    wall.goto(kiosk.url + "/display/")
    expect(wall.locator("#roster-failure")).to_contain_text(WHY)
    expect(wall.locator("#certificate")).to_contain_text("Empreinte du certificat")
    expect(wall.locator("#board tbody tr")).to_have_count(rooms)
    figures = overflow(wall)
    assert figures["scroll"] <= figures["inner"], f"the wall scrolls at {width}x{height}: {figures}"
    assert figures["width"] <= figures["innerWidth"], f"the wall scrolls sideways at {width}x{height}: {figures}"
    assert figures["axisCount"] >= 3
    assert figures["axisBottom"] <= figures["inner"], f"the chart's axis is cut off at {width}x{height}: {figures}"
    assert fits(wall), f"something of the wall reaches below the screen at {width}x{height}"
    booked = wall.locator("#board td.booked")
    expect(booked).to_have_count(6 if rooms else 0)
    if rooms and show_names:
        expect(booked.first).to_have_text("Marie-Christine")
    elif rooms:
        expect(booked.first).to_have_text("Réservé")
    assert_accessible(wall, f"wall display, {rooms} rooms, names {show_names}, {width}x{height}")


def test_the_chart_stacks_the_booked_half_days_on_the_open_spaces() -> None:
    labels = ChartLabels("Demi-journées du mois : 9", "objectif 200", "9")
    day = dt.date(2026, 11, 2)
    svg = month_chart(
        {day: 7, dt.date(2026, 11, 3): 2}, dt.date(2026, 11, 1), dt.date(2026, 11, 3), 200, labels, {day: 3}
    )
    bars = re.findall(r'<rect class="(day|day-booked)" x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"', svg)
    assert [b[0] for b in bars] == ["day", "day-booked", "day"]
    (_, x1, y1, h1), (_, x2, y2, h2), _ = bars
    # One column: the rooms' part sits right on top of the open space's, 3 and 4 half-days high.
    assert x1 == x2 and abs(float(y2) + float(h2) - float(y1)) < 0.2
    assert abs(float(h2) / float(h1) - 3 / 4) < 0.01


@pytest.mark.parametrize("size", ["touchscreen", "phone"])
def test_a_manager_on_a_small_screen_reads_the_board_without_scrolling_sideways(
    size: str, site: Site, kiosk: KioskServer, open_page: Callable[..., Page]
) -> None:
    """The wall is made for a television; a manager may still open it on a phone on the site's Wi-Fi."""
    ids = add_resources(site, ROOMS)
    book(site, ids["Bureau 1"], "Yann Le Goff", [Slot.MORNING])
    width, height = SIZES[size]
    wall = open_page({"width": width, "height": height})
    wall.goto(kiosk.url + "/display/")
    expect(wall.locator("#board tbody tr")).to_have_count(len(ROOMS))
    expect(wall.locator("#board td.booked")).to_have_text(["Yann"])
    figures = overflow(wall)
    assert figures["width"] <= figures["innerWidth"], f"the wall scrolls sideways at {width}x{height}: {figures}"
    assert_accessible(wall, f"wall display with the rooms' board, {width}x{height}")
