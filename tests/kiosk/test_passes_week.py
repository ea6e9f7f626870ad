"""A week pass bought at the touchscreen on a Wednesday opens the door the next Tuesday and not the Wednesday after.

Everything real: Chromium buys the pass on the kiosk (served by waitress, its clock set to each day), the door daemon
runs as `halfday door` in its own process under Debian's faketime (started on each chosen day), nfcpy's reader
loop reads the virtual card the walk-in linked to the pass, and the local bus is a real Mosquitto.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import queue
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from access.models import Event, Pass
from common.words import PlanKind
from hardware.virtual_card import VirtualCard
from kiosk.app import create_app
from kiosk.serve import KioskServer
from kiosk.vouchers import voucher_book
from sync import localbus as bus
from sync.mqtt import Message, MqttClient, MqttSettings
from tests.support.broker import Mosquitto
from tests.support.door import LIBFAKETIME, TAP_GAP_S, wait_message
from tests.support.kiosk import TEST_TUNING, TOUCH
from tests.support.site import Site
from tests.support.wait import wait_until

# Emulated UIDs must not start with 04 (nfcpy reads those as a 7-byte cascade).
WALK_IN_CARD = "A7B8C9D0"
WEDNESDAY = dt.date(2026, 12, 2)
NEXT_TUESDAY = dt.date(2026, 12, 8)
WEDNESDAY_AFTER = dt.date(2026, 12, 9)
# The door answers from a process of its own that a busy test machine may keep waiting: the kiosk waits longer.
PATIENT = dataclasses.replace(TEST_TUNING, command_timeout_s=5.0)
# The reader's debounce must pass between the card's taps on one day (config below: 0.3 s).
DEBOUNCE_S = 0.3


class Clock:
    """The kiosk's clock: a fixed local day and hour, moving on with real time from when it was set."""

    def __init__(self, tz: dt.tzinfo) -> None:
        self.tz = tz
        self.base = dt.datetime.now(dt.UTC)
        self.set_at = time.monotonic()

    def set(self, day: dt.date, hour: int) -> dt.datetime:
        self.base = dt.datetime.combine(day, dt.time(hour), tzinfo=self.tz).astimezone(dt.UTC)
        self.set_at = time.monotonic()
        return self.base

    def __call__(self) -> dt.datetime:
        return self.base + dt.timedelta(seconds=time.monotonic() - self.set_at)


