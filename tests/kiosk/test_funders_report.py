"""The funders' report in a standalone site's admin: months of activity written through the appliance's own write
paths (entries as the door's journal replays them, bookings as the desk books them) give a page, a PDF and a CSV
whose figures the test counts again from the raw events."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from access import funders
from access.bookings import BookingRefused, book
from access.models import Booking, Event, Guest, Member, Pass, Plan, Subscription
from access.resources import ResourceSpec, add_resource
from access.store import Rescued, Stamp, replay_events
from common.report import KINDS, Period, Report
from common.words import Slot
from tests.support.activity import Activity, expected, generate
from tests.support.site import MANAGER_PASSWORD, Site
from tests.sync.test_funders_pages import DAYS, KIND_LABELS, rows_after

MONTHS = [(2026, 9), (2026, 10), (2026, 11)]
ROOMS = {"office": "Bureau 1", "meeting_room": "Salle du Lot", "phone_box": "Cabine"}


def write_activity(site: Site) -> Activity:
    config = site.config.site
    stamp = Stamp(dt.datetime(2026, 8, 31, 8, tzinfo=dt.UTC), 1, "boot", True)
    with site.db.write() as s:
        subs = s.execute(select(Subscription.member_id, Subscription.id, Plan.kind).join(Plan)).all()
        rooms = {kind: add_resource(s, ResourceSpec(name, kind)).id for kind, name in ROOMS.items()}
    subscription_of = {member: sub for member, sub, _kind in subs}
    carnets = {sub for _member, sub, kind in subs if kind == "carnet"}
    act = generate(subscription_of, carnets, [config.id], MONTHS, seed=5)
    kept = []
    with site.db.write() as s:
        entries = [
            Rescued(f"{i:032x}", "entry", data, stamp)
            for i, (kind, data) in enumerate(act.events[config.id])
            if kind == "entry"
        ]
        replay_events(s, config.id, config.device, entries)
    for kind, data in act.events[config.id]:
        if kind == "booking":
            half_days = [(dt.date.fromisoformat(p["date"]), Slot(p["slot"])) for p in data["slots"]]
            try:
                with site.db.write() as s:
                    book(
                        s,
                        resource_id=rooms[data["resource_kind"]],
                        half_days=half_days,
                        name="Léa",
                        origin="admin",
                        device_id=config.device,
                        stamp=stamp,
                        paid_by="counter",
                        member_id=data["holder"],
                        today=dt.date(2026, 8, 31),
                        site_id=config.id,
                    )
            except BookingRefused:
                continue  # a closed day of the sample site: not booked, not counted
        kept.append((kind, data))
    act.events[config.id] = kept
    return act


@pytest.fixture
def activity(site: Site) -> Activity:
    return write_activity(site)


@pytest.fixture
def manager(client: FlaskClient, site: Site) -> FlaskClient:
    site.set_password()
    response = client.post("/admin/login", data={"password": MANAGER_PASSWORD, "csrf_token": token(client)})
    assert response.status_code == 302
    return client


def token(client: FlaskClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True))
    assert found
    return found.group(1)


def test_the_site_s_figures_are_those_of_the_raw_events(site: Site, activity: Activity) -> None:
    config = site.config.site
    for period, months in ((Period(2026, 11), [(2026, 11)]), (Period(2026), [(2026, m) for m in range(1, 13)])):
        with site.db.read() as s:
            report = funders.report(s, period, config.id, config.name, config.monthly_target)
        want = expected(activity, [config.id], months)
        got = report.network
        assert got.uses == {k: want.uses.get(k, 0) for k in KINDS}
        assert sum(want.uses.get(k, 0) for k in ("offices", "meeting_room", "other_rooms")) > 0
        assert got.people == {w: want.people.get(w, 0) for w in ("member", "walk_in", "guest")}
        assert (got.new_members, got.came_back) == (want.new_members, want.came_back)
        assert {k: v for k, v in got.week.items() if v} == want.week
        assert {m: got.trend_total(m) for m in period.trend} == want.trend
        assert report.target(got) == config.monthly_target * len(months)


def test_the_pdf_and_the_csv_carry_the_same_figures(
    manager: FlaskClient, site: Site, activity: Activity, tmp_path: Path
) -> None:
    want = expected(activity, [site.config.site.id], [(2026, 10)])
    usage = {KIND_LABELS[k]: want.uses.get(k, 0) for k in KIND_LABELS} | {"Total": sum(want.uses.values())}
    response = manager.get("/admin/report/report.pdf?period=2026-10")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    path = tmp_path / "r.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    assert site.config.association.name in text
    assert {row[0]: int(row[-1]) for row in rows_after(text, "Type d'usage", 7)} == usage
    week = {row[0]: [int(n) for n in row[1:]] for row in rows_after(text, "Jour ", 7)}
    assert week == {
        DAYS[d]: [
            want.week.get((d, "morning"), 0),
            want.week.get((d, "afternoon"), 0),
            sum(want.week.get((d, s), 0) for s in ("morning", "afternoon")),
        ]
        for d in range(7)
    }
    body = manager.get("/admin/report/report.csv?period=2026-10").get_data(as_text=True)
    cells = {(a, b, c): v for a, b, c, v in csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";")}
    assert {label: int(cells[("usage", label, "Demi-journées")]) for label in usage} == usage
    assert cells[("personnes", "Nouveaux membres", "Nombre")] == str(want.new_members)
    assert cells[("personnes", "Membres revenus", "Nombre")] == str(want.came_back)
    page = manager.get("/admin/report?period=2026-10").get_data(as_text=True)
    assert f'data-label="Demi-journées">{sum(want.uses.values())}</td>' in page and "<svg" in page


def test_the_report_needs_the_manager_and_a_real_period(client: FlaskClient, manager: FlaskClient) -> None:
    for period in ("2026-13", "20261", "novembre"):
        response = manager.get("/admin/report", query_string={"period": period})
        assert response.status_code == 400 and "Période" in response.get_data(as_text=True)
    manager.post("/admin/logout", data={"csrf_token": token(manager)})
    for path in ("/admin/report", "/admin/report/report.pdf", "/admin/report/report.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_the_figures_stay_when_the_access_log_is_reduced_and_names_are_gone(site: Site, activity: Activity) -> None:
    config = site.config.site

    def reports() -> list[Report]:
        with site.db.read() as s:
            return [
                funders.report(s, period, config.id, config.name, config.monthly_target)
                for period in (Period(2026, 10), Period(2026))
            ]

    before = reports()
    with site.db.write() as s:
        s.execute(update(Event).values(data={}))
        s.execute(update(Member).values(first_name="", last_name="", email=None))
        s.execute(update(Booking).values(name="", email=None))
        s.execute(update(Guest).values(name=""))
        s.execute(update(Pass).values(holder_name=""))
    assert reports() == before
