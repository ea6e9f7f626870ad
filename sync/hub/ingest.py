"""Exactly-once, in-order ingestion of event batches, safe with several hub workers sharing the load.

Per device, the cursor row holds H, the highest seq such that events 1..H are all stored. A batch is committed
under a lock on that row: events at or below H are duplicates, events H+1, H+2, ... are stored while contiguous,
nothing past a gap is. The caller acks the returned cursor after the commit; the device resends from there.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from sync.hub.db import HubDatabase
from sync.hub.models import Base, Device, DeviceCursor, Event, Sale, Site, Use, utcnow
from sync.payloads import event_data_problem
from sync.protocol import Json

log = logging.getLogger(__name__)

# Shared subscriptions give consecutive batches of one device to different workers; the batch before a gap is
# usually being committed by the other worker at that very moment. Wait this long for it, retrying this often.
GAP_WAIT_S = 0.5
GAP_RETRY_S = 0.002


def insert_ignoring_conflicts(session: Session, model: type[Base]) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect (PostgreSQL or SQLite)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


def insert_rows(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> int:
    """Insert rows (all with the same keys), skipping conflicts; returns how many were new.

    For SQLite, whose executemany is a C loop, and for PostgreSQL's few sales. A PostgreSQL batch of events goes
    through COPY instead (see `Ingestor._commit_postgres`).
    """
    if not rows:
        return 0
    statement = insert_ignoring_conflicts(session, model)
    return int(session.connection().execute(statement, rows).rowcount)


@dataclass(frozen=True)
class IngestResult:
    site: str
    device: str
    acked: int  # the device's cursor after this commit: ack it
    stored: int
    duplicates: int
    beyond_gap: int  # events not committed because an earlier seq is missing


def data_problems(events: list[Json]) -> list[str | None]:
    """For each validated event, why its data does not fit its kind (None when it does); each problem is logged.

    Such an event is still stored (its envelope is sound, and the stream must move on), with the problem beside
    it, and counts for nothing: no use, no sale.
    """
    problems: list[str | None] = []
    for event in events:
        problem = event_data_problem(event["kind"], event["data"])
        if problem is not None:
            log.warning("event %s (%s/%s #%s): %s", event["id"], event["site"], event["device"], event["seq"], problem)
            problem = problem[:300]
        problems.append(problem)
    return problems


def event_time(event: Json) -> dt.datetime:
    """When a validated event happened (its `at`, checked by validate_event), as an aware UTC datetime."""
    return dt.datetime.fromisoformat(event["at"][:-1]).replace(tzinfo=dt.UTC)


def event_row(event: Json, problem: str | None, received_at: dt.datetime) -> dict[str, Any]:
    """The events-table row for a validated event."""
    return {
        "id": event["id"],
        "site_id": event["site"],
        "device_id": event["device"],
        "seq": event["seq"],
        "kind": event["kind"],
        "at": event_time(event),
        "mono_ns": event["mono_ns"],
        "boot": event["boot"],
        "clock_ok": event["clock_ok"],
        "data": event["data"],
        "problem": problem,
        "received_at": received_at,
    }


EVENT_COLUMNS = (
    "id",
    "site_id",
    "device_id",
    "seq",
    "kind",
    "at",
    "mono_ns",
    "boot",
    "clock_ok",
    "data",
    "problem",
    "received_at",
)
USE_COLUMNS = (
    "event_id",
    "holder_id",
    "site_id",
    "device_id",
    "seq",
    "local_date",
    "slot",
    "spent",
    "subscription_id",
    "pass_id",
    "at",
)
_compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _copy_escape(text: str) -> str:
    """Free text for PostgreSQL's COPY text format."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_events(events: list[Json], problems: list[str | None], received_at: dt.datetime) -> bytes:
    """The events-table rows of validated events in COPY text format (columns: EVENT_COLUMNS).

    Written field by field from the event itself: ids, names, kind, seq and time are already known to hold no
    character COPY would need escaped (validate_event), and `at` is already UTC in a form PostgreSQL reads.
    This is the hub's main cost per event on PostgreSQL, so it does no more than that (measured by bench.sync).
    """
    received = received_at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    lines = []
    for event, problem in zip(events, problems, strict=True):
        data = _compact_json(event["data"])
        if "\\" in data:  # JSON escapes control characters itself: only its backslashes need doubling
            data = data.replace("\\", "\\\\")
        boot = _copy_escape(event["boot"])
        clock_ok = "t" if event["clock_ok"] else "f"
        noted = "\\N" if problem is None else _copy_escape(problem)
        lines.append(
            f"{event['id']}\t{event['site']}\t{event['device']}\t{event['seq']}\t{event['kind']}\t{event['at'][:-1]}"
            f"\t{event['mono_ns']}\t{boot}\t{clock_ok}\t{data}\t{noted}\t{received}\n"
        )
    return "".join(lines).encode("utf-8")


