"""Kiosk latency: a badge presented on the virtual card -> the welcome visible in Chromium, and the server's time
for each page.

The chain measured is the real one: virtual card -> nfcpy's reader loop -> the door daemon (decision, relay,
durable commit) -> the local bus (Mosquitto) -> the kiosk -> server-sent events -> Chromium draws the message.
The touchscreen page marks when each tap became visible (window.halfdayTaps, after the next animation frame);
the wall display is open at the same time, as on site, and re-renders its panel on every tap.
The door's own share (presentation -> nfcpy on-connect) is reported apart, so the kiosk's part is visible.

`python -m bench.kiosk [--taps N] [--page-loads N]`; needs /usr/sbin/mosquitto and /usr/bin/chromium.
Last line: one JSON object (tap_to_screen_p95_ms, page_p95_ms, ...). Target: tap_to_screen_p95_ms <= 150.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from access.config import load_config
from access.daemon.door import Door
from access.db import Database
from bench.nfc_raw import GAP_S, JITTER_S, PRESENT_S, percentile
from halfday.broker import Mosquitto
from halfday.sample import UNKNOWN, extra_badge, make_site
from hardware.virtual_card import VirtualCard
from kiosk.app import create_app
from kiosk.auth import set_password
from kiosk.context import Tuning
from kiosk.serve import KioskServer
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

TARGET_TAP_TO_SCREEN_P95_MS = 150.0
DOOR_SENSOR_PIN = 27
# Enough distinct badges that the reader's per-badge debounce (2 s) never hides a tap.
BADGES = 24
# Every so often an unknown badge: refusals travel the same way and must be as quick.
REFUSAL_EVERY = 7
# nfcpy notices a badge has left by its presence check (a few 0.1 s rounds): leave it room between taps.
RELEASE_S = 0.4
# A tap not on screen after this long counts as missed.
SHOW_TIMEOUT_MS = 3000
PASSWORD = "bench password 1234"
PAGES = (
    "/",
    "/buy",
    "/buy/pass_halfday",
    "/code",
    "/display/",
    "/display/panel",
    "/admin/",
    "/admin/members",
    "/admin/plans",
    "/admin/sales?show=all",
    "/admin/events",
    "/admin/exports",
)


def server_ms(headers: dict[str, str]) -> float | None:
    """The app's own time from the Server-Timing header ("app;dur=12.34")."""
    timing = headers.get("server-timing", "")
    for part in timing.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if name == "app" and dur:
            return float(dur)
    return None


def measure_taps(n: int, door: Door, card: VirtualCard, screen: Page, wall: Page) -> dict[str, list[float]]:
    """Present `n` badges one after another; return the latencies (ms) of each stage, and the missed count."""
    # Wall-clock and monotonic time: the browser stamps in epoch ms, the door and the card in monotonic ns.
    offset_ms = time.time() * 1e3 - time.monotonic_ns() / 1e6
    rng = random.Random(1)
    out: dict[str, list[float]] = {
        "screen": [],
        "nfc": [],
        "after_connect": [],
        "display": [],
        "display_missed": [],
        "missed": [],
    }
    for i in range(n):
        uid = UNKNOWN if i % REFUSAL_EVERY == REFUSAL_EVERY - 1 else extra_badge(i % BADGES)
        shown_before = screen.evaluate("window.halfdayTaps.length")
        presented_ns = card.present_nowait(uid, PRESENT_S)
        presented_ms = presented_ns / 1e6 + offset_ms
        try:
            screen.wait_for_function("n => window.halfdayTaps.length > n", arg=shown_before, timeout=SHOW_TIMEOUT_MS)
        except Exception:
            out["missed"].append(float(i))
            time.sleep(PRESENT_S + RELEASE_S + GAP_S)
            continue
        shown_ms = float(screen.evaluate("window.halfdayTaps[window.halfdayTaps.length - 1].shownAt"))
        out["screen"].append(shown_ms - presented_ms)
        record = next((p for p in door.recorded if p.connected_ns and p.connected_ns > presented_ns), None)
        if record is not None and record.connected_ns is not None:
            connected_ms = record.connected_ns / 1e6 + offset_ms
            out["nfc"].append(connected_ms - presented_ms)
            out["after_connect"].append(shown_ms - connected_ms)
        try:
            wall.wait_for_function("t => window.halfdayPanels.some(p => p > t)", arg=presented_ms, timeout=2000)
            panels = wall.evaluate("t => window.halfdayPanels.filter(p => p > t)", presented_ms)
            out["display"].append(min(panels) - presented_ms)
        except PlaywrightTimeoutError:
            out["display_missed"].append(float(i))  # the display is a side measure: counted, not waited for
        time.sleep(PRESENT_S + RELEASE_S + GAP_S + rng.uniform(0, JITTER_S))
    return out


