"""How the tests and benchmarks launch Debian's Chromium (never a browser of Playwright's own)."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The kiosk session plays its sound cues without a first touch (see systemd/'s Chromium unit).
    "--autoplay-policy=no-user-gesture-required",
]