def copy_uses(events: list[Json], problems: list[str | None]) -> bytes:
    """The uses-table rows that validated entries report, in COPY text format (columns: USE_COLUMNS)."""
    lines = []
    for event, use, holder in _reported_uses(events, problems):
        subscription, pass_id = use["subscription"] or "\\N", use["pass"] or "\\N"
        lines.append(
            f"{event['id']}\t{holder}\t{event['site']}\t{event['device']}\t{event['seq']}\t{use['date']}"
            f"\t{use['slot']}\t{use['spent']}\t{subscription}\t{pass_id}\t{event['at'][:-1]}\n"
        )
    return "".join(lines).encode("utf-8")


@dataclass(frozen=True)
class Prepared:
    """A validated batch made ready to store: the part of ingestion that needs no lock and no database."""

    site: str
    device: str
    events: list[Json]  # validated, seq increasing
    problems: list[str | None]  # per event, see `data_problems`
    received_at: dt.datetime
    # PostgreSQL only: the rows in COPY format, so that the locked part does no Python work per row.
    copy_events: bytes | None = None
    copy_uses: bytes | None = None


def prepare(batch: Json, *, for_postgres: bool = False) -> Prepared:
    events = batch["events"]
    problems = data_problems(events)
    now = utcnow()
    if not for_postgres:
        return Prepared(batch["site"], batch["device"], events, problems, now)
    return Prepared(
        batch["site"],
        batch["device"],
        events,
        problems,
        now,
        copy_events(events, problems, now),
        copy_uses(events, problems),
    )