def measure_pages(page: Page, base: str, loads: int) -> dict[str, list[float]]:
    """Load each page `loads` times in Chromium and collect the server's time for each (Server-Timing)."""
    page.goto(base + "/admin/login")
    page.fill("#password", PASSWORD)
    page.click("#login")
    times: dict[str, list[float]] = {path: [] for path in PAGES}
    for _ in range(loads):
        for path in PAGES:
            response = page.goto(base + path)
            if response is None or not response.ok:
                raise RuntimeError(f"{path}: {response.status if response else 'no response'}")
            ms = server_ms(response.headers)
            if ms is not None:
                times[path].append(ms)
    return times


def run(taps: int, loads: int, folder: Path) -> dict[str, Any]:
    broker = Mosquitto(folder / "mosquitto")
    broker.start()
    card = VirtualCard()
    config_path = make_site(
        folder,
        card.path,
        bus_url=f"mqtt://127.0.0.1:{broker.port}",
        extra_members=BADGES,
        overrides={"door": {"unlock_s": 0.6}},
    )
    config = load_config(config_path)
    db = Database(config.database_url)
    with db.write() as session:
        set_password(session, PASSWORD)
    db.dispose()
    factory = MockFactory()
    door = Door(config, pin_factory=factory)
    door.start()
    # The door is closed. Driven after the sensor is built: building it applies the Pi's pull-up (reads "open").
    factory.pin(DOOR_SENSOR_PIN).drive_low()
    runner = threading.Thread(target=door.run, name="door", daemon=True)
    runner.start()
    # The welcome on the waiting screen is what is measured: a member's account would take the screen over.
    server = KioskServer(create_app(config, tuning=Tuning(account_token_s=0))).start()
    try:
        link = server.kiosk.link
        deadline = time.monotonic() + 10
        while link is not None and not link.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            screen = browser.new_page(viewport={"width": 800, "height": 480})
            screen.goto(server.url)
            wall = browser.new_page(viewport={"width": 1920, "height": 1080})
            wall.goto(server.url + "/display/")
            while server.kiosk.live.listeners < 2:
                time.sleep(0.02)
            time.sleep(0.5)
            taps_out = measure_taps(taps, door, card, screen, wall)
            pages = measure_pages(browser.new_page(), server.url, loads)
            browser.close()
    finally:
        server.stop()
        door.stopping.set()
        runner.join(5)
        door.stop()
        card.close()
        factory.close()
        broker.kill()
    return {"taps": taps_out, "pages": pages}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="kiosk latency: tap to screen, and page server time")
    parser.add_argument("--taps", type=int, default=60)
    parser.add_argument("--page-loads", type=int, default=10, help="loads of each page")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="halfday-bench-kiosk-") as folder:
        measured = run(args.taps, args.page_loads, Path(folder))
    taps = measured["taps"]
    all_pages = [ms for times in measured["pages"].values() for ms in times]
    screen = taps["screen"]
    result: dict[str, Any] = {
        "taps": len(screen),
        "missed": len(taps["missed"]),
        "tap_to_screen_p50_ms": round(percentile(screen, 50), 1),
        "tap_to_screen_p95_ms": round(percentile(screen, 95), 1),
        "tap_to_screen_max_ms": round(max(screen), 1),
        "presented_to_connect_p95_ms": round(percentile(taps["nfc"], 95), 1),
        "connect_to_screen_p50_ms": round(percentile(taps["after_connect"], 50), 1),
        "connect_to_screen_p95_ms": round(percentile(taps["after_connect"], 95), 1),
        "tap_to_display_p95_ms": round(percentile(taps["display"], 95), 1) if taps["display"] else None,
        "display_missed": len(taps["display_missed"]),
        "page_loads": len(all_pages),
        "page_p50_ms": round(percentile(all_pages, 50), 2),
        "page_p95_ms": round(percentile(all_pages, 95), 2),
        "page_p95_by_path_ms": {path: round(percentile(t, 95), 2) for path, t in measured["pages"].items() if t},
        "target_tap_to_screen_p95_ms": TARGET_TAP_TO_SCREEN_P95_MS,
    }
    result["meets_target"] = result["tap_to_screen_p95_ms"] <= TARGET_TAP_TO_SCREEN_P95_MS
    print(
        f"{result['taps']} taps on screen (missed {result['missed']})\n"
        f"presentation -> visible in Chromium: p50 {result['tap_to_screen_p50_ms']} ms, "
        f"p95 {result['tap_to_screen_p95_ms']} ms, max {result['tap_to_screen_max_ms']} ms\n"
        f"  of which presentation -> nfcpy on-connect (reader): p95 {result['presented_to_connect_p95_ms']} ms\n"
        f"  on-connect -> visible (door, bus, kiosk, browser): p50 {result['connect_to_screen_p50_ms']} ms, "
        f"p95 {result['connect_to_screen_p95_ms']} ms\n"
        f"presentation -> wall display updated: p95 {result['tap_to_display_p95_ms']} ms\n"
        f"server time per page ({result['page_loads']} loads): p50 {result['page_p50_ms']} ms, "
        f"p95 {result['page_p95_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
