"""The wall display's figures and chart, from uses and entries recorded the way the door records them."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from markupsafe import Markup

from access.ledger import SlotRules
from access.policy import apply, decide
from access.store import Stamp, load_state, record_entry
from halfday.sample import ALICE, BRUNO, UNKNOWN
from kiosk.chart import ChartLabels, month_chart
from kiosk.occupancy import read_occupancy
from tests.support.site import Site

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
RULES = SlotRules(PARIS)  # 08:00-13:00-20:00


def at(hour: int, day: int = 23) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=PARIS).astimezone(dt.UTC)


def tap(site: Site, uid: str, when: dt.datetime) -> None:
    with site.db.write() as s:
        state = load_state(s, RULES, "le-local", "door-1", when.astimezone(PARIS).date())
        decision = decide(uid, when, state)
        record_entry(s, "le-local", "door-1", decision, Stamp(when, 1, "boot", True))
        apply(decision, state)


def test_present_counts_holders_of_the_current_slot(site: Site) -> None:
    tap(site, ALICE, at(9, day=2))  # earlier this month
    tap(site, ALICE, at(9))
    tap(site, ALICE, at(10))  # re-entry: no new use
    tap(site, BRUNO, at(11))
    tap(site, UNKNOWN, at(11))  # refused: no use
    tap(site, BRUNO, at(14))
    with site.db.read() as s:
        morning = read_occupancy(s, "le-local", at(12), RULES, 20, 200)
        afternoon = read_occupancy(s, "le-local", at(15), RULES, 20, 200)
        next_month = read_occupancy(s, "le-local", at(9, day=1).replace(month=12), RULES, 20, 200)
    assert (morning.present, morning.morning, morning.afternoon, morning.month_uses) == (2, 2, 1, 4)
    assert morning.daily == {dt.date(2026, 11, 2): 1, dt.date(2026, 11, 23): 3}
    assert (afternoon.slot, afternoon.present, afternoon.afternoon, afternoon.month_uses) == ("afternoon", 1, 1, 4)
    assert next_month.month_uses == 0 and next_month.present == 0
    assert [(a.first_name, a.at.hour) for a in afternoon.arrivals] == [
        ("Bruno", 14),
        ("Bruno", 11),
        ("Alice", 10),
        ("Alice", 9),
    ]
    assert morning.fill_percent == 10 and afternoon.target_percent == 2


def test_chart_draws_days_running_total_and_target_pace() -> None:
    daily = {dt.date(2026, 11, 2): 3, dt.date(2026, 11, 3): 5}
    labels = ChartLabels("Demi-journées <du> mois", "objectif 200", "8")
    svg = month_chart(daily, dt.date(2026, 11, 1), dt.date(2026, 11, 3), 200, labels)
    assert isinstance(svg, Markup) and svg.startswith("<svg")
    assert len(re.findall(r'<rect class="day"', svg)) == 2
    assert 'class="pace"' in svg and "objectif 200" in svg
    points = re.search(r'<polyline class="total" points="([^"]+)"', svg)
    assert points is not None and len(points.group(1).split()) == 4  # origin + 3 days
    assert "&lt;du&gt;" in svg and "<du>" not in svg  # labels are escaped


def test_chart_of_a_month_without_target_or_uses() -> None:
    svg = month_chart({}, dt.date(2026, 2, 1), dt.date(2026, 2, 10), 0, ChartLabels("t", "objectif 0", "0"))
    assert 'class="pace"' not in svg and ">28<" not in svg and ">25<" in svg
    points = re.search(r'<polyline class="total" points="([^"]+)"', svg)
    assert points is not None and len({p.split(",")[1] for p in points.group(1).split()}) == 1  # flat at zero