class Ingestor:
    """Commits batches for one hub worker; remembers which gaps it already waited on."""

    def __init__(
        self,
        db: HubDatabase,
        *,
        gap_wait_s: float = GAP_WAIT_S,
        gap_retry_s: float = GAP_RETRY_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.gap_wait_s = gap_wait_s
        self.gap_retry_s = gap_retry_s
        self.clock = clock
        self.sleep = sleep
        # (site, device) -> cursor at which we last waited in vain: a lost batch must not make every later batch
        # of the device wait again (a window holds about a hundred of them).
        self._waited_at: dict[tuple[str, str], int] = {}

    def ingest(self, batch: Json) -> IngestResult:
        """Commit what of a validated batch extends its device's contiguous stream; return the new cursor."""
        return self.commit(self.prepare(batch))

    def prepare(self, batch: Json) -> Prepared:
        """The lock-free half of `ingest` (validation already done)."""
        return prepare(batch, for_postgres=self.db.dialect == "postgresql")

    def commit(self, prepared: Prepared) -> IngestResult:
        """The database half of `ingest`, for a batch already turned into rows."""
        site, device, events = prepared.site, prepared.device, prepared.events
        deadline = self.clock() + self.gap_wait_s
        while True:
            result = self._commit(prepared)
            if result.stored or not result.beyond_gap or result.duplicates:
                self._waited_at.pop((site, device), None)
                return result
            if self._waited_at.get((site, device)) == result.acked or self.clock() >= deadline:
                self._waited_at[(site, device)] = result.acked
                log.info("%s/%s: batch from #%s is past a gap at #%s", site, device, events[0]["seq"], result.acked + 1)
                return result
            self.sleep(self.gap_retry_s)

    def _commit(self, prepared: Prepared) -> IngestResult:
        if prepared.copy_events is not None:
            return self._commit_postgres(prepared)
        site, device, events = prepared.site, prepared.device, prepared.events
        with self.db.write() as session:
            cursor = lock_cursor(session, site, device)
            start, end = contiguous_run(events, cursor)
            taken, problems = events[start:end], prepared.problems[start:end]
            if taken:
                rows = [event_row(e, p, prepared.received_at) for e, p in zip(taken, problems, strict=True)]
                _check_inserted(site, device, insert_rows(session, Event, rows), len(taken))
                insert_rows(session, Use, use_rows(taken, problems))
                record_sales(session, taken, problems)
                session.execute(
                    update(DeviceCursor)
                    .where(DeviceCursor.site_id == site, DeviceCursor.device_id == device)
                    .values(seq=taken[-1]["seq"])
                )
        return _result(prepared, cursor, start, end)

    def _commit_postgres(self, prepared: Prepared) -> IngestResult:
        """The same transaction on PostgreSQL, lean: the hub's one serial step per device, so every round trip
        and every line of Python in it counts (bench.sync).

        The rows are COPied into temporary staging tables before the cursor row is locked, so that a worker
        holding a device's lock never waits on another's transfer; then one statement stores the contiguous run
        and moves the cursor.
        """
        assert prepared.copy_events is not None and prepared.copy_uses is not None
        site, device, events = prepared.site, prepared.device, prepared.events
        with self.db.engine.begin() as connection, _forget_staging_on_error(connection):
            raw = connection.connection.driver_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                _stage(connection, cur, "events", EVENT_COLUMNS, prepared.copy_events)
                _stage(connection, cur, "uses", USE_COLUMNS, prepared.copy_uses)
                cur.execute(_LOCK_CURSOR, (site, device))
                found = cur.fetchone()
                cursor = int(found[0]) if found else lock_cursor(Session(bind=connection), site, device)
                start, end = contiguous_run(events, cursor)
                taken, problems = events[start:end], prepared.problems[start:end]
                if taken:
                    first, last = taken[0]["seq"], taken[-1]["seq"]
                    cur.execute(_STORE_STAGED, {"first": first, "last": last, "site": site, "device": device})
                    row = cur.fetchone()
                    _check_inserted(site, device, int(row[0]) if row else 0, len(taken))
                    if any(e["kind"] in SALE_KINDS for e in taken):
                        record_sales(Session(bind=connection), taken, problems)
        return _result(prepared, cursor, start, end)


SALE_KINDS = ("sale", "sale_paid")
_LOCK_CURSOR = "SELECT seq FROM device_cursors WHERE site_id = %s AND device_id = %s FOR UPDATE"
_EVENTS, _USES = ", ".join(EVENT_COLUMNS), ", ".join(USE_COLUMNS)
# Conflicts are skipped: an event id already stored under another (device, seq) is reported by the count, and a
# use another door of the site already recorded for the same holder and half-day is the same use.
_STORE_STAGED = (
    f"WITH stored AS (INSERT INTO events ({_EVENTS}) SELECT {_EVENTS} FROM staging_events"
    " WHERE seq BETWEEN %(first)s AND %(last)s ON CONFLICT DO NOTHING RETURNING 1),"
    f" used AS (INSERT INTO uses ({_USES}) SELECT {_USES} FROM staging_uses"
    " WHERE seq BETWEEN %(first)s AND %(last)s ON CONFLICT DO NOTHING)"
    " UPDATE device_cursors SET seq = %(last)s WHERE site_id = %(site)s AND device_id = %(device)s"
    " RETURNING (SELECT count(*) FROM stored)"
)


def _stage(connection: Connection, cur: Any, table: str, columns: tuple[str, ...], payload: bytes) -> None:
    """COPY rows into this connection's staging table for `table` (created on first use, emptied at commit)."""
    names = ", ".join(columns)
    made: set[str] = connection.info.setdefault("halfday_staging", set())
    if table not in made:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS staging_{table} ON COMMIT DELETE ROWS AS"
            f" SELECT {names} FROM {table} WITH NO DATA"
        )
        made.add(table)
    if not payload:
        return
    with cur.copy(f"COPY staging_{table} ({names}) FROM STDIN") as copy:
        copy.write(payload)


@contextmanager
def _forget_staging_on_error(connection: Connection) -> Iterator[None]:
    # A failed transaction also undoes the staging tables it created: create them again next time.
    try:
        yield
    except BaseException:
        connection.info.pop("halfday_staging", None)
        raise


