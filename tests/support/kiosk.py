"""What the kiosk's tests share besides fixtures: screen sizes, small timings, a probe on the local bus, taps
recorded without the door's hardware, screenshots."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import subprocess
import threading
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page

from access.policy import Reason, apply, decide
from access.store import Stamp, load_state, record_entry
from common.web.login import LoginRules
from common.web.throttle import Limits
from common.words import PlanKind, Slot
from kiosk.context import Tuning
from sync import localbus as bus
from tests.support.broker import Mosquitto
from tests.support.site import Site

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TOUCH = {"width": 800, "height": 480}
TOUCH_1024 = {"width": 1024, "height": 600}
WALL = {"width": 1920, "height": 1080}

# Small timings: a test never waits for a production delay.
TEST_TUNING = Tuning(
    tap_show_s=3.0,
    sse_keepalive_s=2.0,
    stream_poll_s=0.25,
    display_refresh_s=5.0,
    command_timeout_s=1.5,
    enrol_timeout_s=8.0,
    login=LoginRules(window_s=2.0),
    guesses=Limits(max_failures=6, window_s=2.0, max_per_minute=1000),
)
# A member's granted tap on a carnet, as the door announces it (tests change what they need with replace()).
TAP = bus.Tap(
    event="e" * 32,
    seq=7,
    at=dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC),
    granted=True,
    reason=Reason.GRANTED,
    holder="h" * 32,
    first_name="Alice",
    plan=PlanKind.CARNET,
    slot=Slot.MORNING,
    charged=True,
    spent=1,
    balance=9,
)
# The kiosk's site: its reader lets the same badge tap again after 0.3 s, and its pulse is short.
# No half-day is ever "late" (access/passes.py), so a pass bought at any hour of a test run starts now.
KIOSK_SITE: dict[str, Any] = {
    "door": {"unlock_s": 0.6},
    "hardware": {"reader": {"debounce_s": 0.3}},
    # Someone takes payment at the counter at any hour of a test run: passes and bookings are on sale at night too.
    "kiosk": {"late_minutes": 0, "counter_hours": ["mon-sun 00:00-23:59"]},
}


def site_network_address() -> str:
    """An address of this machine other than loopback: where a guest on the site's Wi-Fi reaches the kiosk. The
    attack tests need one; a machine without any network fails them loudly rather than testing nothing."""
    shown = subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True, check=True)
    for interface in json.loads(shown.stdout):
        for address in interface.get("addr_info", []):
            if not ipaddress.ip_address(address["local"]).is_loopback:
                return str(address["local"])
    raise AssertionError("this machine has no network address besides loopback: the site's network cannot be played")


def record_taps(site: Site, uids: list[str]) -> None:
    """Entries as the door records them (policy + store, now), so the display and the admin have something to show
    in tests that do not need the door's hardware."""
    rules = site.config.site.rules
    now = dt.datetime.now(dt.UTC)
    with site.db.write() as s:
        state = load_state(s, rules, site.config.site.id, site.config.site.device, now.astimezone(rules.tz).date())
        for uid in uids:
            decision = decide(uid, now, state)
            record_entry(s, site.config.site.id, site.config.site.device, decision, Stamp(now, 1, "boot", True))
            apply(decision, state)


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows to artifacts/screenshots/NAME-WxH.png (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or TOUCH
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path))
    return path


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
