"""Kiosk fixtures: a site (config + database with sample members), a real Mosquitto, the kiosk served by
waitress on a free port, Debian's Chromium driven by Playwright, a probe on the local bus, and the door daemon
itself (real nfcpy reader loop on a virtual card, gpiozero MockFactory) for the end-to-end tests."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
import pytest
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, Page

from access import admin
from access.config import Config, load_config
from access.daemon.door import Door
from access.db import Database, migrate
from access.default_config import render
from access.ledger import SlotRules
from access.policy import apply, decide
from access.store import Stamp, load_state, record_entry
from hardware.virtual_card import VirtualCard
from kiosk.app import create_app
from kiosk.auth import set_password
from kiosk.context import Tuning
from kiosk.serve import KioskServer
from sync import localbus as bus
from tests.support.broker import Mosquitto
from tests.support.wait import wait_until

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TOUCH = {"width": 800, "height": 480}
TOUCH_1024 = {"width": 1024, "height": 600}
WALL = {"width": 1920, "height": 1080}

# Badges of the sample members. No UID starts with 04: nfcpy would probe an NXP product the virtual card is not.
ALICE = "A1A2A3A4"  # unlimited plan
BRUNO = "B1B2B3B4"  # carnet of 10 half-days
UNKNOWN = "C0FFEE01"
NEW_BADGE = "D5E6F7A8"  # not given to anyone yet: the manager enrols it
LOCK_PIN = 17
DOOR_SENSOR_PIN = 27
# nfcpy must see the card gone for a moment between two taps, or it takes them for one long presentation.
TAP_GAP_S = 0.4
MANAGER_PASSWORD = "correct horse battery"

# Small timings: a test never waits for a production delay.
TEST_TUNING = Tuning(
    tap_show_s=3.0,
    sse_keepalive_s=2.0,
    stream_poll_s=0.25,
    display_refresh_s=5.0,
    command_timeout_s=1.5,
    enrol_timeout_s=8.0,
    login_lockout_s=2.0,
    guess_lockout_s=2.0,
)


def site_toml(database: Path, bus_url: str, reader_path: str) -> str:
    """The config `halfday init` writes, with slots covering the whole day so tests pass at any hour."""
    text = render("le-local", "Le Local", str(database), "mock", reader_path)
    for old, new in {
        'morning_start = "08:00"': 'morning_start = "00:00"',
        'noon = "13:00"': 'noon = "12:00"',
        'afternoon_end = "20:00"': 'afternoon_end = "23:59"',
        'url = "mqtt://127.0.0.1:1883"': f'url = "{bus_url}"',
        "trust_clock = false": "trust_clock = true",
        "unlock_s = 5.0": "unlock_s = 0.6",
        "debounce_s = 2.0": "debounce_s = 0.3",
    }.items():
        text = text.replace(old, new)
    return text


def add_sample_members(db: Database, device: str) -> None:
    with db.write() as s:
        admin.add_plan(s, admin.PlanSpec("Illimité", "unlimited", hours="00:00-23:59"))
        admin.add_plan(s, admin.PlanSpec("Carnet 10", "carnet", 10, hours="00:00-23:59"))
        admin.add_member(s, admin.MemberSpec("Alice", "Martin", "alice@example.org", "Illimité", ALICE), device)
        admin.add_member(s, admin.MemberSpec("Bruno", "Petit", "bruno@example.org", "Carnet 10", BRUNO), device)
        admin.add_member(s, admin.MemberSpec("Clara", "Roux", "clara@example.org", "Carnet 10"), device)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the sample members, made once and copied for each test (migrating is slow)."""
    path = tmp_path_factory.mktemp("template") / "halfday.db"
    url = f"sqlite:///{path}"
    migrate(url)
    db = Database(url)
    add_sample_members(db, "door-1")
    db.dispose()
    return path


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A real Mosquitto on a free port: the site's local bus."""
    mosquitto = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    mosquitto.start()
    yield mosquitto
    mosquitto.kill()


@dataclass
class Site:
    folder: Path
    config_path: Path
    config: Config
    db: Database

    def set_password(self, password: str = MANAGER_PASSWORD) -> None:
        with self.db.write() as s:
            set_password(s, password)


def record_taps(site: Site, uids: list[str]) -> None:
    """Entries as the door records them (policy + store, now), so the display and the admin have something to show
    in tests that do not need the door's hardware."""
    slots = site.config.site.slots
    rules = SlotRules(site.config.site.tz, slots.morning_start, slots.noon, slots.afternoon_end)
    now = dt.datetime.now(dt.UTC)
    with site.db.write() as s:
        state = load_state(s, rules, site.config.site.id, site.config.site.device, now.astimezone(rules.tz).date())
        for uid in uids:
            decision = decide(uid, now, state)
            record_entry(s, site.config.site.id, site.config.site.device, decision, Stamp(now, 1, "boot", True))
            apply(decision, state)


