"""Automated WCAG 2.1 AA audits of a page, with axe-core run inside Debian's Chromium by Playwright.

axe-core comes from npm (package.json, package-lock.json at the root; `make test` installs it in node_modules/).
The API is small on purpose, for the kiosk's pages and the hub's alike:

    audit(page) -> list[Violation]          what axe finds on the page as it is now
    assert_accessible(page, what)           fails with one readable line per violation
    assert_no_horizontal_scroll(page, what) fails when the page is wider than the window
    SIZES                                   the screens people use, name -> (width, height)
    keep_picture(page, name, folder)        a full-page picture under artifacts/, with HALFDAY_SCREENSHOTS=1

The script is evaluated through the browser's debugging protocol, which the page's Content-Security-Policy does not
govern: the applications keep their strict policy (no inline script, no eval) and the audit needs no exception.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_SCRIPT = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# The screens people use: the appliance's 7-inch touchscreen, a TV on the wall, a laptop, a phone.
SIZES: dict[str, tuple[int, int]] = {
    "touchscreen": (800, 480),
    "tv": (1920, 1080),
    "laptop": (1366, 768),
    "phone": (390, 844),
}
# WCAG 2.0 and 2.1, levels A and AA: what a public service's pages are held to in France (RGAA).
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")


@dataclass(frozen=True)
class Violation:
    """One axe rule a page fails: the rule, how much it hurts, what it asks, and where."""

    id: str  # axe's rule, e.g. "color-contrast"
    impact: str  # minor, moderate, serious or critical
    help: str  # what the rule asks, in one sentence
    targets: tuple[str, ...]  # a CSS selector for each element that fails it
    summary: str  # axe's account of the first failure (for contrast, the colours and the ratio measured)

    def __str__(self) -> str:
        return f"{self.id} ({self.impact}): {self.help} — {', '.join(self.targets)}\n    {self.summary}"


@cache
def axe_source(script: Path = AXE_SCRIPT) -> str:
    """axe-core's script, read once. A machine without it fails the audit loudly: it must not pass unaudited."""
    if not script.is_file():
        raise AssertionError(f"{script} is missing: run `make test` (it installs axe-core with npm ci)")
    return script.read_text(encoding="utf-8")


def _selector(target: Any) -> str:
    # A target is a list of selectors, one per frame or shadow root crossed (a nested list within a shadow root).
    return " >>> ".join(_selector(part) if isinstance(part, list) else str(part) for part in target)


def audit(page: Page) -> list[Violation]:
    """Run axe-core's WCAG 2.1 A and AA rules on the page as it is now; what it violates, most severe first."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    options = {"runOnly": {"type": "tag", "values": list(WCAG_TAGS)}, "resultTypes": ["violations"]}
    raw = page.evaluate("options => axe.run(document, options).then(r => JSON.stringify(r.violations))", options)
    order = ["critical", "serious", "moderate", "minor"]
    found = [
        Violation(
            id=v["id"],
            impact=v.get("impact") or "minor",
            help=v["help"],
            targets=tuple(_selector(node["target"]) for node in v["nodes"]),
            summary=" ".join((v["nodes"][0].get("failureSummary") or "").split()) if v["nodes"] else "",
        )
        for v in json.loads(raw)
    ]
    return sorted(found, key=lambda v: order.index(v.impact) if v.impact in order else len(order))


def assert_accessible(page: Page, what: str) -> None:
    """Fail, naming `what` (the page and the screen size), when axe finds any WCAG 2.1 AA violation."""
    violations = audit(page)
    assert not violations, f"{what}: {len(violations)} WCAG 2.1 AA violation(s)\n" + "\n".join(
        f"  - {v}" for v in violations
    )


def assert_no_horizontal_scroll(page: Page, what: str) -> None:
    """Fail when the page is wider than its window, so that a reader would have to scroll sideways."""
    scroll_width, inner_width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner_width, (
        f"{what}: the page is {scroll_width} px wide in a {inner_width} px window (it scrolls sideways): "
        + ", ".join(page.evaluate(_WIDEST))
    )


# What reaches past the window's right edge, outermost first: named in the failure, so a fix needs no debugging.
_WIDEST = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
            + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
            + ' (' + Math.round(e.getBoundingClientRect().right) + ' px)')"""


ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "accessibility"


def keep_picture(page: Page, name: str, folder: str = "") -> None:
    """Save the whole page, as audited, under artifacts/accessibility/FOLDER, to look at by eye. Only when asked
    (`HALFDAY_SCREENSHOTS=1 make unit`): the pictures took about a third of the audits' time on every run."""
    if os.environ.get("HALFDAY_SCREENSHOTS") != "1":
        return
    size = page.viewport_size
    assert size is not None
    target = ARTIFACTS / folder
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}-{size['width']}x{size['height']}.png"), full_page=True)
