"""The funders' report at the hub, on both databases: a few months of a network's activity, ingested as the
doors send it, give figures that the test counts again from the raw events."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from common.report import KINDS, Period, PeriodError, Report
from sync.hub import admin, funders
from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import Booking, Event, Member
from sync.payloads import validate_batch
from tests.support.activity import Activity, expected, generate
from tests.sync.devicesim import make_event

SITES = {"site-a": ("Le Local", 60), "site-b": ("La Fabrique", 40)}
MONTHS = [(2026, 8), (2026, 9), (2026, 10), (2026, 11)]


def send_all(db: HubDatabase, act: Activity) -> None:
    for site, events in act.events.items():
        made = [make_event(site, "door-1", i + 1, kind, data) for i, (kind, data) in enumerate(events)]
        for start in range(0, len(made), 1000):
            batch = {"v": 1, "site": site, "device": "door-1", "events": made[start : start + 1000]}
            Ingestor(db, gap_wait_s=0).ingest(validate_batch(batch))


def network(db: HubDatabase) -> Activity:
    for site, (name, target) in SITES.items():
        admin.add_site(db, site, name, fields=admin.SiteFields(name, monthly_target=target))
    admin.add_site(db, "site-c", "Le Garage", fields=admin.SiteFields("Le Garage", monthly_target=20))
    carnet = admin.add_plan(db, "Carnet 10", "carnet", half_days=10)
    unlimited = admin.add_plan(db, "Illimité", "unlimited")
    subscription_of, carnets = {}, set()
    for i in range(12):
        member = admin.add_member(db, f"Membre{i}", "Test")
        sub = admin.add_subscription(db, member, carnet if i % 2 else unlimited)
        subscription_of[member] = sub
        if i % 2:
            carnets.add(sub)
    act = generate(subscription_of, carnets, list(SITES), MONTHS)
    send_all(db, act)
    return act


def assert_figures(report: Report, act: Activity, months: list[tuple[int, int]]) -> None:
    figures = {s.site_id: s.figures for s in report.sites}
    assert set(figures) == {"site-a", "site-b", "site-c"}
    for site, got in [*((s, figures[s]) for s in SITES), ("network", report.network)]:
        want = expected(act, list(SITES) if site == "network" else [site], months)
        assert got.uses == {kind: want.uses.get(kind, 0) for kind in KINDS}, site
        assert got.total == sum(want.uses.values()) > 0
        assert got.people == {who: want.people.get(who, 0) for who in ("member", "walk_in", "guest")}, site
        assert (got.new_members, got.came_back) == (want.new_members, want.came_back), site
        assert {k: v for k, v in got.week.items() if v} == want.week, site
        assert {m: got.trend_total(m) for m in report.period.trend} == want.trend, site
    assert figures["site-c"].total == 0 and figures["site-c"].people_total == 0


def test_a_month_and_a_year_of_the_network_are_counted_as_the_raw_events_say(hub_db: HubDatabase) -> None:
    act = network(hub_db)
    with hub_db.read() as s:
        month = funders.report(s, Period(2026, 11))
        year = funders.report(s, Period(2026))
    assert_figures(month, act, [(2026, 11)])
    assert_figures(year, act, [(2026, m) for m in range(1, 13)])
    # The generated months hold members who came back, and in the year every member is new.
    assert month.network.came_back > 0 and year.network.new_members == len(act.members)
    # Targets: the month's, twelve months' for a year, the sum of the sites for the network.
    assert month.target(month.network) == 120 and year.target(year.network) == 12 * 120
    site_a = month.sites[0].figures
    assert month.percent(site_a) == round(100 * site_a.total / 60)
    # The network counts a roaming member once: never more people than the sites together.
    assert month.network.people["member"] <= sum(s.figures.people["member"] for s in month.sites)


def test_a_site_manager_s_report_counts_their_sites_only(hub_db: HubDatabase) -> None:
    act = network(hub_db)
    with hub_db.read() as s:
        report = funders.report(s, Period(2026, 10), sites={"site-b"})
    assert [x.site_id for x in report.sites] == ["site-b"]
    want = expected(act, ["site-b"], [(2026, 10)])
    assert report.network.total == sum(want.uses.values())
    assert report.network.people_total == sum(want.people.values())


@pytest.mark.parametrize("raw", ["", "2026-13", "26-11", "2026-1", "1999", "novembre", "2026-11; DROP"])
def test_a_wrong_period_is_refused_with_the_reason(raw: str) -> None:
    with pytest.raises(PeriodError):
        Period.parse(raw)


def test_the_figures_stay_when_the_access_log_is_reduced_and_names_are_gone(hub_db: HubDatabase) -> None:
    """After three months the access log no longer names anyone and members may be erased: the report reads the
    uses and the rows they name by id, so nothing it counts changes."""
    network(hub_db)
    with hub_db.read() as s:
        before = [funders.report(s, Period(2026, 11)), funders.report(s, Period(2026))]
    with hub_db.write() as s:
        s.execute(update(Event).values(data={}))
        s.execute(update(Member).values(first_name="", last_name="", email=None))
        s.execute(update(Booking).values(name=""))
    with hub_db.read() as s:
        after = [funders.report(s, Period(2026, 11)), funders.report(s, Period(2026))]
    assert after == before
