"""Benchmark: the funders' report on PostgreSQL, for a year of a 50-site network (about 500,000 half-day uses).

The rows are written as the hub holds them once ingested (members, subscriptions, room bookings, uses, COPied in,
and the report's counts of the uses, sync/hub/report_counts.py): members on carnets and unlimited plans who come
most months (some to a second site), walk-ins with passes, members' guests, and bookings of offices, meeting rooms
and phone boxes. Timed: the yearly report of the whole
network and one site's monthly report, each computed (common/report_query.py, every query) and drawn as the page's
HTML (sync/hub/web, charts included), the way a manager waits for it, and computed alone. p95 over RUNS runs each;
the machine's load average goes with the figures (a shared machine's timings are read against it).

Targets: yearly network report <= TARGET_YEAR_S, one site's month <= TARGET_MONTH_MS.

Run: python -m bench.report  (last line: one JSON object)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from common.report import Period
from sync.hub import funders, report_counts
from sync.hub.db import HubDatabase
from sync.hub.models import Booking, Member, Plan, Site, Subscription
from tests.support.hub import add_admin, hub_app, sign_in
from tests.support.pg import fresh_database

SITES = 50
MEMBERS_PER_SITE = 150
YEAR = 2026
RUNS = 9
# What a network admin may wait for once a month or a year, printing a report for the funders.
TARGET_YEAR_S = 2.0
# A site's month is opened many times (each manager, each month): as fast as the other pages of the hub.
TARGET_MONTH_MS = 200.0
SLOTS = ("morning", "afternoon")
ROOMS = (("office", 0.04), ("meeting_room", 0.03), ("phone_box", 0.01))


def hexid() -> str:
    return uuid.uuid4().hex


def generate(db: HubDatabase, rng: random.Random) -> int:
    """Write the network's year; returns the number of uses."""
    year_days = [dt.date(YEAR, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    open_days = [d for d in year_days if d.weekday() < 5 or rng.random() < 0.1]
    sites = [f"site-{i:02d}" for i in range(SITES)]
    members: list[dict[str, Any]] = []
    subs: list[dict[str, Any]] = []
    bookings: list[dict[str, Any]] = []
    uses: list[tuple[Any, ...]] = []
    carnet, unlimited = hexid(), hexid()
    taken: set[tuple[str, str, dt.date, str]] = set()

    def use(holder: str, site: str, day: dt.date, slot: str, **extra: Any) -> None:
        if (holder, site, day, slot) in taken:
            return
        taken.add((holder, site, day, slot))
        at = dt.datetime.combine(day, dt.time(9 if slot == "morning" else 14), dt.UTC)
        row = {"subscription_id": None, "pass_id": None, "resource_id": None, "resource_kind": None, "spent": 0}
        row.update(extra)
        uses.append(
            (
                hexid(),
                holder,
                site,
                "door-1",
                len(uses) + 1,
                day,
                slot,
                row["spent"],
                row["subscription_id"],
                row["pass_id"],
                at,
                row["resource_id"],
                row["resource_kind"],
            )
        )

    for s, site in enumerate(sites):
        people = []
        for _ in range(MEMBERS_PER_SITE):
            member, sub, is_carnet = hexid(), hexid(), rng.random() < 0.5
            members.append({"id": member, "first_name": "Membre", "last_name": site, "home_site_id": site})
            subs.append(
                {
                    "id": sub,
                    "member_id": member,
                    "plan_id": carnet if is_carnet else unlimited,
                    "credited": 500 if is_carnet else 0,
                }
            )
            people.append((member, sub, is_carnet, rng.uniform(0.03, 0.15)))
        rooms = {kind: hexid() for kind, _share in ROOMS}
        for day in open_days:
            for slot in SLOTS:
                for member, sub, is_carnet, pace in people:
                    if rng.random() < pace:
                        there = site if rng.random() < 0.9 else sites[(s + 1) % SITES]
                        use(member, there, day, slot, subscription_id=sub, spent=int(is_carnet))
                for _ in range(rng.randint(0, 6)):
                    pass_id = hexid()
                    use(pass_id, site, day, slot, pass_id=pass_id)
                if rng.random() < 0.05:
                    host = rng.choice(people)
                    use(hexid(), site, day, slot, subscription_id=host[1])
                for kind, share in ROOMS:
                    if rng.random() < share * 10:
                        row, group = hexid(), hexid()
                        holder = rng.choice(people)[0] if rng.random() < 0.6 else None
                        bookings.append(
                            {
                                "id": row,
                                "group_id": group,
                                "site_id": site,
                                "resource_id": rooms[kind],
                                "local_date": day,
                                "slot": slot,
                                "holder_id": holder,
                                "name": "Léa",
                                "paid_by": "counter",
                                "origin": "kiosk",
                                "event_id": hexid(),
                                "at": dt.datetime.combine(day, dt.time(8), dt.UTC),
                            }
                        )
                        use(row, site, day, slot, resource_id=rooms[kind], resource_kind=kind)
    with db.write() as session:
        session.execute(insert(Site), [{"id": s, "name": f"Tiers-lieu {s}", "monthly_target": 800} for s in sites])
        session.execute(
            insert(Plan),
            [
                {"id": carnet, "name": "Carnet 10", "kind": "carnet", "half_days": 10},
                {"id": unlimited, "name": "Illimité", "kind": "unlimited"},
            ],
        )
        session.execute(insert(Member), members)
        session.execute(insert(Subscription), subs)
        session.execute(insert(Booking), bookings)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = (
            "event_id, holder_id, site_id, device_id, seq, local_date, slot, spent, subscription_id, pass_id, "
            "at, resource_id, resource_kind"
        )
        with cursor.copy(f"COPY uses ({columns}) FROM STDIN") as copy:
            for use_row in uses:
                copy.write_row(use_row)
        raw.commit()
    finally:
        raw.close()
    # The uses went around the ingestion: counted for the report as migration 0012 counts uses already stored.
    with db.write() as session:
        report_counts.rebuild(session)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return len(uses)


def backend_cpu_s(db: HubDatabase, period: Period, sites: set[str] | None) -> float | None:
    """The CPU time PostgreSQL's backend spends on one report, its parallel workers off so that it does all the
    work: unlike the wall time, it hardly moves with the load of a shared machine. None without /proc (not Linux)."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu(pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / tick

    with funders.one_state(db) as session:
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        before = cpu(pid)
        funders.report(session, period, sites)
        after = cpu(pid)
    return None if before is None or after is None else round(after - before, 3)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(run: Callable[[], object], runs: int) -> list[float]:
    run()  # warm: the first run pays the plan cache and the templates' compilation
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        out.append(time.perf_counter() - started)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    rng = random.Random(17)
    with fresh_database("halfday_bench_report") as url:
        db = HubDatabase(url)
        db.create_all()
        started = time.perf_counter()
        count = generate(db, rng)
        print(f"{count} uses written in {time.perf_counter() - started:.1f} s")
        with db.read() as session:
            figures = funders.report(session, Period(YEAR)).network
        print(f"year: {figures.total} uses, {figures.people_total} people, {figures.new_members} new members")
        add_admin(db)
        client = hub_app(db).test_client()
        sign_in(client)

        def page(path: str) -> Callable[[], object]:
            def get() -> object:
                response = client.get(path)
                assert response.status_code == 200, response.status_code
                return response.data

            return get

        def compute(period: Period, sites: set[str] | None) -> Callable[[], object]:
            def run() -> object:
                with funders.one_state(db) as session:
                    return funders.report(session, period, sites)

            return run

        year_s = timed(page(f"/reports?period={YEAR}"), args.runs)
        month_s = timed(page(f"/reports?period={YEAR}-11&site=site-07"), args.runs)
        year_compute_s = timed(compute(Period(YEAR), None), args.runs)
        month_compute_s = timed(compute(Period(YEAR, 11), {"site-07"}), args.runs)
        year_cpu = min(filter(None, (backend_cpu_s(db, Period(YEAR), None) for _ in range(3))), default=None)
        month_cpu = min(
            filter(None, (backend_cpu_s(db, Period(YEAR, 11), {"site-07"}) for _ in range(3))), default=None
        )
        db.dispose()
    result = {
        "uses": count,
        "sites": SITES,
        "runs": args.runs,
        "year_network_s": round(p95(year_s), 3),
        "year_network_median_s": round(statistics.median(year_s), 3),
        "month_site_ms": round(p95(month_s) * 1e3, 1),
        "month_site_median_ms": round(statistics.median(month_s) * 1e3, 1),
        "year_network_compute_s": round(p95(year_compute_s), 3),
        "month_site_compute_ms": round(p95(month_compute_s) * 1e3, 1),
        # PostgreSQL's own CPU time for one report, on one core (the best of three).
        "year_network_backend_cpu_s": year_cpu,
        "month_site_backend_cpu_ms": None if month_cpu is None else round(month_cpu * 1e3),
        "target_year_network_s": TARGET_YEAR_S,
        "target_month_site_ms": TARGET_MONTH_MS,
        "measured": "p95 of the page (compute and render, charts included, network admin) and of compute alone",
        # The machine's load while measuring: a shared machine's figures are read against it.
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