@pytest.fixture
def site(tmp_path: Path, template_db: Path, broker: Mosquitto) -> Iterator[Site]:
    database = tmp_path / "halfday.db"
    shutil.copyfile(template_db, database)
    config_path = tmp_path / "halfday.toml"
    # The reader path matters only to the door daemon: the `door` fixture puts its virtual card's there.
    config_path.write_text(site_toml(database, f"mqtt://127.0.0.1:{broker.port}", "udp:127.0.0.1:9"), encoding="utf-8")
    db = Database(f"sqlite:///{database}")
    yield Site(tmp_path, config_path, load_config(config_path), db)
    db.dispose()


@pytest.fixture
def start_kiosk(site: Site) -> Iterator[Callable[..., KioskServer]]:
    """Factory: the kiosk for `site`, served on a free port and connected to the bus; stopped after the test."""
    servers: list[KioskServer] = []

    def start(config: Config | None = None, port: int = 0, **app_kwargs: Any) -> KioskServer:
        app_kwargs.setdefault("tuning", TEST_TUNING)
        server = KioskServer(create_app(config or site.config, **app_kwargs), port=port).start()
        servers.append(server)
        link = server.kiosk.link
        assert link is None or wait_until(lambda: link.connected, 10), "the kiosk did not reach the bus"
        return server

    yield start
    for server in servers:
        if not server.stopped:
            server.stop()


@pytest.fixture
def kiosk(start_kiosk: Callable[..., KioskServer]) -> KioskServer:
    return start_kiosk()


# ---------------------------------------------------------------------------------------------- browser


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: a page in a fresh browser context (own cookies) with the given viewport."""
    contexts = []

    def open_page(viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or TOUCH)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    return open_page(TOUCH)


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows to artifacts/screenshots/NAME-WxH.png (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or TOUCH
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path))
    return path


# ---------------------------------------------------------------------------------------------- bus probe


C = TypeVar("C", bound=bus.Command)


class BusProbe:
    """A test's own client on the local bus: records the commands sent to the door, and can publish news to test
    the kiosk's handling of one message in isolation (the end-to-end tests use the real door instead)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.commands: list[bus.Command] = []
        self._lock = threading.Lock()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="halfday-test-probe")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(bus.DOOR_CMD, qos=1)
        self.client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        command = bus.decode_command(bytes(message.payload))  # the kiosk sends only well-formed commands
        with self._lock:
            self.commands.append(command)

    def commands_of(self, kind: type[C]) -> list[C]:
        with self._lock:
            return [c for c in self.commands if isinstance(c, kind)]

    def publish(self, message: bus.Message, retain: bool = False) -> None:
        self.publish_raw(message.topic, message.encode(), retain)

    def publish_raw(self, topic: str, raw: bytes, retain: bool = False) -> None:
        self.client.publish(topic, raw, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def probe(broker: Mosquitto) -> Iterator[BusProbe]:
    bus_probe = BusProbe(broker)
    yield bus_probe
    bus_probe.close()


# ---------------------------------------------------------------------------------------------- the door


@dataclass
class DoorRun:
    """The real door daemon in a thread: nfcpy's reader loop on a virtual card, the relay on MockFactory."""

    door: Door
    card: VirtualCard
    factory: MockFactory

    def tap(self, uid: str, seconds: float = 0.3) -> int:
        """Present a badge for `seconds`; returns the presentation's monotonic time (ns)."""
        presented = self.card.present(uid, seconds)
        time.sleep(TAP_GAP_S)
        return presented

    def relay_states(self) -> list[bool]:
        return [bool(state.state) for state in self.factory.pin(LOCK_PIN).states]


@pytest.fixture
def door(site: Site) -> Iterator[DoorRun]:
    card = VirtualCard()
    site.config_path.write_text(site.config_path.read_text().replace("udp:127.0.0.1:9", card.path), encoding="utf-8")
    site.config = load_config(site.config_path)
    factory = MockFactory()
    daemon = Door(site.config, pin_factory=factory)
    daemon.start()
    # The door is closed. Driven after the sensor is built: building it applies the Pi's pull-up (reads "open").
    factory.pin(DOOR_SENSOR_PIN).drive_low()
    thread = threading.Thread(target=daemon.run, name="door", daemon=True)
    thread.start()
    assert daemon.bus is not None and wait_until(lambda: daemon.bus is not None and daemon.bus.client.connected, 10)
    yield DoorRun(daemon, card, factory)
    daemon.stopping.set()
    thread.join(5)
    daemon.stop()
    card.close()
    factory.close()