def contiguous_run(events: list[Json], cursor: int) -> tuple[int, int]:
    """[start, end) of the events that extend a device's stream stored up to `cursor`.

    Events come in increasing seq order (validate_batch): those at or below the cursor are duplicates, then the
    run cursor+1, cursor+2, ... is taken while it has no hole; nothing past a hole is.
    """
    start = 0
    while start < len(events) and events[start]["seq"] <= cursor:
        start += 1
    end = start
    while end < len(events) and events[end]["seq"] == cursor + 1 + end - start:
        end += 1
    return start, end


def _result(prepared: Prepared, cursor: int, start: int, end: int) -> IngestResult:
    acked = prepared.events[end - 1]["seq"] if end > start else cursor
    return IngestResult(prepared.site, prepared.device, acked, end - start, start, len(prepared.events) - end)


def _check_inserted(site: str, device: str, inserted: int, taken: int) -> None:
    if inserted != taken:
        # Only an event id reused under another (device, seq) can get here: keep the stream moving.
        log.error("%s/%s: %d events had ids already stored", site, device, taken - inserted)


def lock_cursor(session: Session, site: str, device: str) -> int:
    """Lock the device's cursor row for this transaction and return it; first contact creates site and device."""
    query = select(DeviceCursor.seq).where(DeviceCursor.site_id == site, DeviceCursor.device_id == device)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    seq = session.execute(query).scalar_one_or_none()
    if seq is None:
        session.execute(insert_ignoring_conflicts(session, Site).values(id=site, name=site))
        session.execute(insert_ignoring_conflicts(session, Device).values(site_id=site, id=device))
        session.execute(insert_ignoring_conflicts(session, DeviceCursor).values(site_id=site, device_id=device, seq=0))
        seq = session.execute(query).scalar_one()
    return int(seq)


def _reported_uses(events: list[Json], problems: list[str | None]) -> Iterator[tuple[Json, Json, str]]:
    """(event, use, holder) for each half-day use that well-formed entries report (one per event at most)."""
    for event, problem in zip(events, problems, strict=True):
        if problem is not None or event["kind"] != "entry":
            continue
        data = event["data"]
        use = data.get("use")
        if use is None:
            continue
        holder = data["holder"] or use["subscription"] or use["pass"]
        if holder is None:
            log.warning("event %s: a use without holder, subscription or pass is not counted", event["id"])
            continue
        yield event, use, holder


def use_rows(events: list[Json], problems: list[str | None]) -> list[dict[str, Any]]:
    """The uses-table rows that validated entries report."""
    return [
        {
            "event_id": event["id"],
            "holder_id": holder,
            "site_id": event["site"],
            "device_id": event["device"],
            "seq": event["seq"],
            "local_date": dt.date.fromisoformat(use["date"]),
            "slot": use["slot"],
            "spent": use["spent"],
            "subscription_id": use["subscription"],
            "pass_id": use["pass"],
            "at": event_time(event),
        }
        for event, use, holder in _reported_uses(events, problems)
    ]


def record_sales(session: Session, events: list[Json], problems: list[str | None]) -> None:
    """Record the sales and payments that newly stored, well-formed events report, in seq order."""
    sales: list[dict[str, Any]] = []
    paid: list[tuple[str, dt.datetime]] = []
    for event, problem in zip(events, problems, strict=True):
        if problem is not None or event["kind"] not in ("sale", "sale_paid"):
            continue
        data, at = event["data"], event_time(event)
        if event["kind"] == "sale":
            sales.append(
                {
                    "id": data["sale"],
                    "site_id": event["site"],
                    "device_id": event["device"],
                    "event_id": event["id"],
                    "kind": data["kind"],
                    "amount_cents": data["amount_cents"],
                    "provider": data["provider"],
                    "paid": data["paid"],
                    "pass_id": data["pass"],
                    "local_date": dt.date.fromisoformat(data["date"]),
                    "slots": ",".join(data["slots"]),
                    "name": data["name"],
                    "email": data["email"],
                    "at": at,
                    "paid_at": at if data["paid"] else None,
                }
            )
        else:
            paid.append((data["sale"], at))
    if sales:
        insert_rows(session, Sale, sales)
    for sale_id, at in paid:
        done = session.execute(
            update(Sale).where(Sale.id == sale_id, Sale.paid.is_(False)).values(paid=True, paid_at=at)
        )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            log.info("sale_paid for %s: no unpaid sale with that id", sale_id)
