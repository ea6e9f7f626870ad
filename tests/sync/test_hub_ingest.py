"""Exactly-once ingestion at the hub, on SQLite and PostgreSQL: duplicates, gaps, reordering, concurrent workers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select

from sync.hub.db import HubDatabase
from sync.hub.ingest import Ingestor
from sync.hub.models import DeviceCursor, Event, Sale, Use
from sync.payloads import validate_batch
from tests.sync.devicesim import make_event

MEMBER = "a" * 32
SUB = "c" * 32
PASS = "f" * 32


def batch_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return validate_batch({"v": 1, "site": events[0]["site"], "device": events[0]["device"], "events": events})


def stored(db: HubDatabase) -> list[tuple[str, str, int]]:
    with db.read() as session:
        rows = session.execute(select(Event.site_id, Event.device_id, Event.seq).order_by(Event.seq))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_duplicates_are_stored_once_and_acked(hub_db: HubDatabase) -> None:
    events = [make_event("site-a", "door-1", seq) for seq in range(1, 11)]
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    first = ingestor.ingest(batch_of(events[:6]))
    assert (first.acked, first.stored) == (6, 6)
    again = ingestor.ingest(batch_of(events[:6]))
    assert (again.acked, again.stored, again.duplicates) == (6, 0, 6)
    overlap = ingestor.ingest(batch_of(events[3:]))
    assert (overlap.acked, overlap.stored, overlap.duplicates) == (10, 4, 3)
    assert [seq for _, _, seq in stored(hub_db)] == list(range(1, 11))


def test_nothing_past_a_gap_is_committed_and_the_ack_says_where_to_resend(hub_db: HubDatabase) -> None:
    events = [make_event("site-a", "door-1", seq) for seq in range(1, 31)]
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    ingestor.ingest(batch_of(events[:10]))
    late = ingestor.ingest(batch_of(events[20:]))
    assert (late.acked, late.stored, late.beyond_gap) == (10, 0, 10)
    assert len(stored(hub_db)) == 10
    ingestor.ingest(batch_of(events[10:20]))
    assert ingestor.ingest(batch_of(events[20:])).acked == 30
    assert [seq for _, _, seq in stored(hub_db)] == list(range(1, 31))


def test_batches_in_any_order_end_with_every_event_once(hub_db: HubDatabase) -> None:
    events = [make_event("site-a", "door-1", seq) for seq in range(1, 201)]
    batches = [batch_of(events[i : i + 20]) for i in range(0, 200, 20)]
    order = batches * 2
    random.Random(7).shuffle(order)
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    acked = 0
    while acked < 200:  # the device resends from the ack until everything is in
        for b in order:
            acked = max(acked, ingestor.ingest(b).acked)
    assert [seq for _, _, seq in stored(hub_db)] == list(range(1, 201))


def test_two_workers_on_one_device_commit_in_order_exactly_once(hub_db: HubDatabase) -> None:
    """Consecutive batches handed to two workers at once: the gap wait lets the later one follow the earlier."""
    events = [make_event("site-a", "door-1", seq) for seq in range(1, 2001)]
    batches = [batch_of(events[i : i + 100]) for i in range(0, 2000, 100)]
    ingestors = [Ingestor(hub_db, gap_wait_s=2.0), Ingestor(hub_db, gap_wait_s=2.0)]
    acks: list[int] = []

    def work(index: int) -> None:
        for b in batches[index::2]:
            acks.append(ingestors[index].ingest(b).acked)

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(acks) == 2000
    assert [seq for _, _, seq in stored(hub_db)] == list(range(1, 2001))
    with hub_db.read() as session:
        assert session.execute(select(DeviceCursor.seq)).scalar_one() == 2000


def test_devices_have_separate_streams(hub_db: HubDatabase) -> None:
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    for site, device in (("site-a", "door-1"), ("site-a", "door-2"), ("site-b", "door-1")):
        assert ingestor.ingest(batch_of([make_event(site, device, s) for s in (1, 2, 3)])).acked == 3
    assert len(stored(hub_db)) == 9


def test_uses_and_sales_are_derived_once(hub_db: HubDatabase) -> None:
    use = {"date": "2026-11-23", "slot": "morning", "spent": 1, "subscription": SUB, "pass": None}
    entry = {"uid": "A1B2C3D4", "holder": MEMBER, "granted": True, "reason": "carnet", "plan": None, "use": use}
    reentry = {**entry, "use": None}
    sale = {
        "sale": "5" * 32,
        "kind": "pass_halfday",
        "amount_cents": 800,
        "provider": "counter",
        "paid": False,
        "pass": PASS,
        "date": "2026-11-23",
        "slots": ["afternoon"],
        "name": "Léa",
        "email": "lea@example.org",
    }
    events = [
        make_event("site-a", "door-1", 1, "entry", entry),
        make_event("site-a", "door-1", 2, "entry", reentry),
        make_event("site-a", "door-1", 3, "sale", sale),
        make_event("site-a", "door-1", 4, "sale_paid", {"sale": "5" * 32}),
        make_event("site-a", "door-1", 5, "entry", {**entry, "use": {**use, "slot": "noon"}}),
    ]
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    ingestor.ingest(batch_of(events))
    ingestor.ingest(batch_of(events))
    with hub_db.read() as session:
        uses = session.execute(select(Use)).scalars().all()
        assert [(u.holder_id, u.slot, u.spent) for u in uses] == [(MEMBER, "morning", 1)]
        first_at = dt.datetime(2026, 11, 23, 8, 0, 1, tzinfo=dt.UTC)
        assert (uses[0].at, uses[0].local_date, uses[0].subscription_id, uses[0].pass_id) == (
            first_at,
            dt.date(2026, 11, 23),
            SUB,
            None,
        )
        at, received_at = session.execute(select(Event.at, Event.received_at).where(Event.seq == 1)).one()
        assert at == first_at and abs(received_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
        sold = session.execute(select(Sale)).scalar_one()
        assert sold.paid and sold.paid_at is not None and sold.slots == "afternoon"
        problem = session.execute(select(Event.problem).where(Event.seq == 5)).scalar_one()
        assert problem is not None and "slot" in problem
        assert session.execute(select(func.count()).select_from(Event)).scalar_one() == 5


def test_awkward_text_is_stored_exactly(hub_db: HubDatabase) -> None:
    """Backslashes, tabs, newlines and non-ASCII survive the hub's bulk path (COPY text format on PostgreSQL)."""
    awkward = {"uid": "a\\b\tc\nd\re \\N é😀", "note": ["\\", "\t"], "n": None}
    events = [make_event("site-a", "door-1", 1, "enrol", awkward), make_event("site-a", "door-1", 2, "future_kind", {})]
    events[1]["boot"] = "tab\there"
    Ingestor(hub_db, gap_wait_s=0).ingest(batch_of(events))
    with hub_db.read() as session:
        rows = session.execute(select(Event.data, Event.boot).order_by(Event.seq)).all()
    assert rows[0][0] == awkward
    assert rows[1] == ({}, "tab\there")


