"""The funders' report's counts at the hub, kept by ingestion, on both databases: after a network's months, resent
batches, a use another door of the site had already recorded, a second door's own uses and cancelled bookings,
the counts are those made anew from the uses, the figures those of the raw events; the migration that brought the
counts counts the uses already stored the same way."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alembic import command
from sqlalchemy import select

from common.report import Period
from sync.hub import funders, report_counts
from sync.hub.db import HubDatabase, alembic_config, head_revision
from sync.hub.ingest import Ingestor
from sync.hub.models import ReportPresence, ReportTally, Use
from sync.payloads import validate_batch
from tests.support.activity import Activity, booking, entry, hexid
from tests.sync.devicesim import make_event
from tests.sync.test_funders_report import assert_figures, network, send_all

Row = tuple[Any, ...]


def kept(db: HubDatabase) -> tuple[list[Row], list[Row]]:
    """Every row of the two counts tables, in order."""
    with db.read() as s:
        tallies = sorted(tuple(r) for r in s.execute(select(*ReportTally.__table__.c)))
        presences = sorted(tuple(r) for r in s.execute(select(*ReportPresence.__table__.c)))
    return tallies, presences


def send(db: HubDatabase, site: str, device: str, first_seq: int, events: list[tuple[str, dict[str, Any]]]) -> int:
    """One batch of `events` from `device`, numbered from `first_seq`; returns the next seq."""
    made = [make_event(site, device, first_seq + i, kind, data) for i, (kind, data) in enumerate(events)]
    Ingestor(db, gap_wait_s=0).ingest(validate_batch({"v": 1, "site": site, "device": device, "events": made}))
    return first_seq + len(made)


def cancel(act: Activity, site: str) -> tuple[str, dict[str, Any]]:
    """The cancellation of the site's first booking, which leaves the activity (its half-days are no uses)."""
    index, data = next((i, d) for i, (kind, d) in enumerate(act.events[site]) if kind == "booking")
    del act.events[site][index]
    return "booking_cancelled", {"group": data["group"], "bookings": [p["id"] for p in data["slots"]], "by": "holder"}


def test_counts_kept_by_ingestion_are_those_of_the_uses_and_the_figures_those_of_the_events(
    hub_db: HubDatabase,
) -> None:
    act = network(hub_db)
    send_all(hub_db, act)  # every batch resent: duplicates, counted once
    site = "site-a"
    seq = len(act.events[site]) + 1
    # A booking and its cancellation in one batch, and a booking of before cancelled: neither counts any more.
    office = act.resources[site]["office"]
    late = booking(office, "office", None, [(dt.date(2026, 11, 30), "morning")], None)
    late_cancel = {"group": late["group"], "bookings": [late["slots"][0]["id"]], "by": "holder"}
    seq = send(hub_db, site, "door-1", seq, [("booking", late), ("booking_cancelled", late_cancel), cancel(act, site)])
    # A second door: a use the first door had already recorded (counted once, as the first door's) and its own.
    first = next(data for kind, data in act.events[site] if kind == "entry" and data["use"]["pass"] is None)
    newcomer = entry(hexid(), dt.date(2026, 11, 27), "afternoon", 0, None, hexid())
    send(hub_db, site, "door-2", 1, [("entry", first), ("entry", newcomer)])
    act.events[site].append(("entry", newcomer))
    with hub_db.read() as s:
        assert s.scalar(select(Use.holder_id).where(Use.device_id == "door-2")) == newcomer["holder"]
        doors = {r[0] for r in s.execute(select(ReportTally.device_id).where(ReportTally.site_id == site))}
    assert doors == {"door-1", "door-2"}

    by_ingestion = kept(hub_db)
    assert by_ingestion[0] and by_ingestion[1]
    with hub_db.write() as s:
        report_counts.rebuild(s)
    assert kept(hub_db) == by_ingestion
    with hub_db.read() as s:
        month, year = funders.report(s, Period(2026, 11)), funders.report(s, Period(2026))
    assert_figures(month, act, [(2026, 11)])
    assert_figures(year, act, [(2026, m) for m in range(1, 13)])


def test_the_migration_counts_the_uses_already_stored_as_ingestion_does(hub_db: HubDatabase) -> None:
    act = network(hub_db)
    send(hub_db, "site-b", "door-1", len(act.events["site-b"]) + 1, [cancel(act, "site-b")])
    by_ingestion = kept(hub_db)
    with hub_db.engine.begin() as connection:
        cfg = alembic_config(hub_db.url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0011")
    assert hub_db.migrate() == head_revision()
    assert kept(hub_db) == by_ingestion
    with hub_db.read() as s:
        assert_figures(funders.report(s, Period(2026, 10)), act, [(2026, 10)])
