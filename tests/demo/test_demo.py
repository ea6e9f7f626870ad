"""`make demo` end to end: a badge tapped on the simulator page reaches the touchscreen, the wall display and the
hub; then Ctrl-C stops every process the demo started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.support.kiosk import TOUCH, WALL

START_TIMEOUT_S = 120.0


def read_addresses(process: subprocess.Popen[str], lines: list[str]) -> dict[str, str]:
    """The URLs the demo prints, read from its output (by a thread, into `lines`) until it says it runs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        text = "".join(lines)
        if "Ctrl-C" in text:
            found = dict(re.findall(r"^\s*([^:\n]+?)\s*: (http://\S+)", text, re.MULTILINE))
            return {
                "screen": found["Écran tactile (kiosque)"],
                "display": found["Affichage mural"],
                "simulator": found["Simulateur de porte"],
                "hub": found["Hub du réseau"],
            }
        time.sleep(0.2)
    raise AssertionError("the demo did not start:\n" + "".join(lines))


def descendants_alive(root_dir: Path) -> list[str]:
    """Processes whose command line names the demo's folder (its broker, hub, kiosk, sync)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root_dir) in cmdline:
            alive.append(f"{entry.name}: {cmdline}")
    return alive


def hub_total(page: Page, hub: str, site: str) -> int:
    page.goto(hub + "usage")
    row = page.locator("tr", has=page.locator("td", has_text=site)).first
    return int(row.locator("td").nth(3).inner_text())


def test_demo_tap_reaches_every_screen_and_ctrl_c_stops_everything(tmp_path: Path, browser: Browser) -> None:
    root = tmp_path / "demo"
    process = subprocess.Popen(
        [sys.executable, "-m", "halfday.demo", "--dir", str(root), "--free-ports"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        urls = read_addresses(process, lines)
        screen = browser.new_context(viewport=TOUCH).new_page()  # type: ignore[arg-type]
        screen.goto(urls["screen"])
        wall = browser.new_context(viewport=WALL).new_page()  # type: ignore[arg-type]
        wall.goto(urls["display"])
        month_before = int(wall.locator("#month-uses").inner_text())
        hub = browser.new_context().new_page()
        hub.goto(urls["hub"] + "login")
        hub.fill("input[name=login]", "admin")
        hub.fill("input[name=password]", "demo-halfday-hub")
        hub.click("main button")
        hub_before = hub_total(hub, urls["hub"], "la-filature")

        simulator = browser.new_context().new_page()
        simulator.goto(urls["simulator"])
        time.sleep(1.0)  # the touchscreen's live feed is connected
        simulator.click("button[data-uid='1A2B3C4D']")

        # The touchscreen was waiting: the member's account opens, headed by what the door said.
        expect(screen.locator("main h1")).to_have_text("Votre compte, Alice", timeout=10_000)
        expect(screen.locator("#door-text")).to_contain_text("Bonjour Alice")
        expect(wall.locator("#month-uses")).to_have_text(str(month_before + 1), timeout=10_000)
        deadline = time.monotonic() + 20
        while hub_total(hub, urls["hub"], "la-filature") != hub_before + 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert hub_total(hub, urls["hub"], "la-filature") == hub_before + 1
        expect(simulator.locator("#state")).to_contain_text("ouverte")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        reader.join(5)
        process.stdout.close()
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "Tout est arrêté." in output
    assert descendants_alive(root) == []