@pytest.mark.parametrize("hub_db", ["postgresql"], indirect=True)
def test_a_failed_postgresql_transaction_does_not_leave_the_worker_without_its_staging_tables(
    hub_db: HubDatabase,
) -> None:
    """The staging tables a failed batch created are gone with its rollback; the next batch creates them again."""
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    first = make_event("site-a", "door-1", 1)
    ingestor.ingest(batch_of([first]))
    # An id already stored sends door-2's batch through the staging tables, created by this very transaction...
    good = ingestor.prepare(batch_of([{**make_event("site-a", "door-2", 1), "id": first["id"]}]))
    assert good.copy_uses is not None
    broken = dataclasses.replace(good, copy_uses=["not\ta\trow\n"])
    with pytest.raises(psycopg.errors.DataError):  # ...which then fails
        ingestor.commit(broken)
    assert ingestor.commit(good).acked == 1
    ingestor.close()
    assert stored(hub_db) == [("site-a", "door-1", 1)]


def test_a_use_two_doors_both_recorded_counts_once_and_both_streams_move_on(hub_db: HubDatabase) -> None:
    """Two doors of a site, offline from each other, charge the same member for the same half-day."""
    use = {"date": "2026-11-23", "slot": "morning", "spent": 1, "subscription": SUB, "pass": None}
    entry = {"uid": "A1B2C3D4", "holder": MEMBER, "granted": True, "reason": "carnet", "plan": None, "use": use}
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    for device in ("door-1", "door-2"):
        events = [make_event("site-a", device, 1), make_event("site-a", device, 2, "entry", entry)]
        assert ingestor.ingest(batch_of(events)).acked == 2
    assert len(stored(hub_db)) == 4
    with hub_db.read() as session:
        uses = session.execute(select(Use.device_id, Use.holder_id)).all()
    assert [tuple(u) for u in uses] == [("door-1", MEMBER)]


def test_an_event_id_already_stored_is_skipped_and_the_rest_of_the_batch_stored(hub_db: HubDatabase) -> None:
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    first = make_event("site-a", "door-1", 1)
    ingestor.ingest(batch_of([first]))
    reused = {**make_event("site-a", "door-2", 1), "id": first["id"]}
    result = ingestor.ingest(batch_of([reused, make_event("site-a", "door-2", 2)]))
    assert (result.acked, result.stored) == (2, 2)  # the stream moves on past the bad event
    assert sorted(stored(hub_db)) == [("site-a", "door-1", 1), ("site-a", "door-2", 2)]


@pytest.mark.parametrize("hub_db", ["postgresql"], indirect=True)
def test_a_committer_whose_connection_postgresql_cut_stores_the_next_batch_on_a_new_one(hub_db: HubDatabase) -> None:
    """A committer keeps its connection between batches; a database restart must not cost the device a resend."""
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    events = [make_event("site-a", "door-1", s) for s in range(1, 5)]
    assert ingestor.commit(ingestor.prepare(batch_of(events[:2]))).acked == 2
    with hub_db.engine.connect() as other:
        cut = other.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalar_one()
    assert cut >= 1
    assert ingestor.commit(ingestor.prepare(batch_of(events[2:]))).acked == 4
    ingestor.close()
    assert stored(hub_db) == [("site-a", "door-1", s) for s in range(1, 5)]


def test_a_batch_that_expects_the_stream_elsewhere_stores_only_what_extends_it(hub_db: HubDatabase) -> None:
    """The common-case try assumes the batch starts just after the cursor; when it does not, nothing it wrote stays."""
    ingestor = Ingestor(hub_db, gap_wait_s=0)
    events = [make_event("site-a", "door-1", s) for s in range(1, 9)]
    ingestor.ingest(batch_of(events[:4]))
    # Starts two before the cursor: its first two are duplicates, the rest extend the stream.
    assert ingestor.ingest(batch_of(events[2:6])).acked == 6
    # Starts past the cursor: nothing of it is stored.
    assert ingestor.ingest(batch_of(events[7:])).acked == 6
    assert stored(hub_db) == [("site-a", "door-1", s) for s in range(1, 7)]
    with hub_db.read() as session:
        assert session.execute(select(DeviceCursor.seq)).scalar_one() == 6