class FakedDoor:
    """`halfday door` as its unit starts it, under faketime: its wall clock starts at the instant given."""

    def __init__(self, config_path: Path, log_path: Path, messages: queue.Queue[Message]) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.messages = messages
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, at: dt.datetime) -> None:
        self.stop()
        # libfaketime preloaded into the door itself (the `faketime` command would stand between the test and the
        # door, and not pass on the signal that stops it).
        env = {
            **os.environ,
            "LD_PRELOAD": LIBFAKETIME,
            "FAKETIME": at.astimezone(dt.UTC).strftime("@%Y-%m-%d %H:%M:%S"),
            "TZ": "UTC",
            # Only the wall clock moves: with a faked monotonic clock the door's waits and timers misbehave (its
            # main loop was seen to miss its state report and SIGTERM).
            "DONT_FAKE_MONOTONIC": "1",
            "HALFDAY_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "halfday.cli", "door", "--config", str(self.config_path)]
        while not self.messages.empty():  # only the new door's state will do
            self.messages.get()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        wait_message(self.messages, bus.DoorState, 20, lambda state: state.online)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        self.process = None


@pytest.fixture
def card() -> Iterator[VirtualCard]:
    virtual = VirtualCard()
    yield virtual
    virtual.close()


def entries(site: Site) -> list[Event]:
    with site.db.read() as s:
        return list(s.scalars(select(Event).where(Event.kind == "entry").order_by(Event.seq)))


def tap(card: VirtualCard) -> None:
    card.present(WALK_IN_CARD, 0.3)
    time.sleep(TAP_GAP_S + DEBOUNCE_S)


def test_a_week_pass_bought_on_a_wednesday_opens_the_next_tuesday_and_not_the_wednesday_after(
    tmp_path: Path, broker: Mosquitto, new_site: Callable[..., Site], browser: Browser, card: VirtualCard
) -> None:
    site = new_site(
        reader_path=card.path,
        bus_url=f"mqtt://127.0.0.1:{broker.port}",
        overrides={
            "door": {"unlock_s": 0.6},
            "hardware": {"reader": {"debounce_s": DEBOUNCE_S}},
            "kiosk": {"late_minutes": 60, "price_week_cents": 4500},
        },
    )
    assert str(site.config.site.tz) == "Europe/Paris"
    messages: queue.Queue[Message] = queue.Queue()
    listener = MqttClient(
        MqttSettings.from_url(f"mqtt://127.0.0.1:{broker.port}"),
        "test-listener",
        clean_start=True,
        session_expiry_s=0,
        on_message=messages.put,
    )
    listener.subscribe("halfday/local/#")
    listener.start()
    assert listener.wait_connected(10)
    clock = Clock(site.config.site.tz)
    door = FakedDoor(site.config_path, tmp_path / "door.log", messages)
    server = KioskServer(create_app(site.config, tuning=PATIENT, clock=clock)).start()
    link = server.kiosk.link
    context = browser.new_context(viewport=TOUCH)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    try:
        assert link is not None and wait_until(lambda: link.connected, 10)
        page = context.new_page()

        # Wednesday 2 December, 10:00: the walk-in reads what the week covers, links a card and pays at the desk.
        door.start(clock.set(WEDNESDAY, 10))
        page.goto(server.url)
        page.click("text=Acheter un pass")
        week = page.locator('a.offer[data-kind="pass_week"]')
        expect(week).to_contain_text("du mercredi 2 décembre, matin, au mardi 8 décembre, après-midi")
        expect(week).to_contain_text("45,00")
        week.click()
        expect(page.locator("#span")).to_contain_text(
            "Ce pass ouvre : du mercredi 2 décembre, matin, au mardi 8 décembre, après-midi."
        )
        page.fill("#name", "Inès Martin")
        page.fill("#email", "ines@example.org")
        page.click("#bind-card")
        expect(page.locator("#card-status")).to_have_text("Présentez votre carte au lecteur de la porte…")
        bound = page.locator("#card-status", has_text="Carte associée")
        for _ in range(6):  # the door's enrol mode starts when its command arrives: tap until it took the card
            card.present(WALK_IN_CARD, 0.3)
            if wait_until(lambda: bound.count() == 1, timeout=1.5):
                break
        expect(bound).to_have_text("Carte associée : elle vous ouvrira la porte.")
        expect(page.locator("#pay-counter")).to_have_count(0)  # a week is paid ahead, with a voucher
        page.click("#pay-voucher")
        page.fill("#voucher", voucher_book(site.config).mint(PlanKind.PASS_WEEK, 1).printed)
        page.click("#pay")
        expect(page.locator("#door-text")).to_have_text("La porte est ouverte : entrez !")
        expect(page.locator("#paid")).to_be_visible()
        code = page.locator("#pass-code").inner_text().replace(" ", "")
        with site.db.read() as s:
            pass_ = s.scalars(select(Pass)).one()
        assert (pass_.valid_date, pass_.slots, pass_.valid_until, pass_.until_slots) == (
            WEDNESDAY,
            "morning,afternoon",
            NEXT_TUESDAY,
            "morning,afternoon",
        )
        first = entries(site)[-1]
        assert first.data["granted"] and first.data["use"]["date"] == WEDNESDAY.isoformat()
        assert first.data["plan"] == "pass_week"
        time.sleep(DEBOUNCE_S)

        # The next Tuesday, 10:00: the card opens, and so does the code at the touchscreen.
        door.start(clock.set(NEXT_TUESDAY, 10))
        count = len(entries(site))
        tap(card)
        assert wait_until(lambda: len(entries(site)) == count + 1, timeout=5)
        tuesday = entries(site)[-1]
        assert (tuesday.data["uid"], tuesday.data["granted"], tuesday.data["first_name"]) == (
            WALK_IN_CARD,
            True,
            "Inès",
        )
        assert tuesday.data["use"] is not None
        assert tuesday.data["use"]["date"] == NEXT_TUESDAY.isoformat()
        page.goto(server.url + "/code")
        page.fill("#code", code)
        page.click(".key-ok")
        expect(page.locator("#door-text")).to_have_text("La porte est ouverte : entrez !")

        # The Wednesday after, 10:00: the door refuses the card, the touchscreen the code.
        door.start(clock.set(WEDNESDAY_AFTER, 10))
        count = len(entries(site))
        tap(card)
        assert wait_until(lambda: len(entries(site)) == count + 1, timeout=5)
        refused = entries(site)[-1]
        # The door no longer holds a pass whose last day is past: its card is a card it does not know.
        assert (refused.data["uid"], refused.data["granted"], refused.data["reason"]) == (
            WALK_IN_CARD,
            False,
            "unknown",
        )
        assert refused.data["use"] is None
        page.goto(server.url + "/code")
        page.fill("#code", code)
        page.click(".key-ok")
        expect(page.locator("#error")).to_contain_text("Ce code n'ouvre pas maintenant")
    finally:
        context.close()
        door.stop()
        server.stop()
        listener.stop()
